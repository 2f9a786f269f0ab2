"""The node daemon: config, hardware, heartbeats, job channel, job and command execution."""
