"""Client-side helpers for the Infernet API (what an SDK would hold)."""
