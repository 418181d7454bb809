"""Local stand-ins for the Telegram Bot API and Twilio's REST API, speaking their wire formats."""
