"""Who may submit for whom: organisations, vendors and their authorisations."""
