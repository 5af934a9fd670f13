"""The kpi-api command, run as a user runs it: a fresh process per command."""

from __future__ import annotations

import os
import subprocess
import sys


def kpi_api(tmp_path, *args):
    env = os.environ | {"KPI_API_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "kpi_api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_commands_in_fresh_processes(tmp_path):
    assert kpi_api(tmp_path, "migrate").returncode == 0
    first = kpi_api(tmp_path, "load")
    assert first.returncode == 0, first.stderr
    assert "catalogue release 2027.01 loaded" in first.stdout
    again = kpi_api(tmp_path, "load")
    assert "already loaded: no change" in again.stdout and "CBS" not in again.stdout
    for role in ("publisher", "analyst"):
        created = kpi_api(tmp_path, "create-key", "--name", "x", "--role", role)
        assert created.returncode == 0, created.stderr
        assert created.stdout.splitlines()[-1].startswith("kpi_")
    key_id = created.stdout.split()[3]
    revoked = kpi_api(tmp_path, "revoke-key", key_id)
    assert revoked.returncode == 0 and key_id in revoked.stdout
    refused = kpi_api(tmp_path, "create-key", "--name", "v", "--role", "vendor")
    assert refused.returncode == 2 and "vendor" in refused.stderr
    spec = tmp_path / "openapi.json"
    assert kpi_api(tmp_path, "openapi", "--output", str(spec)).returncode == 0
    assert spec.read_text().startswith("{")


def test_the_socket_shared_with_workers_says_it_is_tcp():
    # asyncio turns Nagle's algorithm off only on connections whose socket says IPPROTO_TCP;
    # uvicorn's own socket for workers says 0, and every kept-alive answer then waited ~40 ms.
    import socket

    import uvicorn

    from kpi_api.cli import tcp_socket

    config = uvicorn.Config("kpi_api.main:create_app", factory=True, host="127.0.0.1", port=0)
    bound = config.bind_socket()
    assert bound.proto == 0  # what uvicorn gives (if this changes, tcp_socket can go)
    port = bound.getsockname()[1]
    sock = tcp_socket(bound)
    try:
        assert (sock.family, sock.type, sock.proto) == (
            socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
        )
        assert sock.getsockname()[1] == port and sock.get_inheritable()
        sock.listen()
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP  # so asyncio sets TCP_NODELAY
    finally:
        sock.close()
