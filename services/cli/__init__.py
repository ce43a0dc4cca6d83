"""The `insight-invest` command: run a service, migrate, seed, send a command, or start the local stack."""
