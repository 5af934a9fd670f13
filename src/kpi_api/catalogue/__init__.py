"""The versioned KPI catalogue: definitions, versions, releases, code lists and sets."""
