"""A shopper responding to an automated message: a click on its link, or a reply.

The decision that sent it becomes ``clicked`` or ``replied`` (its first response; an order
later makes it ``converted``), and the channel's engagement counts it, so the channel bandit
and the copy variants learn from it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from policy.outcomes import record_response
from profile_store.trait_store import load_traits, save_traits
from profile_store.traits import TraitState, record_engagement


async def respond(
    session: AsyncSession,
    *,
    customer_id: str,
    decision_id: str | None,
    channel: str,
    response: str,
    at: datetime,
) -> bool:
    """Record ``response`` ("clicked" or "replied"); False if the decision had one already."""
    conn = await session.connection()
    first = decision_id is not None and await record_response(conn, decision_id, response, at)
    if first:
        stored = await load_traits(session, [customer_id])
        state = stored.get(customer_id) or TraitState(customer_id=customer_id)
        record_engagement(state, channel, response)
        await save_traits(session, [state], existing=set(stored))
    return first
