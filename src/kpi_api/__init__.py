"""kpi-api: the national data backbone for the Sociaal Werk Nederland KPI model."""

__version__ = "0.1.0"
