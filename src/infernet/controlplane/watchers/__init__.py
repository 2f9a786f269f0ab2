"""Background work of a control plane: sweeps, heartbeat flushes, liveness, canaries."""
