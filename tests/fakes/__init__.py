"""Local fake servers speaking the Telegram Bot API and Twilio REST wire formats."""
