"""Reading a project: its configuration, its version files (listed, read, cached), names. Reads disk."""
