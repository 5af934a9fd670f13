"""Vendors submit measurements: strict validation, per-row reasons, history that is never lost."""
