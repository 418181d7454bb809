"""The built-in copy of each program, for a program whose guardrails give no variants of its own.

Templates like the marketer's (:mod:`policy.templates`), so the built-in copy names the
products too; plain text, which each channel formats and escapes itself.
"""

from __future__ import annotations

from policy.message_copy import MessageVariant

DEFAULT_ID = "default"
OFFER = (
    "{% if discount_code %} Use code {{ discount_code }} for {{ discount_percent|round|int }}% "
    "off.{% endif %}"
)
_TEXTS = {
    "cart_abandoned": (
        "{% if first_name %}{{ first_name }}, your{% else %}Your{% endif %} cart is saved: "
        "{{ products|map(attribute='name')|join(', ') }}"
        "{% if cart_total %} ({{ cart_total }}){% endif %}. Ready when you are." + OFFER
    ),
    "browse_abandoned": (
        "Still thinking about {{ product.name }}? Here it is again"
        "{% if products|length > 1 %}, with a couple of alternatives in stock{% endif %}." + OFFER
    ),
    "post_purchase": (
        "Thanks for your order{% if first_name %}, {{ first_name }}{% endif %}!"
        + OFFER
        + " These go well with it:"
    ),
    "win_back": (
        "It has been a while{% if first_name %}, {{ first_name }}{% endif %}."
        + OFFER
        + " New since your last visit:"
    ),
    "reminder": (
        "Here is the reminder you asked for{% if products %}: "
        "{{ products|map(attribute='name')|join(', ') }}{% endif %}. {{ note }}"
    ),
    "back_in_stock": (
        "Good news: {{ product.name }}{% if size %} in {{ size }}{% endif %} is back in stock."
    ),
    "price_drop": (
        "Good news: {{ product.name }} "
        "{% if product.price is not none %}is now {{ product.price|money(product.currency) }}"
        "{% if product.was_price %} (was {{ product.was_price|money }}){% endif %}"
        "{% else %}has a new price{% endif %}."
    ),
}
PROGRAMS = tuple(_TEXTS)
FALLBACK = "We have something for you{% if products %}: {{ product.name }}{% endif %}."


def default_variants(program: str) -> list[MessageVariant]:
    return [MessageVariant(id=DEFAULT_ID, text=_TEXTS.get(program, FALLBACK))]
