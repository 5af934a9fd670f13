"""Agreements between organisations and municipalities: targets, progress, interpretation."""
