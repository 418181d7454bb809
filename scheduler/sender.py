"""Sending one due send: re-check eligibility now, dispatch, record the outcome.

Eligibility is evaluated again at send time because the world may have changed since the
decision (a purchase, an opt-out, a cap filled by another send). The outcome goes on the send
and on its decision, so the decision log tells what finally happened and why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.context_loader import load_context
from policy.eligibility import Action, evaluate
from policy.guardrails import Guardrails
from policy.outcomes import record_outcome
from profile_store.database import transaction
from profile_store.models import Channel, ConsentPurpose, Identity, ScheduledSend
from profile_store.trait_store import load_traits, save_traits
from profile_store.traits import TraitState, record_engagement
from scheduler.dispatch import Dispatcher, OutboundSend

log = structlog.get_logger(__name__)
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
MAX_ATTEMPTS = 5
ADDRESS_KIND = {
    Channel.SMS: "phone",
    Channel.WHATSAPP: "phone",
    Channel.TELEGRAM: "telegram_id",
    Channel.EMAIL: "email",
}


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(2**attempt * 5, 3600))


async def process_send(
    sessions: async_sessionmaker[AsyncSession],
    send_id: str,
    dispatcher: Dispatcher,
    rules: Guardrails,
    now: datetime | None = None,
) -> str:
    """Handle one claimed send; returns its new status."""
    now = now or datetime.now(UTC)
    async with transaction(sessions) as session:
        conn = await session.connection()
        send = (await conn.execute(select(SENDS).where(SENDS.c.id == send_id))).one()
        if send.status != "sending":
            return str(send.status)  # cancelled or finished meanwhile
        channel = Channel(send.channel)
        action = Action(
            program=send.program,
            purpose=ConsentPurpose(send.purpose),
            product_ids=list(send.product_ids),
        )
        ctx = await load_context(session, send.customer_id, at=now)
        verdict = evaluate(ctx, action, channel, now, rules)
        reasons = [r.model_dump(mode="json") for r in verdict.reasons]
        if not verdict.allowed:
            if verdict.retry_at is not None:
                await _set(session, send_id, status="pending", due_at=verdict.retry_at)
                await record_outcome(session, send.decision_id, None, reasons)
                return "pending"
            await _set(session, send_id, status="suppressed", last_error=_summary(reasons))
            await record_outcome(session, send.decision_id, "suppressed", reasons)
            return "suppressed"
        address = (
            await conn.execute(
                select(IDENTITIES.c.value)
                .where(
                    IDENTITIES.c.customer_id == send.customer_id,
                    IDENTITIES.c.kind == ADDRESS_KIND[channel],
                )
                .order_by(IDENTITIES.c.id)
            )
        ).scalar()
        outbound = OutboundSend(
            send_id=send_id,
            idempotency_key=send.idempotency_key,
            customer_id=send.customer_id,
            channel=channel,
            address=str(address),
            program=send.program,
            text=send.payload.get("text", ""),
            product_ids=list(send.product_ids),
            use_template=verdict.requires_template,
        )

    result = await dispatcher.dispatch(outbound)

    async with transaction(sessions) as session:
        if result.ok:
            await _set(
                session,
                send_id,
                status="sent",
                sent_at=now,
                provider_message_id=result.provider_message_id,
            )
            await record_outcome(session, send.decision_id, "sent", reasons)
            await _count_sent(session, outbound.customer_id, channel)
            return "sent"
        attempts = send.attempts + 1
        if result.retryable and attempts < MAX_ATTEMPTS:
            await _set(
                session,
                send_id,
                status="pending",
                attempts=attempts,
                due_at=now + backoff(attempts),
                last_error=result.error,
            )
            return "pending"
        await _set(session, send_id, status="failed", attempts=attempts, last_error=result.error)
        await record_outcome(
            session,
            send.decision_id,
            "failed",
            [{"code": "send_failed", "detail": result.error}],
        )
        log.warning("send.failed", send_id=send_id, error=result.error)
        return "failed"


def _summary(reasons: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r['code']}: {r['detail']}" for r in reasons if r.get("blocking"))[:1000]


async def _set(session: AsyncSession, send_id: str, **values: Any) -> None:
    conn = await session.connection()
    values["updated_at"] = datetime.now(UTC)
    if values.get("status") != "sending":
        values.setdefault("lease_until", None)
    await conn.execute(update(SENDS).where(SENDS.c.id == send_id).values(**values))


async def _count_sent(session: AsyncSession, customer_id: str, channel: Channel) -> None:
    stored = await load_traits(session, [customer_id])
    traits = stored.get(customer_id) or TraitState(customer_id=customer_id)
    record_engagement(traits, channel.value, "sent")
    await save_traits(session, [traits], existing=set(stored))
