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
from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.consent import record_consent
from profile_store.identity import IdentityResolver, UnknownCustomerError
from profile_store.models import Customer, CustomerTraits, Event
from profile_store.schemas import (
    PROPERTY_SCHEMAS,
    ConsentProps,
    EventError,
    EventIn,
    IdentifyProps,
    IngestResult,
)
from profile_store.traits import apply_event

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
    now = now or datetime.now(UTC)
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


async def ingest_events(
    session: AsyncSession, events: Sequence[ValidatedEvent], *, now: datetime | None = None
) -> IngestResult:
    """Store new events, resolve their customers and fold them into traits, in the caller's
    transaction. Events whose ``event_id`` is already stored (or repeated in the batch) are
    acknowledged and skipped."""
    now = now or datetime.now(UTC)
    unique: dict[str, ValidatedEvent] = {}
    for item in events:
        unique.setdefault(item.event.event_id, item)
    stored = set(
        (
            await session.exec(select(Event.event_id).where(col(Event.event_id).in_(list(unique))))
        ).all()
    )
    fresh = [item for event_id, item in unique.items() if event_id not in stored]

    resolver = IdentityResolver(session)
    await resolver.prefetch(item.event.customer for item in fresh)
    owners: list[Customer] = []
    errors: list[EventError] = []
    for item in fresh:
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
    if errors:
        raise EventBatchRejectedError(errors)
    await session.flush()  # new customers and identities exist before their events

    # A merge later in the batch may have moved a customer resolved earlier: use the survivor.
    customer_of = [resolver.canonical(owner.id) for owner in owners]
    if fresh:
        connection = await session.connection()
        await connection.execute(
            insert(Event),
            [
                {
                    "event_id": item.event.event_id,
                    "customer_id": customer.id,
                    "type": item.event.type,
                    "properties": item.event.properties,
                    "occurred_at": item.event.occurred_at,
                    "received_at": now,
                }
                for item, customer in zip(fresh, customer_of, strict=True)
            ],
        )

    traits = await _load_traits(session, {c.id for c in customer_of})
    for item, customer in sorted(
        zip(fresh, customer_of, strict=True), key=lambda pair: pair[0].event.occurred_at
    ):
        event = item.event
        apply_event(traits[customer.id], event.type, item.props, event.occurred_at)
        if isinstance(item.props, ConsentProps):
            await record_consent(
                session,
                customer.id,
                channel=item.props.channel,
                purpose=item.props.purpose,
                status=item.props.status,
                source=item.props.source,
                occurred_at=event.occurred_at,
                event_id=event.event_id,
            )
        elif isinstance(item.props, IdentifyProps):
            _apply_identify(customer, item.props, event.occurred_at)
    for customer in {c.id: c for c in customer_of}.values():
        customer.updated_at = now
    await session.flush()
    return IngestResult(
        accepted=len(fresh),
        duplicates=len(events) - len(fresh),
        customer_ids=sorted({c.id for c in customer_of}),
    )


async def _load_traits(session: AsyncSession, customer_ids: set[str]) -> dict[str, CustomerTraits]:
    found = {
        t.customer_id: t
        for t in (
            await session.exec(
                select(CustomerTraits).where(
                    col(CustomerTraits.customer_id).in_(sorted(customer_ids))
                )
            )
        ).all()
    }
    for customer_id in customer_ids - found.keys():
        found[customer_id] = CustomerTraits(customer_id=customer_id)
        session.add(found[customer_id])
    return found


def _apply_identify(customer: Customer, props: IdentifyProps, occurred_at: datetime) -> None:
    """Profile fields and custom traits from an identify event; the newest value wins."""
    times = dict(customer.field_times)
    stamp = occurred_at.astimezone(UTC).isoformat()
    for field in PROFILE_FIELDS:
        value = getattr(props, field)
        if value is not None and times.get(field, "") <= stamp:
            setattr(customer, field, value)
            times[field] = stamp
    extra = props.model_extra or {}
    attributes = dict(customer.attributes)
    for key, value in extra.items():
        slot = f"attributes.{key}"
        if times.get(slot, "") <= stamp:
            attributes[key] = value
            times[slot] = stamp
    customer.attributes = attributes
    customer.field_times = times
