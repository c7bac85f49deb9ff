"""Small helpers every stage may use: safe file reading, URL masking, signals, owners of leftovers."""
