"""The dry-run: a throwaway PostgreSQL, the project's own env.py run one step at a time, every downgrade proved."""
