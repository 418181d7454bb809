"""Telegram Bot API through aiogram 3: webhook updates in, Bot API calls out."""
