"""Geography reference data: CBS provinces, municipalities and their history."""
