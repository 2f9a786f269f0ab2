"""A job's life: routing, dispatch, relay, failover and takeover (see manager.py)."""
