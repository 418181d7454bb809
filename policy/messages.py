"""The words of each automated program, per trigger. Plain text: channels format it."""

from __future__ import annotations

TEXTS = {
    "cart_abandoned": "Still thinking it over? Your cart is saved, ready when you are.",
    "browse_abandoned": "That caught your eye earlier. Want a hand choosing, or alternatives?",
    "post_purchase": "Thanks for your order! Here are a few things that go well with it.",
    "win_back": "It has been a while. Here is what is new since your last visit.",
    "reminder": "Here is the reminder you asked for.",
    "back_in_stock": "Good news: what you asked about is back in stock.",
    "price_drop": "Good news: the price you were waiting for is here.",
}


def program_text(program: str, note: str = "") -> str:
    """The program's words; a shopper's own note for a requested follow-up is added after them."""
    text = TEXTS.get(program, "We have something for you.")
    return f"{text} {note}" if note else text
