"""Durable outbound scheduling: sends stored with an idempotency key, re-checked when due."""
