"""Admin API: a program's message for a customer and channel, as it would go out now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from app.deps import ContainerDep, Marketer
from app.routers.decisions import resolve_customer_id
from channels.messages import ChannelName, OutboundMessage, ProductCard
from channels.preview import formatted_parts, sms_segment_count
from policy.preview import PreviewProblem, preview_message
from profile_store import clock
from profile_store.models import Channel

router = APIRouter(prefix="/admin/v1", tags=["admin"])


class PreviewRequest(BaseModel):
    program: str = Field(description="cart_abandoned, post_purchase, win_back, …")
    customer: str = Field(description="customer id, phone, email or kind:value")
    channel: Channel
    variant: str | None = Field(default=None, description="default: the one the shopper gets")
    product_ids: list[str] = Field(
        default_factory=list,
        max_length=5,
        description="what the message is about (default: the customer's cart, last view or "
        "last order)",
    )


class PreviewResponse(BaseModel):
    program: str
    channel: Channel
    variant: str | None
    locale: str
    text: str
    footer: str
    cards: list[ProductCard]
    parts: list[str] = Field(description="each provider message, formatted for the channel")
    sms_segments: int | None = None
    nothing_to_show: str | None = Field(
        default=None, description="why this message would not be sent now"
    )


def preview_cards(products: list[Any]) -> list[ProductCard]:
    return [
        ProductCard(
            id=p.product_id,
            name=p.name,
            price=p.price,
            currency=p.currency,
            url=p.url,
            image_url=p.image_url,
            variant=p.variant,
            was_price=p.was_price,
        )
        for p in products
    ]


async def render_preview(container: Any, body: PreviewRequest) -> PreviewResponse:
    """Shared by the API and the console's guardrails page."""
    if body.channel.value not in ChannelName.__members__.values():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "channel: not a chat channel")
    customer_id = await resolve_customer_id(container, body.customer)
    async with container.readers() as session:
        try:
            preview = await preview_message(
                session,
                customer_id=customer_id,
                program=body.program,
                channel=body.channel,
                rules=container.guardrails,
                lookup=container.product_lookup,
                now=clock.now(),
                variant_id=body.variant,
                product_ids=body.product_ids or None,
            )
        except PreviewProblem as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if preview.rendered is None:
        return PreviewResponse(
            program=body.program,
            channel=body.channel,
            locale=preview.locale,
            variant=None,
            text="",
            footer="",
            cards=[],
            parts=[],
            nothing_to_show=preview.nothing_to_show,
        )
    rendered = preview.rendered
    cards = preview_cards(rendered.products)
    message = OutboundMessage(
        channel=ChannelName(body.channel.value),
        address="preview",
        idempotency_key="preview",
        text=rendered.text,
        cards=cards,
        footer=rendered.footer,
    )
    parts = formatted_parts(message, container.settings.sms_max_segments)
    return PreviewResponse(
        program=body.program,
        channel=body.channel,
        locale=preview.locale,
        variant=rendered.variant,
        text=rendered.text,
        footer=rendered.footer,
        cards=cards,
        parts=parts,
        sms_segments=sms_segment_count(parts[0]) if body.channel is Channel.SMS else None,
    )


@router.post(
    "/messages/preview",
    response_model=PreviewResponse,
    summary="Render a program's message for a customer and channel (nothing is sent)",
    responses={404: {"description": "No such customer"}, 422: {"description": "Bad request"}},
)
async def preview(body: PreviewRequest, container: ContainerDep, who: Marketer) -> Any:
    return await render_preview(container, body)
