"""Inference backends: one module per engine behind the `Backend` protocol in `base`."""
