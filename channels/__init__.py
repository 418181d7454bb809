"""Provider adapters (Telegram, Twilio SMS, Twilio WhatsApp): verify, parse, format, send."""
