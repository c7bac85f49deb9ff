"""Everything that reads a deployed database (read-only)."""
