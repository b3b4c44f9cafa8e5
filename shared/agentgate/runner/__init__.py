"""The agent runner: prompt assembly, memory, providers; emits neutral events (runner.events)."""
