"""The `infernet` command line."""
