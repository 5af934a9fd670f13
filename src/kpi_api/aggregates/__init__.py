"""Aggregates: national, provincial and municipal figures per KPI and period, privacy built in."""
