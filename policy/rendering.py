"""An automated message's words, from its content, its copy variant and the shopper.

Rendered when the send goes out (and for the marketer's preview, through the same function), so
the copy is the live version's and the shopper's name and cart are as they are then. Marketing
SMS starts with the brand's name and ends with the opt-out line of the shopper's locale, which
the SMS formatter keeps whole within the segment budget.
"""

from __future__ import annotations

import structlog
from pydantic import BaseModel

from policy.content import ContentProduct, MessageContent
from policy.context import CustomerContext
from policy.guardrails import Guardrails
from policy.message_copy import MessageVariant
from policy.messages import default_variants
from policy.templates import TemplateContext, TemplateProduct, money, render
from profile_store.models import Channel, ConsentPurpose

log = structlog.get_logger(__name__)


class RenderedMessage(BaseModel):
    text: str
    products: list[ContentProduct]
    footer: str = ""
    variant: str
    values: dict[str, str] = {}  # for WhatsApp template variables


def variant_of(rules: Guardrails, program: str, variant_id: str | None) -> MessageVariant:
    """The variant decided on; if the marketer removed it since, the program's first one."""
    variants = rules.program(program).variants or default_variants(program)
    return next((v for v in variants if v.id == variant_id), variants[0])


def render_message(
    content: MessageContent,
    variant_id: str | None,
    ctx: CustomerContext,
    channel: Channel,
    purpose: ConsentPurpose,
    rules: Guardrails,
    *,
    discount_code: str | None = None,
    discount_percent: float | None = None,
) -> RenderedMessage:
    variant = variant_of(rules, content.program, variant_id)
    context = template_context(content, ctx, rules, discount_code, discount_percent)
    try:
        text = render(variant.text, context)
    except Exception:  # checked on save; a template that still fails falls back, logged
        log.exception("copy.render_failed", program=content.program, variant=variant.id)
        variant = default_variants(content.program)[0]
        text = render(variant.text, context)
    footer = ""
    if channel is Channel.SMS and purpose is ConsentPurpose.MARKETING:
        text = f"{rules.brand.name}: {text}"
        footer = sms_footer(rules, ctx.locale)
    first = content.products[0] if content.products else None
    values = {
        "text": text,
        "program": content.program,
        "first_name": ctx.first_name or "",
        "product_name": first.name if first else "",
        "product_url": (first.url or "") if first else "",
        "cart_total": context.cart_total or "",
        "discount_code": discount_code or "",
    }
    return RenderedMessage(
        text=text, products=content.products, footer=footer, variant=variant.id, values=values
    )


def template_context(
    content: MessageContent,
    ctx: CustomerContext,
    rules: Guardrails,
    discount_code: str | None = None,
    discount_percent: float | None = None,
) -> TemplateContext:
    products = [
        TemplateProduct(
            name=p.name,
            variant=p.variant,
            price=p.price,
            was_price=p.was_price,
            currency=p.currency,
            url=p.url,
            quantity=p.quantity,
        )
        for p in content.products
    ]
    return TemplateContext(
        first_name=ctx.first_name,
        shop_name=rules.brand.name,
        products=products,
        product=products[0] if products else None,
        cart_total=money(content.cart_total, content.currency) or None,
        discount_code=discount_code,
        discount_percent=discount_percent if discount_code else None,
        size=content.size,
        note=content.note,
    )


def sms_footer(rules: Guardrails, locale: str | None) -> str:
    lines = rules.footers.sms
    wanted = (locale or rules.brand.default_locale).lower()
    for key in (wanted, wanted.split("-")[0], rules.brand.default_locale.lower()):
        for candidate, line in lines.items():
            if candidate.lower() == key:
                return line
    return next(iter(lines.values()), "Reply STOP to opt out.")
