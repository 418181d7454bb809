"""Sending due sends, a batch at a time: re-check eligibility now, dispatch, record outcomes.

Eligibility is evaluated again at send time because the world may have changed since the
decision (a purchase, an opt-out, a cap filled by another send). Contexts for the whole batch
are loaded in a few queries and outcomes written in one transaction, so the cost per send is a
few rows, not a few round trips. Outcomes go on the send and on its decision, so the decision log
tells what finally happened and why.

The sends are leased to the caller's token. A heartbeat keeps the lease alive while slow
providers answer, and every outcome is written only where the token still matches: a worker
that lost a lease (a stalled process) cannot record, or make anyone resend, what another worker
now holds. The ``Action`` evaluated here is the one stored when the send was decided, so what
was allowed then is judged by the same rules now, only against the present.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.messages import ProductCard
from policy.content import ContentProduct, MessageContent, NothingToShow, still_showable
from policy.context import CustomerContext
from policy.context_loader import load_contexts
from policy.copywriting import MAX_CHARS, CopyRequest, CopyWriter
from policy.eligibility import Action, evaluate
from policy.guardrails import Guardrails
from policy.products import ProductLookup, with_purchase_categories
from policy.rendering import render_message
from profile_store.addresses import preferred_address
from profile_store.database import run_transaction
from profile_store.leases import Heartbeat
from profile_store.models import Channel, ConsentPurpose, Decision, Identity, ScheduledSend
from profile_store.trait_store import load_traits, save_traits
from profile_store.traits import TraitState, record_engagement
from scheduler.automated_codes import automated_code, store_automated_codes
from scheduler.conversation_log import SentMessage, record_in_conversations
from scheduler.dispatch import Dispatcher, DispatchResult, OutboundSend
from scheduler.links import LinkRequest, TrackedLinks

log = structlog.get_logger(__name__)
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
MAX_ATTEMPTS = 5
SEND_LEASE = timedelta(minutes=2)


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(2**attempt * 5, 3600))


class _Outcomes:
    """Row changes collected during a batch and written together, fenced by the lease token."""

    def __init__(self, now: datetime, token: str) -> None:
        self.now = now
        self.token = token
        self.sends: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.sent_on: list[tuple[str, Channel]] = []
        self.sent_messages: list[SentMessage] = []

    def send(self, row: Any, status: str, **changes: Any) -> None:
        values = {
            "status": status,
            "due_at": row.due_at,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "sent_at": row.sent_at,
            "provider_message_id": row.provider_message_id,
            "payload": row.payload,
            **changes,
        }
        self.sends.append(
            {f"b_{k}": v for k, v in values.items()} | {"b_id": row.id, "b_token": self.token}
        )

    def decision(self, decision_id: str | None, outcome: str | None, reasons: list[Any]) -> None:
        if decision_id is not None:
            self.decisions.append({"b_id": decision_id, "b_outcome": outcome, "b_reasons": reasons})

    async def write(self, session: AsyncSession) -> None:
        conn = await session.connection()
        if self.sends:
            await conn.execute(
                update(SENDS)
                .where(SENDS.c.id == bindparam("b_id"), SENDS.c.lease_token == bindparam("b_token"))
                .values(
                    status=bindparam("b_status"),
                    due_at=bindparam("b_due_at"),
                    attempts=bindparam("b_attempts"),
                    last_error=bindparam("b_last_error"),
                    sent_at=bindparam("b_sent_at"),
                    provider_message_id=bindparam("b_provider_message_id"),
                    payload=bindparam("b_payload"),
                    lease_until=None,
                    lease_token=None,
                    updated_at=self.now,
                ),
                sorted(self.sends, key=lambda r: r["b_id"]),
            )
        if self.decisions:
            await conn.execute(
                update(DECISIONS)
                .where(DECISIONS.c.id == bindparam("b_id"))
                .values(
                    outcome=bindparam("b_outcome"),
                    outcome_reasons=bindparam("b_reasons"),
                    outcome_at=self.now,
                ),
                sorted(self.decisions, key=lambda r: r["b_id"]),
            )
        await record_in_conversations(conn, self.sent_messages, self.now)
        if self.sent_on:
            stored = await load_traits(session, [cid for cid, _ in self.sent_on])
            states = {
                cid: stored.get(cid) or TraitState(customer_id=cid) for cid, _ in self.sent_on
            }
            for customer_id, channel in self.sent_on:
                record_engagement(states[customer_id], channel.value, "sent")
            await save_traits(session, states.values(), existing=set(stored))


async def process_sends(
    sessions: async_sessionmaker[AsyncSession],
    send_ids: Sequence[str],
    dispatcher: Dispatcher,
    rules: Guardrails,
    now: datetime,
    *,
    token: str,
    lease: timedelta = SEND_LEASE,
    concurrency: int = 32,
    products: ProductLookup | None = None,
    links: TrackedLinks | None = None,
    copywriter: CopyWriter | None = None,
) -> dict[str, str]:
    """Handle sends leased to ``token`` (at most one per customer); returns each send's new
    status. Sends whose lease is no longer ``token``'s are left alone. ``links``: product links
    become tracked short links under the public URL."""
    Prepared = tuple[list[tuple[Any, OutboundSend, list[Any]]], dict[str, CustomerContext]]

    async def prepare(session: AsyncSession) -> Prepared:
        ready: list[tuple[Any, OutboundSend, list[Any]]] = []
        conn = await session.connection()
        rows = (
            await conn.execute(
                select(SENDS)
                .where(
                    SENDS.c.id.in_(list(send_ids)),
                    SENDS.c.status == "sending",
                    SENDS.c.lease_token == token,
                )
                .with_for_update()
            )
        ).all()
        outcomes = _Outcomes(now, token)
        actions = {row.id: stored_action(row) for row in rows}
        customer_ids = [row.customer_id for row in rows]
        contexts = await load_contexts(session, customer_ids, at=now)
        if products is not None and any(a.categories for a in actions.values()):
            contexts = await with_purchase_categories(contexts, products)
        addresses = await _addresses(session, customer_ids)
        for row in rows:
            channel = Channel(row.channel)
            verdict = evaluate(contexts[row.customer_id], actions[row.id], channel, now, rules)
            reasons = [r.model_dump(mode="json") for r in verdict.reasons]
            if not verdict.allowed:
                if verdict.retry_at is not None:
                    outcomes.send(row, "pending", due_at=verdict.retry_at)
                    outcomes.decision(row.decision_id, None, reasons)
                else:
                    outcomes.send(row, "suppressed", last_error=_summary(reasons))
                    outcomes.decision(row.decision_id, "suppressed", reasons)
                continue
            prepared = outbound_for(
                row,
                contexts[row.customer_id],
                channel,
                preferred_address(channel, addresses[row.customer_id]) or "",
                verdict.requires_template,
                rules,
                now,
            )
            if isinstance(prepared, NothingToShow):
                shown = [{"code": "nothing_to_show", "blocking": True, "detail": prepared.reason}]
                outcomes.send(row, "suppressed", last_error=f"nothing_to_show: {prepared.reason}")
                outcomes.decision(row.decision_id, "suppressed", shown)
                continue
            ready.append((row, prepared, reasons))
        if links is not None:
            await _track_links(conn, links, ready, now)
        coded = [(row, out, stored_action(row).discount_percent or 0.0) for row, out, _ in ready]
        await store_automated_codes(conn, coded, rules, now)
        # Blocked sends are settled now (the rows are locked: still ours); the ones going out
        # stay 'sending', leased, meanwhile.
        await outcomes.write(session)
        return ready, contexts

    ready, contexts = await run_transaction(sessions, prepare, name="sends.prepare")

    if copywriter is not None:
        await _generated_copy(ready, copywriter, rules, contexts)

    async def dispatch(outbound: OutboundSend) -> DispatchResult:
        try:
            return await dispatcher.dispatch(outbound)
        except Exception as exc:  # an adapter bug must not lose the other sends
            log.exception("send.dispatch_error", send_id=outbound.send_id)
            return DispatchResult(ok=False, error=f"{type(exc).__name__}: {exc}")

    # Up to ``concurrency`` sends are on the wire at once. Outcomes are group-committed: while
    # one commit runs, the next results gather and share the following one, and sending goes
    # on meanwhile. A worker killed mid-batch can send again only what was on the wire or not
    # yet committed: sending pauses rather than let that exceed three times ``concurrency``.
    lost: set[Any] = set()
    heartbeat = Heartbeat(sessions, SENDS, token, lease, on_lost=lost.update)
    heartbeat.add(row.id for row, _, _ in ready)
    statuses: dict[str, str] = {}
    waiting = list(reversed(ready))
    in_flight: dict[asyncio.Task[DispatchResult], tuple[Any, OutboundSend, list[Any]]] = {}
    finished: list[tuple[tuple[Any, OutboundSend, list[Any]], DispatchResult]] = []
    committing: asyncio.Task[dict[str, str]] | None = None
    committing_ids: list[str] = []
    async with heartbeat:
        while waiting or in_flight or finished or committing:
            while (
                waiting
                and len(in_flight) < concurrency
                and len(in_flight) + len(finished) + len(committing_ids) < 3 * concurrency
            ):
                item = waiting.pop()
                if item[0].id not in lost:
                    in_flight[asyncio.create_task(dispatch(item[1]))] = item
            if committing is None and finished:
                committing_ids = [row.id for (row, _, _), _ in finished]
                committing = asyncio.create_task(_settle(sessions, finished, token, now))
                finished = []
            watched: set[asyncio.Future[Any]] = set(in_flight)
            if committing is not None:
                watched.add(committing)
            if not watched:
                break
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in [task for task in in_flight if task.done()]:
                finished.append((in_flight.pop(task), task.result()))
            if committing is not None and committing.done():
                statuses |= committing.result()  # a failed commit raises: the lease expires
                heartbeat.discard(committing_ids)
                committing, committing_ids = None, []
    return statuses


async def _settle(
    sessions: async_sessionmaker[AsyncSession],
    done: list[tuple[tuple[Any, OutboundSend, list[Any]], DispatchResult]],
    token: str,
    now: datetime,
) -> dict[str, str]:
    """Record what the provider said for these sends, where they are still ours."""

    async def settle(session: AsyncSession) -> dict[str, str]:
        statuses: dict[str, str] = {}
        conn = await session.connection()
        # Lock what is still ours; a send another worker took over is its to record.
        held = set(
            (
                await conn.execute(
                    select(SENDS.c.id)
                    .where(
                        SENDS.c.id.in_([row.id for (row, _, _), _ in done]),
                        SENDS.c.lease_token == token,
                    )
                    .with_for_update()
                )
            ).scalars()
        )
        outcomes = _Outcomes(now, token)
        for (row, outbound, reasons), result in done:
            if row.id in held:
                statuses[row.id] = _record(outcomes, row, outbound, reasons, result, now)
            else:
                log.warning("send.lease_lost", send_id=row.id, ok=result.ok)
        await outcomes.write(session)
        return statuses

    return await run_transaction(sessions, settle, name="sends.settle")


def outbound_for(
    row: Any,
    ctx: CustomerContext,
    channel: Channel,
    address: str,
    use_template: bool,
    rules: Guardrails,
    now: datetime,
) -> OutboundSend | NothingToShow:
    """The send as it goes out now: its content checked against the world as it is (a cart
    emptied, a product bought since) and rendered in the variant decided, for the channel."""
    base = {
        "send_id": row.id,
        "idempotency_key": row.idempotency_key,
        "customer_id": row.customer_id,
        "channel": channel,
        "address": address,
        "program": row.program,
        "use_template": use_template,
    }
    stored = row.payload.get("content")
    if not stored:  # a send from before content was kept: its own text
        text = row.payload.get("text", "")
        return OutboundSend(**base, text=text, product_ids=list(row.product_ids))
    content = still_showable(MessageContent.model_validate(stored), ctx, rules, now)
    if isinstance(content, NothingToShow):
        return content
    percent = stored_action(row).discount_percent
    rendered = render_message(
        content,
        row.payload.get("variant"),
        ctx,
        channel,
        ConsentPurpose(row.purpose),
        rules,
        discount_code=automated_code(row.id) if percent else None,
        discount_percent=percent,
    )
    return OutboundSend(
        **base,
        text=rendered.text,
        product_ids=[p.product_id for p in rendered.products],
        cards=[
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
            for p in rendered.products
        ],
        footer=rendered.footer,
        values=rendered.values,
    )


async def _track_links(
    conn: Any, links: TrackedLinks, ready: list[tuple[Any, OutboundSend, list[Any]]], now: datetime
) -> None:
    """Every product link in these sends becomes a tracked short link, in one insert."""
    requests = [
        LinkRequest(
            url=card.url,
            customer_id=row.customer_id,
            channel=outbound.channel.value,
            decision_id=row.decision_id,
            send_id=row.id,
            product_id=card.id,
        )
        for row, outbound, _ in ready
        for card in outbound.cards
        if card.url
    ]
    short = iter(await links.shorten(conn, requests, now))
    for _, outbound, _ in ready:
        for card in outbound.cards:
            if card.url:
                original, card.url = card.url, next(short)
                # A WhatsApp template's link variable is the same link, tracked too.
                if outbound.values.get("product_url") == original:
                    outbound.values["product_url"] = card.url


async def _generated_copy(
    ready: list[tuple[Any, OutboundSend, list[Any]]],
    copywriter: CopyWriter,
    rules: Guardrails,
    contexts: dict[str, CustomerContext],
) -> None:
    """For programs set to ``copy: generated``: the model's words instead of the template's,
    where the model answers in time and the guard lets them through."""
    wanted = [
        (row, outbound)
        for row, outbound, _ in ready
        if rules.program(row.program).copy_mode == "generated" and not outbound.use_template
    ]
    if not wanted:
        return
    limit = asyncio.Semaphore(8)

    async def write(row: Any, outbound: OutboundSend) -> None:
        program = rules.program(row.program)
        brand_prefix = f"{rules.brand.name}: "
        template = outbound.text.removeprefix(brand_prefix)
        request = CopyRequest(
            program=row.program,
            brief=program.brief,
            brand=rules.brand.name,
            voice=rules.agent.brand_voice,
            channel=outbound.channel.value,
            first_name=contexts[row.customer_id].first_name,
            products=[
                ContentProduct(product_id=c.id, name=c.name, price=c.price, currency=c.currency)
                for c in outbound.cards
            ],
            template_text=template,
            max_chars=MAX_CHARS.get(outbound.channel.value, 600),
            discount_code=outbound.values.get("discount_code") or None,
            discount_percent=stored_action(row).discount_percent,
        )
        async with limit:
            text = await copywriter.write(request)
        if text:
            outbound.text = brand_prefix + text if outbound.text.startswith(brand_prefix) else text

    await asyncio.gather(*(write(row, outbound) for row, outbound in wanted))


def stored_action(row: Any) -> Action:
    """The action decided for this send; sends stored before actions were kept get the one
    their program and purpose described."""
    if row.action:
        return Action.model_validate(row.action)
    return Action(
        program=row.program, purpose=ConsentPurpose(row.purpose), product_ids=list(row.product_ids)
    )


def _record(
    outcomes: _Outcomes,
    row: Any,
    outbound: OutboundSend,
    reasons: list[Any],
    result: DispatchResult,
    now: datetime,
) -> str:
    if result.ok:
        # What went out, word for word, for the record (the copy may change later).
        said = {"text": outbound.text, "footer": outbound.footer, "cards": len(outbound.cards)}
        outcomes.send(
            row,
            "sent",
            sent_at=now,
            provider_message_id=result.provider_message_id,
            payload={**row.payload, **said},
        )
        outcomes.decision(row.decision_id, "sent", reasons)
        outcomes.sent_on.append((row.customer_id, outbound.channel))
        outcomes.sent_messages.append(
            SentMessage(
                send_id=row.id,
                customer_id=row.customer_id,
                channel=outbound.channel.value,
                address=outbound.address,
                text="\n\n".join(p for p in (outbound.text, outbound.footer) if p),
                origin={
                    "program": row.program,
                    "decision_id": row.decision_id,
                    "variant": row.payload.get("variant"),
                    "product_ids": outbound.product_ids,
                },
                cards=[card.model_dump(mode="json") for card in outbound.cards],
            )
        )
        return "sent"
    attempts = row.attempts + 1
    if result.retryable and attempts < MAX_ATTEMPTS:
        outcomes.send(
            row,
            "pending",
            attempts=attempts,
            due_at=now + backoff(attempts),
            last_error=result.error,
        )
        return "pending"
    outcomes.send(row, "failed", attempts=attempts, last_error=result.error)
    outcomes.decision(row.decision_id, "failed", [{"code": "send_failed", "detail": result.error}])
    log.warning("send.failed", send_id=row.id, error=result.error)
    return "failed"


async def _addresses(
    session: AsyncSession, customer_ids: list[str]
) -> dict[str, list[tuple[str, str]]]:
    """Each customer's identities as ``(kind, value)``, oldest first."""
    conn = await session.connection()
    rows = await conn.execute(
        select(IDENTITIES.c.customer_id, IDENTITIES.c.kind, IDENTITIES.c.value)
        .where(IDENTITIES.c.customer_id.in_(sorted(set(customer_ids))))
        .order_by(IDENTITIES.c.id)
    )
    identities: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        identities[row.customer_id].append((row.kind, row.value))
    return identities


def _summary(reasons: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r['code']}: {r['detail']}" for r in reasons if r.get("blocking"))[:1000]
