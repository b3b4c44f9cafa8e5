"""AgentChat (seed 001) user accounts: registration, sign-in with JWTs, refresh, sign-out."""
