"""HTTP plumbing with no domain knowledge: the request boundary, admission and rate limits,
conditional GETs, request logs, health probes, cursors and process tuning.

Domain packages may use these; nothing here imports a domain.
"""
