"""Identity resolution: which customer do these identities belong to?

One person reaches the shop through many identities (a phone on SMS and WhatsApp, a Telegram id,
an email, an anonymous web visitor id). A ref that names identities owned by several profiles
joins them: the weaker profiles merge into the strongest, unless both already hold different
strong identities (two shop accounts, two verified emails or phones), which is recorded as a
conflict for review instead of being merged.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlmodel import and_, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store import models as m
from profile_store.models import Customer, Identity, IdentityKind
from profile_store.schemas import CustomerRef
from profile_store.traits import merge_traits

# Identities that say "this is a known, distinct person". Two profiles each holding one of the
# same kind are different people as far as automation can tell.
STRONG_KINDS = (IdentityKind.EXTERNAL_ID, IdentityKind.EMAIL, IdentityKind.PHONE)
# Which profile wins a merge: the one holding the highest-ranked identity.
_RANK = {
    IdentityKind.EXTERNAL_ID: 5,
    IdentityKind.EMAIL: 4,
    IdentityKind.PHONE: 3,
    IdentityKind.TELEGRAM_ID: 2,
    IdentityKind.ANONYMOUS_ID: 1,
}

# Tables whose rows follow a customer when its profile merges into another.
_OWNED_TABLES: tuple[type, ...] = (
    m.Event,
    m.Consent,
    m.Conversation,
    m.Decision,
    m.ScheduledSend,
)


class UnknownCustomerError(LookupError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"unknown customer_id {customer_id!r}")
        self.customer_id = customer_id


class IdentityResolver:
    """Resolves many refs in one transaction with few queries (the events API sends batches).

    Call :meth:`prefetch` with every ref of a batch first; :meth:`resolve` then only touches the
    database for new customers and merges.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._owner: dict[tuple[str, str], str] = {}  # (kind, value) -> customer id
        self._customers: dict[str, Customer] = {}
        self._identities: dict[str, list[Identity]] = {}  # customer id -> identities

    async def prefetch(self, refs: Iterable[CustomerRef]) -> None:
        refs = list(refs)
        pairs = {pair for ref in refs for pair in ref.identities()}
        customer_ids = {ref.customer_id for ref in refs if ref.customer_id}
        by_kind: dict[str, set[str]] = {}
        for kind, value in pairs:
            if (kind.value, value) not in self._owner:
                by_kind.setdefault(kind.value, set()).add(value)
        if by_kind:
            clause = or_(
                *(
                    and_(col(Identity.kind) == kind, col(Identity.value).in_(sorted(values)))
                    for kind, values in by_kind.items()
                )
            )
            rows = (await self.session.exec(select(Identity).where(clause))).all()
            for identity in rows:
                self._owner[(identity.kind, identity.value)] = identity.customer_id
                customer_ids.add(identity.customer_id)
        await self._load_customers(customer_ids)

    async def _load_customers(self, ids: set[str]) -> None:
        missing = {i for i in ids if i not in self._customers}
        while missing:
            rows = (
                await self.session.exec(
                    select(Customer).where(col(Customer.id).in_(sorted(missing)))
                )
            ).all()
            for customer in rows:
                self._customers[customer.id] = customer
            # Follow merges so a stale id still reaches the surviving profile.
            missing = {
                c.merged_into_id
                for c in rows
                if c.merged_into_id and c.merged_into_id not in self._customers
            }
        to_load = [i for i in ids if i in self._customers and i not in self._identities]
        if to_load:
            rows_i = (
                await self.session.exec(
                    select(Identity).where(col(Identity.customer_id).in_(to_load))
                )
            ).all()
            for cid in to_load:
                self._identities[cid] = []
            for identity in rows_i:
                self._identities.setdefault(identity.customer_id, []).append(identity)

    def known(self, ref: CustomerRef) -> Customer | None:
        """The prefetched owner of ``ref``, without creating or merging anything."""
        if ref.customer_id:
            return self.canonical(ref.customer_id) if ref.customer_id in self._customers else None
        for kind, value in ref.identities():
            owner = self._owner.get((kind.value, value))
            if owner is not None:
                return self.canonical(owner)
        return None

    def canonical(self, customer_id: str) -> Customer:
        customer = self._customers[customer_id]
        while customer.merged_into_id:
            customer = self._customers[customer.merged_into_id]
        return customer

    async def resolve(
        self,
        ref: CustomerRef,
        *,
        reason: str,
        event_id: str | None = None,
        verified: bool = True,
    ) -> Customer:
        await self.prefetch([ref])
        candidates: dict[str, Customer] = {}
        if ref.customer_id:
            if ref.customer_id not in self._customers:
                raise UnknownCustomerError(ref.customer_id)
            explicit = self.canonical(ref.customer_id)
            candidates[explicit.id] = explicit
        for kind, value in ref.identities():
            owner = self._owner.get((kind.value, value))
            if owner is not None:
                customer = self.canonical(owner)
                candidates[customer.id] = customer

        if not candidates:
            target = Customer()
            self.session.add(target)
            self._customers[target.id] = target
            self._identities[target.id] = []
        elif len(candidates) == 1:
            target = next(iter(candidates.values()))
        else:
            target = self._choose_target(ref, list(candidates.values()))
            for other in candidates.values():
                if other.id == target.id:
                    continue
                clash = self._strong_clash(target.id, other.id)
                if clash:
                    await self._record_conflict(target.id, other.id, clash, event_id)
                else:
                    await self._merge(other, target, reason=reason, event_id=event_id)

        for kind, value in ref.identities():
            if (kind.value, value) not in self._owner:
                identity = Identity(
                    customer_id=target.id, kind=kind.value, value=value, verified=verified
                )
                self.session.add(identity)
                self._owner[(kind.value, value)] = target.id
                self._identities.setdefault(target.id, []).append(identity)
        return target

    def _choose_target(self, ref: CustomerRef, candidates: list[Customer]) -> Customer:
        if ref.customer_id:
            return self.canonical(ref.customer_id)

        def strength(customer: Customer) -> tuple[int, float]:
            ranks = [_RANK[IdentityKind(i.kind)] for i in self._identities.get(customer.id, [])]
            return (max(ranks, default=0), -customer.created_at.timestamp())

        return max(candidates, key=strength)

    def _strong_clash(self, a: str, b: str) -> str | None:
        for kind in STRONG_KINDS:
            mine = {i.value for i in self._identities.get(a, []) if i.kind == kind and i.verified}
            theirs = {i.value for i in self._identities.get(b, []) if i.kind == kind and i.verified}
            if mine and theirs and not mine & theirs:
                return f"{kind.value}: {sorted(mine)} vs {sorted(theirs)}"
        return None

    async def _record_conflict(self, a: str, b: str, detail: str, event_id: str | None) -> None:
        existing = (
            await self.session.exec(
                select(m.IdentityConflict).where(
                    or_(
                        and_(
                            col(m.IdentityConflict.customer_id) == a,
                            col(m.IdentityConflict.other_customer_id) == b,
                        ),
                        and_(
                            col(m.IdentityConflict.customer_id) == b,
                            col(m.IdentityConflict.other_customer_id) == a,
                        ),
                    ),
                    m.IdentityConflict.status == "open",
                )
            )
        ).first()
        if existing is None:
            self.session.add(
                m.IdentityConflict(
                    customer_id=a,
                    other_customer_id=b,
                    kind=detail.split(":", 1)[0],
                    detail=detail,
                    event_id=event_id,
                )
            )

    async def _merge(
        self, source: Customer, target: Customer, *, reason: str, event_id: str | None
    ) -> None:
        """Move everything ``source`` owns to ``target``; nothing is deleted but derived traits."""
        session = self.session
        await session.flush()
        moved: dict[str, int] = {}
        for table in (*_OWNED_TABLES, Identity):
            result = await session.exec(
                update(table)
                .where(table.customer_id == source.id)  # type: ignore[attr-defined]
                .values(customer_id=target.id)
                .execution_options(synchronize_session=False)
            )
            moved[table.__tablename__] = result.rowcount  # type: ignore[attr-defined]
        # Profiles merged earlier into the source now point straight at the target.
        await session.exec(
            update(Customer)
            .where(col(Customer.merged_into_id) == source.id)
            .values(merged_into_id=target.id)
            .execution_options(synchronize_session=False)
        )
        for customer in self._customers.values():
            if customer.merged_into_id == source.id:
                customer.merged_into_id = target.id
        for identity in self._identities.pop(source.id, []):
            identity.customer_id = target.id
            self._identities.setdefault(target.id, []).append(identity)
            self._owner[(identity.kind, identity.value)] = target.id

        source_traits = await session.get(m.CustomerTraits, source.id)
        if source_traits is not None:
            target_traits = await session.get(m.CustomerTraits, target.id)
            if target_traits is None:
                target_traits = m.CustomerTraits(customer_id=target.id)
                session.add(target_traits)
            merge_traits(target_traits, source_traits)
            await session.delete(source_traits)

        for field in ("first_name", "last_name", "timezone", "locale", "loyalty_tier"):
            if getattr(target, field) is None and getattr(source, field) is not None:
                setattr(target, field, getattr(source, field))
        target.attributes = {**source.attributes, **target.attributes}
        source.merged_into_id = target.id
        session.add(
            m.ProfileMerge(
                source_customer_id=source.id,
                target_customer_id=target.id,
                reason=reason,
                event_id=event_id,
                moved=moved,
            )
        )
        await session.flush()


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
    return await IdentityResolver(session).resolve(
        ref, reason=reason, event_id=event_id, verified=verified
    )


async def find_customer(session: AsyncSession, ref: CustomerRef) -> Customer | None:
    """Read-only lookup: the customer for a ref, or None. Never creates or merges."""
    resolver = IdentityResolver(session)
    await resolver.prefetch([ref])
    return resolver.known(ref)
