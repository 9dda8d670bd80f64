"""What the code location uses that is not a definition (Dagster home, helpers)."""
