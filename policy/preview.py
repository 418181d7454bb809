"""A program's message for one customer and channel, rendered as it would go out now, without a
decision or a send: what the marketer sees before saving copy, through the same content choice
and rendering as a real send."""

from __future__ import annotations

import random
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.content import NothingToShow, choose_content
from policy.context_loader import load_context
from policy.guardrails import Guardrails
from policy.messages import default_variants
from policy.products import ProductLookup, with_purchase_categories
from policy.rendering import RenderedMessage, render_message
from policy.variants import choose_variant, for_locale
from profile_store.models import Channel, ConsentPurpose, Event

EVENTS = Event.__table__  # type: ignore[attr-defined]
TRANSACTIONAL = frozenset({"reminder", "back_in_stock", "price_drop"})


class PreviewProblem(ValueError):
    """The preview cannot be made as asked; the text says which field is wrong."""


class MessagePreview(BaseModel):
    rendered: RenderedMessage | None
    nothing_to_show: str | None = None
    locale: str


async def preview_message(
    session: AsyncSession,
    *,
    customer_id: str,
    program: str,
    channel: Channel,
    rules: Guardrails,
    lookup: ProductLookup,
    now: datetime,
    variant_id: str | None = None,
    product_ids: list[str] | None = None,
) -> MessagePreview:
    variants = rules.program(program).variants or default_variants(program)
    if variant_id is not None and variant_id not in {v.id for v in variants}:
        known = ", ".join(v.id for v in variants)
        raise PreviewProblem(f"variant: {program!r} has no variant {variant_id!r} ({known})")
    ctx = await load_context(session, customer_id, at=now)
    ctx = (await with_purchase_categories({customer_id: ctx}, lookup))[customer_id]
    products = product_ids or await _latest_products(session, customer_id, program)
    if program in TRANSACTIONAL and not products:
        raise PreviewProblem(f"product_ids: a {program} preview needs the product it is about")
    content = await choose_content(program, ctx, products, {}, lookup, rules, now)
    locale = ctx.locale or rules.brand.default_locale
    if isinstance(content, NothingToShow):
        return MessagePreview(rendered=None, nothing_to_show=content.reason, locale=locale)
    if variant_id is None:
        chosen = for_locale(variants, ctx.locale, rules.brand.default_locale)
        variant_id = choose_variant(program, chosen, {}, random.Random(0)).variant.id
    purpose = ConsentPurpose.TRANSACTIONAL if program in TRANSACTIONAL else ConsentPurpose.MARKETING
    rendered = render_message(content, variant_id, ctx, channel, purpose, rules)
    return MessagePreview(rendered=rendered, locale=locale)


async def _latest_products(session: AsyncSession, customer_id: str, program: str) -> list[str]:
    """What the program would be about for this customer now: the last product viewed, or the
    last order's items (a cart reminder reads the open cart itself)."""
    kinds = {"browse_abandoned": "product_viewed", "post_purchase": "order_completed"}
    if program not in kinds:
        return []
    conn = await session.connection()
    properties = await conn.scalar(
        select(EVENTS.c.properties)
        .where(EVENTS.c.customer_id == customer_id, EVENTS.c.type == kinds[program])
        .order_by(EVENTS.c.occurred_at.desc())
        .limit(1)
    )
    if not properties:
        return []
    if program == "browse_abandoned":
        return [str(properties["product_id"])] if properties.get("product_id") else []
    return [str(item["product_id"]) for item in properties.get("items", []) if "product_id" in item]
