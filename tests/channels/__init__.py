"""Channels and the inbound pipeline, driven through the real clients and local fakes."""
