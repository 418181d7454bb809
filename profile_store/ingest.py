"""Event ingestion: validate a whole batch, then store it and update traits in one transaction.

Validation happens before any write, so a batch with one bad event is stored not at all and the
caller can fix and resend it whole. Storage is idempotent by ``event_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store import clock
from profile_store.consent import record_consent
from profile_store.identity import IdentityResolver, UnknownCustomerError
from profile_store.models import Customer, DiscountCode, Event
from profile_store.orders import ORDER_EVENTS, OrderEvent, apply_order_events
from profile_store.schemas import (
    PROPERTY_SCHEMAS,
    ConsentProps,
    EventError,
    EventIn,
    IdentifyProps,
    IngestResult,
    OrderProps,
)
from profile_store.scoring.store import live_params, save_scores, score_traits
from profile_store.trait_store import load_traits, save_traits
from profile_store.traits import TraitState, apply_event

EVENTS = Event.__table__  # type: ignore[attr-defined]
CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
CODES = DiscountCode.__table__  # type: ignore[attr-defined]

# Clocks differ; an event from further ahead than this is a bug in the sender, not skew.
MAX_CLOCK_SKEW = timedelta(hours=24)
PROFILE_FIELDS = ("first_name", "last_name", "timezone", "locale", "loyalty_tier")


class EventBatchRejectedError(ValueError):
    """The batch was refused as a whole; ``errors`` names each bad event and field."""

    def __init__(self, errors: list[EventError]) -> None:
        super().__init__(f"{len(errors)} error(s) in event batch")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ValidatedEvent:
    index: int
    event: EventIn
    props: BaseModel | None  # typed properties for standard types, None for custom events


def _errors(
    index: int, event_id: str | None, exc: ValidationError, prefix: str = ""
) -> list[EventError]:
    return [
        EventError(
            index=index,
            event_id=event_id,
            field=prefix + ".".join(str(part) for part in err["loc"])
            if err["loc"]
            else prefix.rstrip(".") or "event",
            message=err["msg"],
        )
        for err in exc.errors(include_url=False)
    ]


def validate_events(
    raw_events: Sequence[Any], *, default_region: str, now: datetime | None = None
) -> list[ValidatedEvent]:
    """Validate every event; raise one error listing all problems, or return them all typed."""
    now = now or clock.now()
    context = {"default_region": default_region}
    errors: list[EventError] = []
    validated: list[ValidatedEvent] = []
    for index, raw in enumerate(raw_events):
        raw_id = raw.get("event_id") if isinstance(raw, dict) else None
        event_id = raw_id if isinstance(raw_id, str) else None
        try:
            event = EventIn.model_validate(raw, context=context)
        except ValidationError as exc:
            errors.extend(_errors(index, event_id, exc))
            continue
        if event.occurred_at - now > MAX_CLOCK_SKEW:
            errors.append(
                EventError(
                    index=index,
                    event_id=event.event_id,
                    field="occurred_at",
                    message="is more than 24 hours in the future",
                )
            )
            continue
        schema = PROPERTY_SCHEMAS.get(event.type)
        props: BaseModel | None = None
        if schema is not None:
            try:
                props = schema.model_validate(event.properties)
            except ValidationError as exc:
                errors.extend(_errors(index, event.event_id, exc, prefix="properties."))
                continue
        validated.append(ValidatedEvent(index, event, props))
    if errors:
        raise EventBatchRejectedError(errors)
    return validated


@dataclass(frozen=True, slots=True)
class StoredEvents:
    """What became of each event handed to :func:`ingest_events`, in the same order."""

    customer_ids: list[str | None]  # the owner for a newly stored event; None for a duplicate

    def fresh(self, events: Sequence[ValidatedEvent]) -> list[tuple[ValidatedEvent, str]]:
        """The newly stored events among ``events`` (the same list given to ingestion), each
        with its customer id."""
        return [
            (event, customer_id)
            for event, customer_id in zip(events, self.customer_ids, strict=True)
            if customer_id is not None
        ]

    def result(self, start: int = 0, stop: int | None = None) -> IngestResult:
        """The summary for events ``start:stop`` (one request's share of a group commit)."""
        owners = self.customer_ids[start:stop]
        stored = [cid for cid in owners if cid is not None]
        return IngestResult(
            accepted=len(stored),
            duplicates=len(owners) - len(stored),
            customer_ids=sorted(set(stored)),
        )


async def ingest_events(
    session: AsyncSession, events: Sequence[ValidatedEvent], *, now: datetime | None = None
) -> StoredEvents:
    """Store new events, resolve their customers and fold them into traits, in the caller's
    transaction. Events whose ``event_id`` is already stored (or repeated in the batch) are
    acknowledged and skipped."""
    now = now or clock.now()
    unique: dict[str, ValidatedEvent] = {}
    for item in events:
        unique.setdefault(item.event.event_id, item)
    connection = await session.connection()
    stored = set(
        (
            await connection.execute(
                select(EVENTS.c.event_id).where(EVENTS.c.event_id.in_(list(unique)))
            )
        )
        .scalars()
        .all()
    )
    fresh = [item for event_id, item in unique.items() if event_id not in stored]

    resolver = IdentityResolver(session)
    await resolver.prefetch(item.event.customer for item in fresh)
    owners, errors = await _resolve_all(resolver, fresh)
    if errors:
        raise EventBatchRejectedError(errors)
    await resolver.flush_pending()  # new customers and identities exist before their events

    # A merge later in the batch may have moved a customer resolved earlier: use the survivor.
    customer_of = [resolver.canonical(owner) for owner in owners]
    if fresh:
        await connection.execute(
            insert(EVENTS),
            [
                {
                    "event_id": item.event.event_id,
                    "customer_id": customer_id,
                    "type": item.event.type,
                    "properties": item.event.properties,
                    "occurred_at": item.event.occurred_at,
                    "received_at": now,
                }
                for item, customer_id in zip(fresh, customer_of, strict=True)
            ],
        )

    touched = set(customer_of)
    stored_traits = await load_traits(session, touched)
    traits = {cid: stored_traits.get(cid) or TraitState(customer_id=cid) for cid in touched}
    identifies: dict[str, list[tuple[IdentifyProps, datetime]]] = {}
    for item, customer_id in zip(fresh, customer_of, strict=True):
        event = item.event
        apply_event(traits[customer_id], event.type, item.props, event.occurred_at)
        if isinstance(item.props, ConsentProps):
            await record_consent(
                session,
                customer_id,
                channel=item.props.channel,
                purpose=item.props.purpose,
                status=item.props.status,
                source=item.props.source,
                occurred_at=event.occurred_at,
                event_id=event.event_id,
            )
        elif isinstance(item.props, IdentifyProps):
            identifies.setdefault(customer_id, []).append((item.props, event.occurred_at))
    await save_traits(session, traits.values(), existing=set(stored_traits))
    # Scores from the live fitted parameters, in closed form: current as the event is stored.
    await save_scores(
        connection, score_traits(traits.values(), await live_params(connection), now), now
    )
    await _apply_identifies(connection, identifies)
    await _redeem_codes(connection, fresh, customer_of)
    await apply_order_events(
        connection,
        [
            OrderEvent(
                item.event.event_id,
                item.event.type,
                customer_id,
                item.props,
                item.event.occurred_at,
                item.event.properties,
            )
            for item, customer_id in zip(fresh, customer_of, strict=True)
            if item.event.type in ORDER_EVENTS
        ],
        now,
    )
    if touched:
        await connection.execute(
            update(CUSTOMERS).where(CUSTOMERS.c.id.in_(sorted(touched))).values(updated_at=now)
        )
    owner_of = {id(item): cid for item, cid in zip(fresh, customer_of, strict=True)}
    return StoredEvents([owner_of.get(id(item)) for item in events])


async def _redeem_codes(
    connection: AsyncConnection, items: Sequence[ValidatedEvent], owners: Sequence[str]
) -> None:
    """An order that carries one of the shopper's own active codes redeems it."""
    for item, customer_id in zip(items, owners, strict=True):
        if not isinstance(item.props, OrderProps) or not item.props.discount_code:
            continue
        await connection.execute(
            update(CODES)
            .where(
                CODES.c.code == item.props.discount_code.strip().upper(),
                CODES.c.customer_id == customer_id,
                CODES.c.status == "active",
            )
            .values(
                status="redeemed",
                redeemed_at=item.event.occurred_at,
                order_id=item.props.order_id,
            )
        )


async def _resolve_all(
    resolver: IdentityResolver, items: Sequence[ValidatedEvent]
) -> tuple[list[str], list[EventError]]:
    owners: list[str] = []
    errors: list[EventError] = []
    for item in items:
        try:
            owners.append(
                await resolver.resolve(
                    item.event.customer,
                    reason=f"{item.event.type} event",
                    event_id=item.event.event_id,
                )
            )
        except UnknownCustomerError as exc:
            errors.append(
                EventError(
                    index=item.index,
                    event_id=item.event.event_id,
                    field="customer.customer_id",
                    message=str(exc),
                )
            )
    return owners, errors


async def _apply_identifies(
    connection: AsyncConnection, identifies: dict[str, list[tuple[IdentifyProps, datetime]]]
) -> None:
    """Profile fields and custom traits from identify events; the newest value wins."""
    if not identifies:
        return
    columns = [CUSTOMERS.c[name] for name in (*PROFILE_FIELDS, "attributes", "field_times")]
    rows = await connection.execute(
        select(CUSTOMERS.c.id, *columns).where(CUSTOMERS.c.id.in_(sorted(identifies)))
    )
    for row in rows.all():
        values: dict[str, Any] = {}
        times = dict(row.field_times)
        attributes = dict(row.attributes)
        for props, occurred_at in identifies[row.id]:
            stamp = occurred_at.astimezone(UTC).isoformat()
            for field in PROFILE_FIELDS:
                value = getattr(props, field)
                if value is not None and times.get(field, "") <= stamp:
                    values[field] = value
                    times[field] = stamp
            for key, value in (props.model_extra or {}).items():
                if times.get(f"attributes.{key}", "") <= stamp:
                    attributes[key] = value
                    times[f"attributes.{key}"] = stamp
        values.update(attributes=attributes, field_times=times)
        await connection.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == row.id).values(values))
