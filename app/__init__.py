"""The FastAPI app, CLI, settings and wiring: the only layer that may import every other."""
