"""The agent's tools as LangChain tools: the plain functions of ``tools.agent_tools``, with the
shopper injected from graph state.

``customer_id``, ``channel`` and ``conversation_id`` are ``InjectedState``: they are not in any
tool's schema, so the model cannot choose whose data a tool reads or writes. Bad arguments come
back to the model as a readable error, never as an exception that ends the turn.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.prebuilt import InjectedState
from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError

from agent.conversation import Memory
from agent.intent_cues import asks_for_a_person, cue
from agent.intent_labels import Intent
from policy.watches import FollowUpKind
from profile_store import clock
from profile_store.models import Channel
from tools.agent_tools.discounts import (
    DiscountRequest,
    OfferStatus,
    current_code,
    evaluate_offer,
    grant_offer,
    log_offer,
    request_approval,
)
from tools.agent_tools.eligibility import check_eligibility as check
from tools.agent_tools.follow_ups import FollowUpRequest
from tools.agent_tools.follow_ups import schedule_follow_up as follow_up
from tools.agent_tools.handoff import HandoffRequest
from tools.agent_tools.handoff import handoff_to_human as handoff
from tools.agent_tools.order_changes import ChangeRequest
from tools.agent_tools.order_changes import confirm_order_change as confirm_change
from tools.agent_tools.order_changes import request_order_change as propose_change
from tools.agent_tools.orders import VerifyRequest
from tools.agent_tools.orders import get_order_status as order_status
from tools.agent_tools.orders import verify_identity as verify
from tools.agent_tools.preferences import PreferencesUpdate
from tools.agent_tools.preferences import update_preferences as save_preferences
from tools.agent_tools.products import search_products as search
from tools.agent_tools.profile import get_profile as profile
from tools.agent_tools.shopper import Shopper, ToolServices
from tools.catalog.search import SearchQuery

CustomerId = Annotated[str, InjectedState("customer_id")]
ChannelName = Annotated[str, InjectedState("channel")]
ConversationId = Annotated[str, InjectedState("conversation_id")]
ToolCallId = Annotated[str, InjectedToolCallId]
State = Annotated[dict[str, Any], InjectedState]


def effect_key(state: dict[str, Any], tool_call_id: str, name: str) -> str | None:
    """``{turn}:{tool}:{n}`` for the n-th call of this tool in this turn: the same when the
    pipeline tries the turn again, so the tool's writes happen once. None outside a pipeline
    turn."""
    turn_id = state.get("turn_id")
    if not turn_id:
        return None
    calls: list[str] = []
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage):
            calls[:0] = [c["id"] or "" for c in message.tool_calls if c["name"] == name]
    ordinal = calls.index(tool_call_id) if tool_call_id in calls else len(calls)
    return f"{turn_id}:{name}:{ordinal}"


def handoff_allowed(state: dict[str, Any]) -> bool:
    """The irreversible step needs the shopper's words: an explicit request now, or a yes to
    the offer of a person the bot made last turn."""
    text = last_shopper_text(state)
    if asks_for_a_person(text):
        return True
    pending = Memory.of(state).pending
    said = cue(text)
    return (
        pending is not None
        and pending.kind == "handoff"
        and said is not None
        and (said.intent is Intent.AFFIRM)
    )


def handoff_summary(state: dict[str, Any]) -> str:
    """What the person taking over reads first: the shopper's recent words and what was on the
    table, from the state, never from the model."""
    messages = state.get("messages", [])
    said = [str(m.content)[:160] for m in messages if isinstance(m, HumanMessage)][-4:]
    memory = Memory.of(state)
    lines = [f"Shopper said: {json.dumps(text)}" for text in said]
    if memory.shown:
        names = ", ".join(p.name or p.id for p in memory.shown[:3])
        lines.append(f"Shown: {names}")
    if selected := memory.product(memory.selected):
        lines.append(f"Interested in: {selected.name or selected.id}")
    if state.get("summary"):
        lines.append(f"Earlier: {str(state['summary'])[-300:]}")
    return "\n".join(lines)[:1500]


def last_shopper_text(state: dict[str, Any]) -> str:
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""


class ApprovalRequest(BaseModel):
    """What the graph pauses with; the approvals API answers it with a ``HumanDecision``."""

    approval_id: str
    kind: str = "discount"
    percent: float
    product_ids: list[str]


def invalid(exc: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
    )
    return json.dumps({"error": f"invalid arguments: {problems}"})


def build_tools(services: ToolServices) -> list[BaseTool]:
    def shopper(
        customer_id: str,
        channel: str,
        conversation_id: str | None = None,
        effect_key: str | None = None,
    ) -> Shopper:
        return Shopper(
            customer_id=customer_id,
            channel=Channel(channel),
            conversation_id=conversation_id,
            effect_key=effect_key,
        )

    @tool
    async def search_products(
        customer_id: CustomerId,
        channel: ChannelName,
        text: str,
        min_price: float | None = None,
        max_price: float | None = None,
        category: str | None = None,
        size: str | None = None,
        colour: str | None = None,
        colours: list[str] | None = None,
        not_colours: list[str] | None = None,
        in_stock: bool = False,
        exclude_ids: list[str] | None = None,
        product_ids: list[str] | None = None,
    ) -> str:
        """Find products by the shopper's words, with optional exact filters: ``colours`` is
        any of several, ``not_colours`` leaves those out, ``exclude_ids`` skips products
        already shown ("show me more"), ``product_ids`` asks about those products only (with
        ``size``/``colour``/``in_stock``: does that variant exist?). An empty result
        with ``no_match`` means the shop does not sell it: say so, do not offer something
        unrelated."""
        try:
            query = SearchQuery(
                text=text,
                min_price=min_price,
                max_price=max_price,
                category=category,
                size=size,
                colour=colour,
                colours=colours or [],
                not_colours=not_colours or [],
                in_stock=in_stock,
                exclude_ids=exclude_ids or [],
                product_ids=product_ids or [],
                limit=services.rules().agent.tools.search_products.max_results,
            )
        except ValidationError as exc:
            return invalid(exc)
        found = await search(services, shopper(customer_id, channel), query)
        return found.model_dump_json()

    @tool
    async def get_order_status(
        customer_id: CustomerId,
        channel: ChannelName,
        conversation_id: ConversationId,
        order_id: str | None = None,
    ) -> str:
        """The shopper's own orders (or one of them by id): status, items and tracking."""
        who = shopper(customer_id, channel, conversation_id)
        return (await order_status(services, who, order_id)).model_dump_json()

    @tool
    async def verify_identity(
        customer_id: CustomerId,
        channel: ChannelName,
        conversation_id: ConversationId,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        zip: str | None = None,
    ) -> str:
        """Check who the shopper is before order details or changes: the email of one of
        their orders, or first name, last name and the zip code an order ships to."""
        try:
            request = VerifyRequest(
                email=email, first_name=first_name, last_name=last_name, zip=zip
            )
        except ValidationError as exc:
            return invalid(exc)
        who = shopper(customer_id, channel, conversation_id)
        return (await verify(services, who, request, clock.now())).model_dump_json()

    @tool
    async def request_order_change(
        customer_id: CustomerId,
        channel: ChannelName,
        conversation_id: ConversationId,
        tool_call_id: ToolCallId,
        state: State,
        action: str,
        order_id: str | None = None,
        items: list[str] | None = None,
        new_items: list[str] | None = None,
        size: str | None = None,
        address: dict[str, str] | None = None,
        reason: str = "",
    ) -> str:
        """Propose a change to the shopper's order: ``action`` is ``cancel``, ``return``,
        ``exchange`` (same product, another variant: ``new_items`` or ``size``),
        ``change_address`` (``address``) or ``change_items``. Checks the shop's policy and
        changes nothing: tell the shopper the result's ``note`` and wait for their yes."""
        try:
            request = ChangeRequest.model_validate(
                {
                    "action": action,
                    "order_id": order_id,
                    "items": items or [],
                    "new_items": new_items or [],
                    "size": size,
                    "address": address,
                    "reason": reason,
                }
            )
        except ValidationError as exc:
            return invalid(exc)
        key = effect_key(state, tool_call_id, "request_order_change")
        who = shopper(customer_id, channel, conversation_id, key)
        return (await propose_change(services, who, request, clock.now())).model_dump_json()

    @tool
    async def confirm_order_change(
        customer_id: CustomerId,
        channel: ChannelName,
        conversation_id: ConversationId,
        tool_call_id: ToolCallId,
        state: State,
    ) -> str:
        """Carry out the change proposed in an earlier message, after the shopper answered
        it: their own yes (or no) in this message decides, whatever you pass."""
        said = cue(last_shopper_text(state))
        affirmed = said is not None and said.intent is Intent.AFFIRM
        key = effect_key(state, tool_call_id, "confirm_order_change")
        who = shopper(customer_id, channel, conversation_id, key)
        answer = await confirm_change(services, who, affirmed=affirmed, now=clock.now())
        return answer.model_dump_json()

    @tool
    async def get_profile(customer_id: CustomerId, channel: ChannelName) -> str:
        """The shopper's own profile: name, tier, preferences, open cart, recent purchases."""
        return (await profile(services, shopper(customer_id, channel))).model_dump_json()

    @tool
    async def check_eligibility(
        customer_id: CustomerId,
        channel: ChannelName,
        program: str,
        discount_percent: float | None = None,
        product_ids: list[str] | None = None,
    ) -> str:
        """Whether an action is allowed for this shopper, with reason codes. ``program``:
        ``offer_discount`` (with ``discount_percent``), a follow-up (``reminder``,
        ``back_in_stock``, ``price_drop``) or an automated program (``cart_abandoned``, …)."""
        answer = await check(
            services,
            shopper(customer_id, channel),
            program,
            discount_percent=discount_percent,
            product_ids=product_ids,
        )
        return answer.model_dump_json()

    @tool
    async def offer_discount(
        customer_id: CustomerId,
        channel: ChannelName,
        conversation_id: ConversationId,
        tool_call_id: ToolCallId,
        state: State,
        percent: float,
        product_ids: list[str] | None = None,
    ) -> str:
        """Give the shopper a discount code of ``percent`` off. Only within the shop's limit
        for this shopper; a large one waits for a colleague's approval. Only mention a
        discount this tool granted, with its code."""
        try:
            request = DiscountRequest(percent=percent, product_ids=product_ids or [])
        except ValidationError as exc:
            return invalid(exc)
        key = effect_key(state, tool_call_id, "offer_discount")
        who = shopper(customer_id, channel, conversation_id, key)
        now = clock.now()
        if (existing := await current_code(services, who, now)) is not None:
            return existing.model_dump_json()  # one active code per shopper
        answer = await evaluate_offer(services, who, request, now)
        if answer.status is OfferStatus.REFUSED:
            await log_offer(services, who, answer, now)
            return answer.model_dump_json()
        approval_id = None
        if answer.status is OfferStatus.NEEDS_APPROVAL:
            # Written before the pause and idempotent: the tool runs again on resume.
            approval_id = await request_approval(
                services, who, answer, f"{conversation_id}:{tool_call_id}", now
            )
            pause = ApprovalRequest(
                approval_id=approval_id, percent=request.percent, product_ids=request.product_ids
            )
            decision = interrupt(pause.model_dump())
            if not (isinstance(decision, dict) and decision.get("approved") is True):
                rejected = answer.model_copy(
                    update={"status": OfferStatus.REJECTED, "approval_id": approval_id}
                )
                await log_offer(services, who, rejected, clock.now())
                return rejected.model_dump_json()
        granted = await grant_offer(services, who, answer, clock.now(), approval_id=approval_id)
        return granted.model_dump_json()

    @tool
    async def schedule_follow_up(
        customer_id: CustomerId,
        channel: ChannelName,
        conversation_id: ConversationId,
        tool_call_id: ToolCallId,
        state: State,
        kind: FollowUpKind,
        when: datetime | None = None,
        product_ids: list[str] | None = None,
        size: str | None = None,
        below_price: float | None = None,
        note: str = "",
    ) -> str:
        """Message the shopper later: ``reminder`` at ``when`` (ISO 8601 with offset),
        ``back_in_stock`` when a product (optionally a size) is back, or ``price_drop`` when
        its price is at or below ``below_price``."""
        try:
            request = FollowUpRequest(
                kind=kind,
                when=when,
                product_ids=product_ids or [],
                size=size,
                below_price=below_price,
                note=note,
            )
        except ValidationError as exc:
            return invalid(exc)
        key = effect_key(state, tool_call_id, "schedule_follow_up")
        who = shopper(customer_id, channel, conversation_id, key)
        return (await follow_up(services, who, request, clock.now())).model_dump_json()

    @tool
    async def update_preferences(
        customer_id: CustomerId,
        channel: ChannelName,
        preferred_channel: str | None = None,
        quiet_hours_start: str | None = None,
        quiet_hours_end: str | None = None,
        topics: list[str] | None = None,
        size: str | None = None,
    ) -> str:
        """Save what the shopper tells us about themselves: preferred channel (sms, whatsapp,
        telegram), quiet hours (HH:MM, their local time), topics they care about, their size."""
        quiet: dict[str, Any] | None = None
        if quiet_hours_start or quiet_hours_end:
            quiet = {"start": quiet_hours_start, "end": quiet_hours_end}
        try:
            update = PreferencesUpdate.model_validate(
                {
                    "preferred_channel": preferred_channel,
                    "quiet_hours": quiet,
                    "topics": topics,
                    "size": size,
                }
            )
        except ValidationError as exc:
            return invalid(exc)
        who = shopper(customer_id, channel)
        answer = await save_preferences(services, who, update, clock.now())
        return answer.model_dump_json()

    @tool
    async def handoff_to_human(
        customer_id: CustomerId,
        channel: ChannelName,
        conversation_id: ConversationId,
        state: State,
        reason: str = "",
    ) -> str:
        """Hand the conversation to a colleague: only when the shopper asked for a person or
        said yes to your offer of one (otherwise this asks you to confirm first). You stay
        silent until they hand it back."""
        if not handoff_allowed(state):
            return json.dumps(
                {
                    "handed_off": False,
                    "needs_confirmation": True,
                    "note": "the shopper did not ask for a person: ask whether they want one",
                }
            )
        try:
            request = HandoffRequest(reason=reason, summary=handoff_summary(state))
        except ValidationError as exc:
            return invalid(exc)
        who = shopper(customer_id, channel, conversation_id)
        return (await handoff(services, who, request, clock.now())).model_dump_json()

    return [
        search_products,
        get_order_status,
        verify_identity,
        request_order_change,
        confirm_order_change,
        get_profile,
        check_eligibility,
        offer_discount,
        schedule_follow_up,
        update_preferences,
        handoff_to_human,
    ]
