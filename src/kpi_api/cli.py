"""The ``kpi-api`` command: serve, migrate, load the catalogue, manage keys, export OpenAPI."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from kpi_api import migrate
from kpi_api.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _session() -> AbstractContextManager[Session]:
    import kpi_api.models  # noqa: F401 - every table, so foreign keys resolve
    from kpi_api.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(get_settings().database_url)).begin()


def cmd_migrate(_: argparse.Namespace) -> int:
    """Upgrade the database to the latest migration; exit status 0."""
    migrate.upgrade(get_settings().database_url)
    print(f"database at migration {migrate.head_revision()}")
    return 0


def cmd_load(_: argparse.Namespace) -> int:
    """Load the CBS reference geography and the SWN catalogue (idempotent); exit status 0, or 1 when
    a data file is invalid (``LoaderError``)."""
    from kpi_api.catalogue.loader import LoaderError, load
    from kpi_api.reference.loader import load as load_reference

    try:
        with _session() as session:
            geography = load_reference(session)
            report = load(session)
    except LoaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if geography.changed:
        changes = ", ".join(f"{k}={v}" for k, v in sorted(geography.changes.items()))
        print(f"CBS reference data loaded: {changes}")
    if report.changed:
        changes = ", ".join(f"{k}={v}" for k, v in sorted(report.changes.items()) if v)
        print(f"catalogue release {report.release} loaded: {changes}")
    else:
        print(f"catalogue release {report.release} already loaded: no change")
    return 0


def cmd_create_key(args: argparse.Namespace) -> int:
    """Create an API key and print its secret once; exit status 0, or 2 for flags that do not fit
    the role (and, for a municipality or organisation key, codes that do not exist)."""
    from kpi_api.auth import Role, create_key

    role = Role(args.role)
    if role in (Role.municipality, Role.organisation):
        return _create_party_key(args, role)
    if args.municipality or args.organisation:
        print("error: --municipality and --organisation are for those roles", file=sys.stderr)
        return 2
    with _session() as session:
        key, raw = create_key(session, name=args.name, role=role, vendor_id=args.vendor_id)
        key_id = key.id
    print(f"created {args.role} key {key_id} for {args.name!r}; store it now, it is shown once:")
    print(raw)
    return 0


def _create_party_key(args: argparse.Namespace, role: object) -> int:
    """A municipality or organisation key, checked as the API checks it (the codes exist; an
    organisation key gets its organisation's own registration to submit through)."""
    from kpi_api.errors import KpiApiError
    from kpi_api.registry import service as registry
    from kpi_api.registry.schemas import ApiKeyCreate

    try:
        data = ApiKeyCreate.model_validate(
            {
                "name": args.name,
                "role": role,
                "organisation": args.organisation,
                "municipalities": args.municipality or None,
            }
        )
        with _session() as session:
            created = registry.issue_key(session, data=data)
    except KpiApiError as exc:
        detail = "; ".join(f"{e.pointer}: {e.message}" for e in exc.errors or [])
        print(f"error: {exc.detail}{' ' + detail if detail else ''}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"error: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    scope = args.organisation or ", ".join(args.municipality)
    print(
        f"created {args.role} key {created.id} for {args.name!r} ({scope}); store it now, "
        "it is shown once:"
    )
    print(created.key)
    return 0


def cmd_revoke_key(args: argparse.Namespace) -> int:
    """Revoke a key at once; exit status 0. Raises NotFound (``api_key_not_found``) for an unknown
    id."""
    from kpi_api.auth import revoke_key

    with _session() as session:
        revoke_key(session, key_id=args.key_id)
    print(f"revoked key {args.key_id}")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    """Write the OpenAPI document to ``--output`` (``-``: stdout); exit status 0."""
    from kpi_api.openapi import render

    text = render()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Migrate and load (unless told not to), then serve with uvicorn in ``--workers`` processes;
    exit status 0, or ``cmd_load``'s 1."""
    import uvicorn

    from kpi_api.web.observability import log_config

    # One cursor-signing key for the parent's workers, unless the operator set one.
    os.environ.setdefault("KPI_API_SECRET_KEY", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    settings = get_settings()
    if not args.no_migrate:
        cmd_migrate(args)
    if not args.no_load:
        code = cmd_load(args)
        if code:
            return code
    config = uvicorn.Config(
        "kpi_api.main:create_app",
        factory=True,
        # Applied by every worker process, not only here (see observability.log_config).
        log_config=log_config(settings.log_level),
        access_log=False,  # kpi_api.access logs each request, without query strings or keys
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        workers=args.workers,
        # uvicorn replaces a worker that does not answer its supervisor's ping within 5 s; a
        # worker busy with a burst on a loaded machine missed it and was killed mid-request
        # (its clients' connections reset). A hung worker is still replaced, after 30 s.
        timeout_worker_healthcheck=30,
    )
    if config.workers > 1:
        # As uvicorn.run does for workers, but on a socket that says it is TCP (see tcp_socket).
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[tcp_socket(config.bind_socket())]).run()
    else:
        uvicorn.Server(config).run()
    return 0


def tcp_socket(sock: socket.socket) -> socket.socket:
    """The same listening socket, with its protocol read from the kernel.

    uvicorn binds the socket it shares with its workers as protocol 0; asyncio then leaves
    Nagle's algorithm on for every connection accepted on it (it only sets TCP_NODELAY when the
    protocol reads IPPROTO_TCP), and each answer on a kept-alive connection waited ~40 ms for
    the client's delayed ACK between its header and body segments. Re-wrapping the descriptor
    lets Python read the protocol (TCP) from the kernel.
    """
    out = socket.socket(fileno=sock.detach())
    out.set_inheritable(True)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``kpi-api`` parser: one sub-command each, its function in ``func``."""
    parser = argparse.ArgumentParser(prog="kpi-api", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, load the catalogue and start the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", action="store_true", help="skip migrations")
    serve.add_argument("--no-load", action="store_true", help="skip loading the catalogue")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="upgrade the database to the latest migration").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser(
        "load", help="load the canonical SWN catalogue and CBS reference data (idempotent)"
    ).set_defaults(func=cmd_load)

    key = sub.add_parser("create-key", help="create an API key and print it once")
    key.add_argument("--name", required=True, help="who holds the key")
    key.add_argument(
        "--role",
        required=True,
        choices=["publisher", "vendor", "analyst", "municipality", "organisation"],
    )
    key.add_argument("--vendor-id", help="the vendor a vendor key acts for")
    key.add_argument(
        "--municipality",
        action="append",
        metavar="GM0363",
        help="a municipality a municipality key speaks for (repeat for more)",
    )
    key.add_argument("--organisation", help="the organisation (code) an organisation key acts for")
    key.set_defaults(func=cmd_create_key)

    revoke = sub.add_parser("revoke-key", help="revoke an API key at once")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_revoke_key)

    spec = sub.add_parser("openapi", help="write the OpenAPI document")
    spec.add_argument("--output", default="openapi/openapi.json")
    spec.set_defaults(func=cmd_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; return its exit status, or 2 after printing a ``ValueError`` (no
    traceback)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
