"""Nodes: the live registry, node auth, heartbeats, registration and per-replica caches."""
