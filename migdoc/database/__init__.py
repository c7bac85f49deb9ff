"""The deployed database: read only, and where it stands against the chain."""
