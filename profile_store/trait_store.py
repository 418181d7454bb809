"""Reading and writing ``customer_traits`` rows in bulk, with SQLAlchemy Core.

One SELECT for all customers of a batch and one executemany each for inserts and updates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.models import CustomerTraits
from profile_store.traits import TraitState

TABLE = CustomerTraits.__table__  # type: ignore[attr-defined]
_COLUMNS = [c.name for c in TABLE.columns if c.name != "customer_id"]


async def load_traits(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, TraitState]:
    """Stored traits for these customers; customers without a row are absent from the result."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    connection = await session.connection()
    rows = await connection.execute(select(TABLE).where(TABLE.c.customer_id.in_(ids)))
    return {row.customer_id: TraitState.from_row(row) for row in rows}


async def save_traits(
    session: AsyncSession, states: Iterable[TraitState], *, existing: set[str]
) -> None:
    """Insert the states whose customer had no row yet (per ``existing``), update the rest.

    Rows are written in customer id order, so concurrent writers (several API processes on
    PostgreSQL) lock them in the same order and cannot deadlock on each other.
    """
    to_insert: list[dict[str, Any]] = []
    to_update: list[dict[str, Any]] = []
    for state in sorted(states, key=lambda s: s.customer_id):
        (to_update if state.customer_id in existing else to_insert).append(state.to_row())
    connection = await session.connection()
    if to_insert:
        await connection.execute(insert(TABLE), to_insert)
    if to_update:
        statement = (
            update(TABLE)
            .where(TABLE.c.customer_id == bindparam("b_customer_id"))
            .values({name: bindparam(f"b_{name}") for name in _COLUMNS})
        )
        await connection.execute(
            statement, [{f"b_{k}": v for k, v in row.items()} for row in to_update]
        )


async def delete_traits(session: AsyncSession, customer_id: str) -> None:
    connection = await session.connection()
    await connection.execute(delete(TABLE).where(TABLE.c.customer_id == customer_id))
