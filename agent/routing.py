"""Where each intent leads: one table, so pointing an intent at a new tool is one line.

The order-support intents propose the change (``request_order_change``, which checks the
shop's policy and waits for the shopper's yes; ``confirm_order_change`` then carries it out).
Intents with no tool at all (invoices,
payments, accounts, ...) get an honest answer and the offer of a person, never a search.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.intent_labels import Intent


@dataclass(frozen=True)
class Route:
    tool: str | None = None
    # For what no tool does: the topic named in the honest answer; a person is offered.
    topic: str | None = None


ROUTES: dict[Intent, Route] = {
    Intent.GREETING: Route(),
    Intent.THANKS: Route(),
    Intent.HELP: Route(),
    Intent.SEARCH: Route("search_products"),
    Intent.REFINE: Route("search_products"),
    Intent.ORDER_STATUS: Route("get_order_status"),
    Intent.CANCEL_ORDER: Route("request_order_change", topic="cancelling an order"),
    Intent.RETURN_REFUND: Route("request_order_change", topic="returns and refunds"),
    Intent.ORDER_CHANGE: Route("request_order_change", topic="exchanges and changes to an order"),
    Intent.ADDRESS_CHANGE: Route("request_order_change", topic="changing a delivery address"),
    Intent.PROFILE: Route("get_profile"),
    Intent.DISCOUNT: Route("offer_discount"),
    Intent.FOLLOW_UP: Route("schedule_follow_up"),
    Intent.PREFERENCES: Route("update_preferences"),
    Intent.HUMAN: Route("handoff_to_human"),
    Intent.INVOICE: Route(topic="invoices and receipts"),
    Intent.PAYMENT: Route(topic="payments"),
    Intent.ACCOUNT: Route(topic="accounts, logins and passwords"),
    Intent.NEWSLETTER: Route(topic="newsletter subscriptions"),
    Intent.DELIVERY_OPTIONS: Route(topic="delivery options and costs"),
    Intent.REVIEW: Route(topic="product reviews"),
    Intent.COMPLAINT: Route(topic="complaints"),
    Intent.AFFIRM: Route(),
    Intent.DENY: Route(),
    Intent.CANCEL: Route(),
    Intent.OUT_OF_SCOPE: Route(),
}

# How a clarifying question names an intent: "do you want to <this>?".
DESCRIPTIONS: dict[Intent, str] = {
    Intent.SEARCH: "find a product",
    Intent.REFINE: "change the products I showed you",
    Intent.ORDER_STATUS: "check an order",
    Intent.CANCEL_ORDER: "cancel an order",
    Intent.RETURN_REFUND: "return something or get a refund",
    Intent.ORDER_CHANGE: "change or exchange an order",
    Intent.ADDRESS_CHANGE: "change a delivery address",
    Intent.PROFILE: "see your cart or past orders",
    Intent.DISCOUNT: "ask about a discount",
    Intent.FOLLOW_UP: "get a reminder or an alert",
    Intent.PREFERENCES: "change how we contact you",
    Intent.HUMAN: "talk to a person",
    Intent.HELP: "know what I can do",
}
