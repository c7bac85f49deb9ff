"""Each command's whole flow as one call: options in, rendered report and exit code out."""
