"""The control plane: node registry, router, job lifecycle, client APIs, ledger, dashboard."""
