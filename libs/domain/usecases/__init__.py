"""Use cases: one unit, one entry point; they take ports, never adapters."""
