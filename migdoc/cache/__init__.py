"""The caches' files and the result cache of ``check``. Reads and writes the cache folder."""
