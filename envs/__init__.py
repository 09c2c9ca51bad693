"""Game adapters and built-in game registrations (installed as arena.envs)."""
