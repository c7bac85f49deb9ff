"""The revision graph and what can be told from it without a database: its walks and the static replay of ``op.*`` calls."""
