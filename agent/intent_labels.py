"""What a shopper's message can be about: the labels of the training set and the classifier.

The order-support intents (cancel, return, exchange, address change) are here although no tool
acts on them yet: recognising them is what lets the bot answer honestly instead of searching
the catalog. ``agent.routing`` says what each one leads to.
"""

from __future__ import annotations

from enum import StrEnum


class Intent(StrEnum):
    GREETING = "greeting"
    THANKS = "thanks"
    HELP = "help"
    SEARCH = "search"
    REFINE = "refine"  # about the products just shown: "cheaper?", "the second one", "in 42"
    ORDER_STATUS = "order_status"
    CANCEL_ORDER = "cancel_order"
    RETURN_REFUND = "return_refund"
    ORDER_CHANGE = "order_change"  # exchange, size swap, change an order
    ADDRESS_CHANGE = "address_change"
    PROFILE = "profile"
    DISCOUNT = "discount"
    FOLLOW_UP = "follow_up"
    PREFERENCES = "preferences"
    HUMAN = "human"
    INVOICE = "invoice"
    PAYMENT = "payment"
    ACCOUNT = "account"
    NEWSLETTER = "newsletter"
    DELIVERY_OPTIONS = "delivery_options"
    REVIEW = "review"
    COMPLAINT = "complaint"
    AFFIRM = "affirm"
    DENY = "deny"
    CANCEL = "cancel"  # "never mind": drop what was going on
    OUT_OF_SCOPE = "out_of_scope"


ORDER_INTENTS = frozenset(
    {
        Intent.ORDER_STATUS,
        Intent.CANCEL_ORDER,
        Intent.RETURN_REFUND,
        Intent.ORDER_CHANGE,
        Intent.ADDRESS_CHANGE,
    }
)
