"""What an automated message shows: the products each program is about, chosen with the decision.

- cart abandoned: the cart's products, most recently changed first, and the cart total;
- browse abandoned: the product viewed, and two close alternatives in stock;
- post-purchase: two or three complements (similar to what was bought, of its brand, or in the
  shopper's favourite categories), in stock, never what was bought nor anything the purchase
  suppression covers;
- back in stock: the product, in the size asked for; price drop: the product, old and new price;
- win-back: the newest arrivals in the shopper's favourite categories;
- a reminder: the products it is about, if any.

A message that has nothing left to show (an emptied cart, every suggestion suppressed) is not
sent: the decision says why. At send time :func:`still_showable` checks the products again
against the world as it is then (a cart emptied since, a product bought since).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from policy.context import CustomerContext
from policy.guardrails import Guardrails
from policy.products import ProductFacts, ProductLookup, category_key

MAX_PRODUCTS = 3
# Programs whose products are the point: with none left, nothing is sent.
NEEDS_PRODUCTS = frozenset(
    {
        "cart_abandoned",
        "browse_abandoned",
        "post_purchase",
        "win_back",
        "back_in_stock",
        "price_drop",
    }
)


class ContentProduct(BaseModel):
    product_id: str
    name: str
    variant: str | None = None
    price: float | None = None
    was_price: float | None = None
    currency: str | None = None
    url: str | None = None
    image_url: str | None = None
    quantity: int = 1


class MessageContent(BaseModel):
    """What the message is about, stored with the send; the copy is rendered from it."""

    program: str
    products: list[ContentProduct] = Field(default_factory=list)
    cart_total: float | None = None
    currency: str | None = None
    size: str | None = None
    note: str = ""


class NothingToShow(BaseModel):
    reason: str


async def choose_content(
    program: str,
    ctx: CustomerContext,
    trigger_products: Sequence[str],
    details: dict[str, Any],
    lookup: ProductLookup,
    rules: Guardrails,
    now: datetime,
) -> MessageContent | NothingToShow:
    note = str(details.get("note") or "")
    if program == "cart_abandoned":
        return await _cart(ctx, trigger_products, lookup)
    excluded = _suppressed_ids(ctx, rules, now)
    if program == "browse_abandoned":
        return await _browsed(ctx, trigger_products, lookup, rules, now, excluded)
    if program == "post_purchase":
        return await _complements(ctx, trigger_products, lookup, rules, now, excluded)
    if program == "win_back":
        return await _new_arrivals(ctx, lookup, rules, now, excluded)
    size = details.get("size")
    facts = await lookup.facts(list(trigger_products))
    products = [
        _product(facts.get(pid), pid, variant=str(size) if size else None)
        for pid in trigger_products
    ][:MAX_PRODUCTS]
    if program == "price_drop":
        asked_at = details.get("price_at_request")
        products = [
            p.model_copy(update={"was_price": asked_at})
            if isinstance(asked_at, int | float) and p.price is not None and asked_at > p.price
            else p
            for p in products
        ]
    if program in NEEDS_PRODUCTS and not products:
        return NothingToShow(reason=f"{program} has no product to show")
    return MessageContent(
        program=program, products=products, size=str(size) if size else None, note=note
    )


def still_showable(
    content: MessageContent, ctx: CustomerContext, rules: Guardrails, now: datetime
) -> MessageContent | NothingToShow:
    """The content with what no longer fits the world taken out: for a cart reminder, the
    lines still in the cart (and the new total); for the rest, what was not bought since."""
    if content.program == "cart_abandoned":
        in_cart = {line.product_id: line for line in ctx.cart}
        kept = [p for p in content.products if p.product_id in in_cart]
        if not kept:
            return NothingToShow(reason="the cart was emptied before the reminder went out")
        total, currency = _cart_total(ctx)
        return content.model_copy(
            update={"products": kept, "cart_total": total, "currency": currency}
        )
    if content.program == "reminder":
        return content  # a service message the shopper asked for, whatever they bought since
    bought = _suppressed_ids(ctx, rules, now)
    kept = [p for p in content.products if p.product_id not in bought]
    if content.program in NEEDS_PRODUCTS and not kept:
        return NothingToShow(reason="everything the message showed was bought since")
    return content.model_copy(update={"products": kept})


async def _cart(
    ctx: CustomerContext, trigger_products: Sequence[str], lookup: ProductLookup
) -> MessageContent | NothingToShow:
    if not ctx.cart:
        return NothingToShow(reason="the cart is empty")
    # The products this reminder was armed for first, then the rest of the cart.
    wanted = set(trigger_products)
    lines = sorted(ctx.cart, key=lambda line: line.product_id not in wanted)[:MAX_PRODUCTS]
    facts = await lookup.facts([line.product_id for line in lines])
    products = [
        _product(facts.get(line.product_id), line.product_id, quantity=line.quantity).model_copy(
            update={
                "price": line.price if line.price is not None else _price(facts, line.product_id),
                "currency": line.currency or _currency(facts, line.product_id),
            }
        )
        for line in lines
    ]
    total, currency = _cart_total(ctx)
    return MessageContent(
        program="cart_abandoned", products=products, cart_total=total, currency=currency
    )


async def _browsed(
    ctx: CustomerContext,
    trigger_products: Sequence[str],
    lookup: ProductLookup,
    rules: Guardrails,
    now: datetime,
    excluded: set[str],
) -> MessageContent | NothingToShow:
    viewed = [pid for pid in reversed(trigger_products) if pid not in excluded][:1]
    if not viewed:
        return NothingToShow(reason="what was viewed has been bought since")
    facts = await lookup.facts(viewed)
    products = [_product(facts.get(viewed[0]), viewed[0])]
    blocked_categories = _suppressed_categories(ctx, rules, now)
    alternatives = await lookup.similar(
        viewed[0], limit=MAX_PRODUCTS + 3, exclude=sorted(excluded | set(viewed))
    )
    products += [
        _product(alt, alt.product_id)
        for alt in alternatives
        if alt.in_stock and alt.category not in blocked_categories
    ][: MAX_PRODUCTS - 1]
    return MessageContent(program="browse_abandoned", products=products)


async def _complements(
    ctx: CustomerContext,
    bought: Sequence[str],
    lookup: ProductLookup,
    rules: Guardrails,
    now: datetime,
    excluded: set[str],
) -> MessageContent | NothingToShow:
    """Things that go with the purchase: of its brand, like it, or in the shopper's favourite
    categories, taken from other categories than what was bought first (a second coat right
    after a coat is no complement), and from the same ones only if nothing else is in stock."""
    never = excluded | set(bought)
    blocked_categories = _suppressed_categories(ctx, rules, now)
    facts = await lookup.facts(list(bought))
    bought_categories = {f.category for f in facts.values() if f.category}
    brands = sorted({f.brand for f in facts.values() if f.brand})
    pools: list[list[ProductFacts]] = []
    if brands:
        pools.append(await lookup.browse(brands=brands, limit=10, exclude=sorted(never)))
    for product_id in bought:
        pools.append(await lookup.similar(product_id, limit=10, exclude=sorted(never)))
    favourites = [c for c in _favourite_categories(ctx, top=3) if c not in bought_categories]
    if favourites:
        pools.append(await lookup.browse(categories=favourites, limit=10, exclude=sorted(never)))
    candidates: dict[str, ProductFacts] = {}
    for pool in pools:
        for found in pool:
            if found.product_id not in never and found.in_stock:
                candidates.setdefault(found.product_id, found)
    allowed = [f for f in candidates.values() if f.category not in blocked_categories]
    elsewhere = [f for f in allowed if f.category not in bought_categories]
    alike = [f for f in allowed if f.category in bought_categories]
    chosen = [_product(f, f.product_id) for f in [*elsewhere, *alike]][:MAX_PRODUCTS]
    if len(chosen) < 2:
        return NothingToShow(reason="no complement in stock that the purchase does not cover")
    return MessageContent(program="post_purchase", products=chosen)


async def _new_arrivals(
    ctx: CustomerContext,
    lookup: ProductLookup,
    rules: Guardrails,
    now: datetime,
    excluded: set[str],
) -> MessageContent | NothingToShow:
    blocked_categories = _suppressed_categories(ctx, rules, now)
    newest = await lookup.browse(
        categories=_favourite_categories(ctx),
        limit=MAX_PRODUCTS + 3,
        exclude=sorted(excluded | {p.product_id for p in ctx.purchases}),
        newest_first=True,
    )
    chosen = [_product(f, f.product_id) for f in newest if f.category not in blocked_categories]
    if not chosen:
        return NothingToShow(reason="no new arrival to show")
    return MessageContent(program="win_back", products=chosen[:MAX_PRODUCTS])


def _favourite_categories(ctx: CustomerContext, top: int = 2) -> list[str]:
    ranked = sorted(ctx.category_affinity.items(), key=lambda item: -item[1])
    return [name for name, _ in ranked[:top]]


def _suppressed_ids(ctx: CustomerContext, rules: Guardrails, now: datetime) -> set[str]:
    return {p.product_id for p in ctx.recent_purchases(rules.purchase_suppression.days, now)}


def _suppressed_categories(ctx: CustomerContext, rules: Guardrails, now: datetime) -> set[str]:
    if rules.purchase_suppression.scope != "category":
        return set()
    recent = ctx.recent_purchases(rules.purchase_suppression.days, now)
    return {key for p in recent if (key := category_key(p.category))}


def _cart_total(ctx: CustomerContext) -> tuple[float | None, str | None]:
    currencies = {line.currency for line in ctx.cart if line.currency}
    if len(currencies) > 1 or any(line.price is None for line in ctx.cart):
        return None, None
    total = round(sum(line.quantity * (line.price or 0.0) for line in ctx.cart), 2)
    return total, currencies.pop() if currencies else None


def _price(facts: dict[str, ProductFacts], product_id: str) -> float | None:
    found = facts.get(product_id)
    return found.price if found else None


def _currency(facts: dict[str, ProductFacts], product_id: str) -> str | None:
    found = facts.get(product_id)
    return found.currency if found else None


def _product(
    facts: ProductFacts | None, product_id: str, *, variant: str | None = None, quantity: int = 1
) -> ContentProduct:
    """A product as the message shows it; one the catalog does not know shows by its id."""
    if facts is None:
        return ContentProduct(product_id=product_id, name=product_id, variant=variant)
    return ContentProduct(
        product_id=product_id,
        name=facts.name or product_id,
        variant=variant,
        price=facts.price,
        was_price=facts.was_price
        if facts.was_price and facts.price and facts.was_price > facts.price
        else None,
        currency=facts.currency,
        url=facts.url,
        image_url=facts.image_url,
        quantity=quantity,
    )
