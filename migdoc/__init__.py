"""migdoc: a doctor for Alembic migration chains."""

__version__ = "0.1.0"
