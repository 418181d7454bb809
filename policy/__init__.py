"""Guardrails (what marketers configure), the eligibility engine, next-best-action, triggers."""
