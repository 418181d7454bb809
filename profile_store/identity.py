"""Identity resolution: which customer do these identities belong to?

One person reaches the shop through many identities (a phone on SMS and WhatsApp, WhatsApp's
own user id for someone who hides their number, a Telegram id, an email, an anonymous web visitor
id). A ref that names identities owned by several profiles
joins them: the weaker profiles merge into the strongest, unless both already hold different
strong identities (two shop accounts, two verified emails or phones), which is recorded as a
conflict for review instead of being merged.

Written with SQLAlchemy Core: the events API resolves thousands of refs a second, and new
customers and identities are inserted in one statement per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store import clock
from profile_store import models as m
from profile_store.models import Customer, IdentityKind, new_id
from profile_store.schemas import CustomerRef
from profile_store.trait_store import delete_traits, load_traits, save_traits
from profile_store.traits import TraitState, merge_traits

CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
IDENTITIES = m.Identity.__table__  # type: ignore[attr-defined]
CONFLICTS = m.IdentityConflict.__table__  # type: ignore[attr-defined]
MERGES = m.ProfileMerge.__table__  # type: ignore[attr-defined]

# Identities that say "this is a known, distinct person". Two profiles each holding one of the
# same kind are different people as far as automation can tell. A WhatsApp user id is not one:
# WhatsApp issues a new one when its user changes phone number, so one person can hold two.
STRONG_KINDS = (IdentityKind.EXTERNAL_ID, IdentityKind.EMAIL, IdentityKind.PHONE)
# Which profile wins a merge: the one holding the highest-ranked identity.
_RANK = {
    IdentityKind.EXTERNAL_ID: 5,
    IdentityKind.EMAIL: 4,
    IdentityKind.PHONE: 3,
    IdentityKind.TELEGRAM_ID: 2,
    IdentityKind.WHATSAPP_ID: 2,
    IdentityKind.ANONYMOUS_ID: 1,
}
# Tables whose rows follow a customer when its profile merges into another.
_OWNED_TABLES: tuple[Any, ...] = (
    m.Event.__table__,  # type: ignore[attr-defined]
    m.Consent.__table__,  # type: ignore[attr-defined]
    m.Conversation.__table__,  # type: ignore[attr-defined]
    m.Decision.__table__,  # type: ignore[attr-defined]
    m.ScheduledSend.__table__,  # type: ignore[attr-defined]
    m.DiscountCode.__table__,  # type: ignore[attr-defined]
    IDENTITIES,
)
_PROFILE_FIELDS = ("first_name", "last_name", "timezone", "locale", "loyalty_tier")


class UnknownCustomerError(LookupError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"unknown customer_id {customer_id!r}")
        self.customer_id = customer_id


@dataclass(slots=True)
class _Known:
    merged_into: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class _IdentityRow:
    kind: str
    value: str
    verified: bool


class IdentityResolver:
    """Resolves many refs in one transaction with few queries (the events API sends batches).

    Call :meth:`prefetch` with every ref of a batch first; :meth:`resolve` then touches the
    database only for merges. New customers and identities wait in memory until
    :meth:`flush_pending` (which a merge also triggers).
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._owner: dict[tuple[str, str], str] = {}  # (kind, value) -> customer id
        self._looked_up: set[tuple[str, str]] = set()  # pairs asked of the database already
        self._known: dict[str, _Known] = {}
        self._identities: dict[str, list[_IdentityRow]] = {}  # loaded lazily, for merges
        self._conflicts: set[frozenset[str]] = set()
        self._new_customers: list[dict[str, Any]] = []
        self._new_identities: list[dict[str, Any]] = []

    async def _conn(self) -> AsyncConnection:
        return await self.session.connection()

    async def prefetch(self, refs: Iterable[CustomerRef]) -> None:
        refs = list(refs)
        wanted = {
            (kind.value, value)
            for ref in refs
            for kind, value in ref.identities()
            if (kind.value, value) not in self._looked_up
        }
        customer_ids = {ref.customer_id for ref in refs if ref.customer_id}
        if wanted:
            by_kind: dict[str, list[str]] = {}
            for kind_name, value in sorted(wanted):
                by_kind.setdefault(kind_name, []).append(value)
            clause = or_(
                *(
                    and_(IDENTITIES.c.kind == kind_name, IDENTITIES.c.value.in_(values))
                    for kind_name, values in by_kind.items()
                )
            )
            conn = await self._conn()
            # Joined with the owner's row so the common case (no merge) needs no second query.
            query = select(
                IDENTITIES.c.kind,
                IDENTITIES.c.value,
                IDENTITIES.c.customer_id,
                CUSTOMERS.c.merged_into_id,
                CUSTOMERS.c.created_at,
            ).join(CUSTOMERS, CUSTOMERS.c.id == IDENTITIES.c.customer_id)
            for kind_name, value, customer_id, merged_into, created in await conn.execute(
                query.where(clause)
            ):
                self._owner[(kind_name, value)] = customer_id
                self._known[customer_id] = _Known(merged_into, created)
                customer_ids.add(customer_id)
            self._looked_up |= wanted
        await self._load_customers(customer_ids)

    async def _load_customers(self, ids: set[str]) -> None:
        missing = {i for i in ids if i not in self._known}
        while missing:
            conn = await self._conn()
            rows = await conn.execute(
                select(CUSTOMERS.c.id, CUSTOMERS.c.merged_into_id, CUSTOMERS.c.created_at).where(
                    CUSTOMERS.c.id.in_(sorted(missing))
                )
            )
            found = {cid: _Known(merged, created) for cid, merged, created in rows}
            self._known.update(found)
            # Follow merges so a stale id still reaches the surviving profile.
            missing = {
                k.merged_into
                for k in found.values()
                if k.merged_into and k.merged_into not in self._known
            }

    async def _load_identities(self, ids: Iterable[str]) -> None:
        await self.flush_pending()
        to_load = sorted(i for i in ids if i not in self._identities)
        if not to_load:
            return
        for cid in to_load:
            self._identities[cid] = []
        conn = await self._conn()
        rows = await conn.execute(
            select(
                IDENTITIES.c.customer_id,
                IDENTITIES.c.kind,
                IDENTITIES.c.value,
                IDENTITIES.c.verified,
            ).where(IDENTITIES.c.customer_id.in_(to_load))
        )
        for cid, kind, value, verified in rows:
            self._identities[cid].append(_IdentityRow(kind, value, verified))

    async def flush_pending(self) -> None:
        """Insert the customers and identities created so far."""
        if self._new_customers:
            conn = await self._conn()
            await conn.execute(insert(CUSTOMERS), self._new_customers)
            self._new_customers = []
        if self._new_identities:
            conn = await self._conn()
            await conn.execute(insert(IDENTITIES), self._new_identities)
            self._new_identities = []

    def known(self, ref: CustomerRef) -> str | None:
        """The prefetched owner of ``ref``, without creating or merging anything."""
        if ref.customer_id:
            return self.canonical(ref.customer_id) if ref.customer_id in self._known else None
        for kind, value in ref.identities():
            owner = self._owner.get((kind.value, value))
            if owner is not None:
                return self.canonical(owner)
        return None

    def canonical(self, customer_id: str) -> str:
        """The surviving profile for a customer id, following merges."""
        while (parent := self._known[customer_id].merged_into) is not None:
            customer_id = parent
        return customer_id

    async def resolve(
        self,
        ref: CustomerRef,
        *,
        reason: str,
        event_id: str | None = None,
        verified: bool = True,
    ) -> str:
        """The customer id for ``ref``: found, created, or the survivor of a merge."""
        await self.prefetch([ref])
        candidates: set[str] = set()
        if ref.customer_id:
            if ref.customer_id not in self._known:
                raise UnknownCustomerError(ref.customer_id)
            candidates.add(self.canonical(ref.customer_id))
        for kind, value in ref.identities():
            owner = self._owner.get((kind.value, value))
            if owner is not None:
                candidates.add(self.canonical(owner))

        if not candidates:
            target = self._create_customer()
        elif len(candidates) == 1:
            target = next(iter(candidates))
        else:
            await self._load_identities(candidates)
            target = self._choose_target(ref, candidates)
            for other in sorted(candidates - {target}):
                clash = self._strong_clash(target, other)
                if clash:
                    await self._record_conflict(target, other, clash, event_id)
                else:
                    await self._merge(other, target, reason=reason, event_id=event_id)

        now = clock.now()
        for kind, value in ref.identities():
            if (kind.value, value) not in self._owner:
                self._new_identities.append(
                    {
                        "customer_id": target,
                        "kind": kind.value,
                        "value": value,
                        "verified": verified,
                        "created_at": now,
                    }
                )
                self._owner[(kind.value, value)] = target
                self._looked_up.add((kind.value, value))
                if target in self._identities:
                    self._identities[target].append(_IdentityRow(kind.value, value, verified))
        return target

    def _create_customer(self) -> str:
        now = clock.now()
        customer_id = new_id("cus")
        self._new_customers.append(
            {
                "id": customer_id,
                "created_at": now,
                "updated_at": now,
                "attributes": {},
                "field_times": {},
            }
        )
        self._known[customer_id] = _Known(None, now)
        self._identities[customer_id] = []
        return customer_id

    def _choose_target(self, ref: CustomerRef, candidates: set[str]) -> str:
        if ref.customer_id:
            return self.canonical(ref.customer_id)

        def strength(customer_id: str) -> tuple[int, float, str]:
            ranks = [_RANK[IdentityKind(i.kind)] for i in self._identities[customer_id]]
            created = self._known[customer_id].created_at.timestamp()
            return (max(ranks, default=0), -created, customer_id)

        return max(candidates, key=strength)

    def _strong_clash(self, a: str, b: str) -> str | None:
        for kind in STRONG_KINDS:
            mine = {i.value for i in self._identities[a] if i.kind == kind and i.verified}
            theirs = {i.value for i in self._identities[b] if i.kind == kind and i.verified}
            if mine and theirs and not mine & theirs:
                return f"{kind.value}: {sorted(mine)} vs {sorted(theirs)}"
        return None

    async def _record_conflict(self, a: str, b: str, detail: str, event_id: str | None) -> None:
        pair = frozenset((a, b))
        if pair in self._conflicts:
            return
        self._conflicts.add(pair)
        conn = await self._conn()
        existing = await conn.execute(
            select(CONFLICTS.c.id).where(
                or_(
                    and_(CONFLICTS.c.customer_id == a, CONFLICTS.c.other_customer_id == b),
                    and_(CONFLICTS.c.customer_id == b, CONFLICTS.c.other_customer_id == a),
                ),
                CONFLICTS.c.status == "open",
            )
        )
        if existing.first() is None:
            await conn.execute(
                insert(CONFLICTS).values(
                    customer_id=a,
                    other_customer_id=b,
                    kind=detail.split(":", 1)[0],
                    detail=detail,
                    event_id=event_id,
                    status="open",
                    detected_at=clock.now(),
                )
            )

    async def _merge(self, source: str, target: str, *, reason: str, event_id: str | None) -> None:
        """Move everything ``source`` owns to ``target``; nothing is lost, the merge is logged."""
        await self.flush_pending()
        conn = await self._conn()
        moved: dict[str, int] = {}
        for table in _OWNED_TABLES:
            result = await conn.execute(
                update(table).where(table.c.customer_id == source).values(customer_id=target)
            )
            moved[str(table.name)] = result.rowcount
        # Profiles merged earlier into the source now point straight at the target.
        await conn.execute(
            update(CUSTOMERS)
            .where(CUSTOMERS.c.merged_into_id == source)
            .values(merged_into_id=target)
        )
        for known in self._known.values():
            if known.merged_into == source:
                known.merged_into = target
        for row in self._identities.pop(source, []):
            self._identities[target].append(row)
            self._owner[(row.kind, row.value)] = target

        traits = await load_traits(self.session, [source, target])
        if source in traits:
            merged = traits.get(target) or TraitState(customer_id=target)
            merge_traits(merged, traits[source])
            await save_traits(self.session, [merged], existing=set(traits) - {source})
            await delete_traits(self.session, source)

        await self._merge_profile_fields(conn, source, target)
        self._known[source].merged_into = target
        await conn.execute(
            insert(MERGES).values(
                source_customer_id=source,
                target_customer_id=target,
                reason=reason,
                event_id=event_id,
                moved=moved,
                merged_at=clock.now(),
            )
        )

    async def _merge_profile_fields(self, conn: AsyncConnection, source: str, target: str) -> None:
        columns = [CUSTOMERS.c[name] for name in (*_PROFILE_FIELDS, "attributes", "field_times")]
        rows = {
            row.id: row
            for row in await conn.execute(
                select(CUSTOMERS.c.id, *columns).where(CUSTOMERS.c.id.in_([source, target]))
            )
        }
        mine, theirs = rows[target], rows[source]
        values: dict[str, Any] = {
            name: getattr(theirs, name)
            for name in _PROFILE_FIELDS
            if getattr(mine, name) is None and getattr(theirs, name) is not None
        }
        values["attributes"] = {**theirs.attributes, **mine.attributes}
        values["field_times"] = {**theirs.field_times, **mine.field_times}
        values["merged_into_id"] = None
        await conn.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == target).values(values))
        await conn.execute(
            update(CUSTOMERS)
            .where(CUSTOMERS.c.id == source)
            .values(merged_into_id=target, updated_at=clock.now())
        )


async def resolve_identity(
    session: AsyncSession,
    ref: CustomerRef,
    *,
    reason: str,
    event_id: str | None = None,
    verified: bool = True,
) -> Customer:
    """The customer these identities belong to, created or merged as needed.

    Runs in the caller's transaction; the caller commits.
    """
    resolver = IdentityResolver(session)
    customer_id = await resolver.resolve(ref, reason=reason, event_id=event_id, verified=verified)
    await resolver.flush_pending()
    customer = await session.get(Customer, customer_id, populate_existing=True)
    assert customer is not None
    return customer


async def find_customer_id(session: AsyncSession, ref: CustomerRef) -> str | None:
    """Read-only lookup: the surviving customer id for a ref, or None. Never creates or merges."""
    resolver = IdentityResolver(session)
    await resolver.prefetch([ref])
    return resolver.known(ref)
