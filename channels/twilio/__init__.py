"""Twilio Programmable Messaging: SMS and WhatsApp share the webhook format and the REST API."""
