"""Per-API-key request limits: fixed windows in memory, or in Redis across replicas."""
