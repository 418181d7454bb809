"""Writing and cancelling scheduled sends. Idempotent: one send per idempotency key."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.decide import DecisionPlan
from policy.outcomes import cancel_send
from profile_store import clock
from profile_store.models import ScheduledSend, new_id

SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]


async def schedule(session: AsyncSession, plan: DecisionPlan, *, idempotency_key: str) -> str:
    """The send's id: a new one, or the existing one for this key (scheduling twice is safe)."""
    if plan.channel is None or plan.send_at is None:
        raise ValueError(f"decision {plan.decision_id} is {plan.verdict}: nothing to schedule")
    conn = await session.connection()
    existing = (
        await conn.execute(select(SENDS.c.id).where(SENDS.c.idempotency_key == idempotency_key))
    ).scalar_one_or_none()
    if existing is not None:
        return str(existing)
    send_id = new_id("snd")
    now = clock.now()
    await conn.execute(
        insert(SENDS).values(
            id=send_id,
            idempotency_key=idempotency_key,
            decision_id=plan.decision_id,
            customer_id=plan.customer_id,
            channel=plan.channel.value,
            purpose=plan.purpose,
            program=plan.program,
            product_ids=plan.product_ids,
            payload={
                "content": plan.content.model_dump(mode="json") if plan.content else None,
                "variant": plan.variant,
            },
            action=plan.action.model_dump(mode="json"),
            due_at=plan.send_at,
            status="pending",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )
    return send_id


async def cancel(session: AsyncSession, send_id: str, reason: str) -> bool:
    """Cancel a send that has not gone out; False if it already went (or was never there)."""
    return await cancel_send(session, send_id, reason)
