"""SQLModel tables of the profile store.

Conversations, messages, decisions and scheduled sends start minimal here; the channel, policy
and scheduler layers grow them through migrations.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from profile_store.columns import PortableJSON, UTCDateTime, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
AutoIncrement: Any = BigInteger().with_variant(Integer(), "sqlite")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def keyed_id(prefix: str, key: str) -> str:
    """The same id for the same ``key``: a write retried under one key lands on one row."""
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    TELEGRAM_ID = "telegram_id"
    WHATSAPP_ID = "whatsapp_id"  # a business-scoped user id: WhatsApp users may hide their phone
    ANONYMOUS_ID = "anonymous_id"
    EXTERNAL_ID = "external_id"


class Channel(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    EMAIL = "email"
    WEBCHAT = "webchat"


class ConsentPurpose(StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"


class Customer(SQLModel, table=True):
    __tablename__ = "customers"

    id: str = Field(default_factory=lambda: new_id("cus"), primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    merged_into_id: str | None = Field(
        default=None, foreign_key="customers.id", index=True, max_length=40
    )
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=35)
    loyalty_tier: str | None = Field(default=None, max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    # When each profile field was last set, so a late identify event cannot undo a newer one.
    field_times: dict[str, str] = Field(default_factory=dict, sa_type=PortableJSON)


class Identity(SQLModel, table=True):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identities_kind_value"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=40)
    kind: str = Field(max_length=20)
    value: str = Field(max_length=320)
    verified: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerTraits(SQLModel, table=True):
    """Derived traits, updated in the same transaction as each event.

    The times that queries filter on (recency, win-back) are columns; the rest of the fold
    state (counters, per-currency sums, affinities, cart lines, purchases) is one JSON document,
    read and written whole: one (de)serialisation per customer keeps ingestion fast.
    """

    __tablename__ = "customer_traits"

    customer_id: str = Field(foreign_key="customers.id", primary_key=True, max_length=40)
    first_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_order_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_customer_occurred", "customer_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    event_id: str = Field(max_length=200, unique=True)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    type: str = Field(max_length=64, index=True)
    properties: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Consent(SQLModel, table=True):
    """Consent history: rows are appended, never updated; the current state is the latest one."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_customer_channel", "customer_id", "channel", "purpose"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    channel: str = Field(max_length=16)
    purpose: str = Field(max_length=16)
    status: str = Field(max_length=10)
    source: str = Field(max_length=64)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    event_id: str | None = Field(default=None, max_length=200)


class ProfileMerge(SQLModel, table=True):
    __tablename__ = "profile_merges"

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    source_customer_id: str = Field(foreign_key="customers.id", index=True, max_length=40)
    target_customer_id: str = Field(foreign_key="customers.id", index=True, max_length=40)
    reason: str = Field(max_length=200)
    event_id: str | None = Field(default=None, max_length=200)
    moved: dict[str, int] = Field(default_factory=dict, sa_type=PortableJSON)
    merged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IdentityConflict(SQLModel, table=True):
    """Two profiles that an identify event would join but that hold different strong identities."""

    __tablename__ = "identity_conflicts"

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=40)
    other_customer_id: str = Field(foreign_key="customers.id", index=True, max_length=40)
    kind: str = Field(max_length=20)
    detail: str = Field(max_length=1000)
    event_id: str | None = Field(default=None, max_length=200)
    status: str = Field(default="open", max_length=16)
    detected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Conversation(SQLModel, table=True):
    """One shopper's thread on one channel address.

    ``due_at`` says when it has work (inbound messages after the burst window, or replies to
    deliver); a worker claims it with ``lease_until`` so one conversation is handled by one
    worker at a time, in order, while different conversations run concurrently.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "address", name="uq_conversations_address"),
        Index("ix_conversations_due", "due_at"),
    )

    id: str = Field(default_factory=lambda: new_id("cnv"), primary_key=True, max_length=40)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=40)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)
    owner: str = Field(default="bot", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_inbound_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_token: str | None = Field(default=None, max_length=40)
    attention: str | None = Field(
        default=None, max_length=1000, description="Why a person should look (a failed turn)"
    )
    attention_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MessageStatus(StrEnum):
    PENDING = "pending"  # inbound, waiting for its turn
    HANDLED = "handled"  # inbound, answered (or deliberately not)
    QUEUED = "queued"  # outbound, waiting for delivery
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"


class Message(SQLModel, table=True):
    """Every message in and out, stored before the provider is answered or called."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id", name="uq_messages_provider_id"),
        UniqueConstraint("idempotency_key", name="uq_messages_idempotency_key"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_conversation_status", "conversation_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40)
    channel: str = Field(max_length=16)
    direction: str = Field(max_length=8)
    kind: str = Field(default="text", max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=200)
    text: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    status: str = Field(default=MessageStatus.PENDING.value, max_length=32)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Decision(SQLModel, table=True):
    """One next-best-action decision and what became of it: the "why" a marketer reads."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_customer_created", "customer_id", "created_at"),
        Index("ix_decisions_created", "created_at"),  # the lift report's range scan
    )

    id: str = Field(default_factory=lambda: new_id("dec"), primary_key=True, max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    trigger: str = Field(max_length=64)
    program: str = Field(max_length=64)
    action: str = Field(max_length=64)
    channel: str | None = Field(default=None, max_length=16)
    send_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    product_ids: list[str] = Field(default_factory=list, sa_type=PortableJSON)
    verdict: str = Field(max_length=32, description="scheduled, suppressed or held_out")
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=PortableJSON)
    held_out: bool = False
    repeat: bool = Field(
        default=False,
        description="A reminder about products this customer was reminded of within the "
        "attribution window: measured apart from first reminders",
    )
    variant: str | None = Field(default=None, max_length=32, description="The copy variant sent")
    details: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    outcome: str | None = Field(default=None, max_length=32)
    outcome_reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=PortableJSON)
    outcome_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ScheduledSend(SQLModel, table=True):
    """A durable outbound send: claimed with a lease, re-checked at due time, sent once."""

    __tablename__ = "scheduled_sends"
    __table_args__ = (
        Index("ix_scheduled_sends_status_due", "status", "due_at"),
        Index("ix_scheduled_sends_customer_status", "customer_id", "status"),
        Index("ix_scheduled_sends_decision", "decision_id"),
    )

    id: str = Field(default_factory=lambda: new_id("snd"), primary_key=True, max_length=40)
    idempotency_key: str = Field(max_length=200, unique=True)
    decision_id: str | None = Field(default=None, foreign_key="decisions.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    channel: str = Field(max_length=16)
    purpose: str = Field(default="marketing", max_length=16)
    program: str = Field(max_length=64)
    product_ids: list[str] = Field(default_factory=list, sa_type=PortableJSON)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    action: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=PortableJSON,
        description="The policy Action decided on, evaluated again unchanged at send time",
    )
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_token: str | None = Field(default=None, max_length=40)
    last_error: str | None = Field(default=None, max_length=1000)
    provider_message_id: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TrackedLink(SQLModel, table=True):
    """A short link in an automated message: fits an SMS, and says when the shopper clicked."""

    __tablename__ = "tracked_links"
    __table_args__ = (Index("ix_tracked_links_decision", "decision_id"),)

    code: str = Field(primary_key=True, max_length=16)
    url: str = Field(max_length=2000)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    decision_id: str | None = Field(default=None, max_length=40)
    send_id: str | None = Field(default=None, max_length=40)
    channel: str = Field(max_length=16)
    product_id: str | None = Field(default=None, max_length=64)
    clicks: int = 0
    first_clicked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TriggerTimer(SQLModel, table=True):
    """A trigger waiting for its window to end (cart abandoned 30 minutes after the last change).

    One pending timer per customer and kind: a newer cart change moves it instead of adding one.
    """

    __tablename__ = "trigger_timers"
    __table_args__ = (
        # At most one pending timer per customer, kind and anchor (partial unique index).
        Index(
            "uq_trigger_timers_pending",
            "customer_id",
            "kind",
            "anchor",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_trigger_timers_status_fire", "status", "fire_at"),
        Index("ix_trigger_timers_customer", "customer_id"),
        # Catalog changes look up the watches on the changed products.
        Index("ix_trigger_timers_watch", "status", "kind", "anchor"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    kind: str = Field(max_length=32)
    anchor: str = Field(max_length=200, description="what the timer is about: cart, order id…")
    fire_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(
        default="pending", max_length=32, description="pending, fired, error, cancelled:<why>"
    )
    product_ids: list[str] = Field(default_factory=list, sa_type=PortableJSON)
    details: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=PortableJSON,
        description="a watch's condition (size, price below) and expiry; a reminder's request",
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Approval(SQLModel, table=True):
    """Something the agent may not do without a person saying yes (a large discount).

    Written when the agent's graph pauses for it; deciding it resumes the conversation.
    """

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_status_created", "status", "created_at"),)

    id: str = Field(default_factory=lambda: new_id("apr"), primary_key=True, max_length=40)
    request_key: str = Field(max_length=200, unique=True, description="one per paused tool call")
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    kind: str = Field(max_length=32)
    request: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    status: str = Field(default="pending", max_length=16, description="pending, approved, rejected")
    decided_by: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """An admin API token. Only its SHA-256 is stored: the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: str = Field(default_factory=lambda: new_id("tok"), primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16, description="marketer or developer")
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16, description="the token's first characters, to tell it")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who changed what through the admin API, and the value before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    actor_token_id: str | None = Field(default=None, max_length=40)
    role: str = Field(max_length=16)
    action: str = Field(max_length=64)
    target: str = Field(max_length=200)
    before: dict[str, Any] | None = Field(default=None, sa_type=PortableJSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=PortableJSON)


class GuardrailsVersion(SQLModel, table=True):
    """Every guardrails document that was ever live; the highest version is the running one."""

    __tablename__ = "guardrails_versions"

    version: int = Field(primary_key=True, sa_type=AutoIncrement)
    document: dict[str, Any] = Field(sa_type=PortableJSON)
    source: str = Field(max_length=64, description="api, file, demo, or restore:<version>")
    created_by: str = Field(max_length=200)
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebChatVisitor(SQLModel, table=True):
    """A web chat visitor's mailbox: every session of one ``anonymous_id`` reads the same one.

    ``last_seq`` numbers the visitor's entries. Raising it locks the row, so entries of one
    visitor are numbered in the order they commit: a reader that has seen entry n has seen
    every entry before it, and ``?after=n`` never skips one.
    """

    __tablename__ = "webchat_visitors"

    anonymous_id: str = Field(primary_key=True, max_length=200)
    last_seq: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebChatSession(SQLModel, table=True):
    """One browser's session of a visitor. Only the token's SHA-256 is stored."""

    __tablename__ = "webchat_sessions"

    id: str = Field(default_factory=lambda: new_id("wcs"), primary_key=True, max_length=40)
    anonymous_id: str = Field(
        foreign_key="webchat_visitors.anonymous_id", index=True, max_length=200
    )
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebChatEntry(SQLModel, table=True):
    """One message as the visitor's page shows it: theirs, the bot's or a person's.

    Web chat's own mailbox, the part a provider keeps for the other channels: the pipeline's
    ``messages`` stay its record, and sending on web chat means writing an entry here.
    """

    __tablename__ = "webchat_entries"
    __table_args__ = (
        UniqueConstraint("anonymous_id", "seq", name="uq_webchat_entries_seq"),
        UniqueConstraint("idempotency_key", name="uq_webchat_entries_idempotency_key"),
        Index("ix_webchat_entries_session_created", "session_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    anonymous_id: str = Field(foreign_key="webchat_visitors.anonymous_id", max_length=200)
    seq: int
    sender: str = Field(max_length=8, description="shopper, bot or human")
    session_id: str | None = Field(
        default=None, max_length=40, description="The session a shopper's entry came from"
    )
    idempotency_key: str | None = Field(default=None, max_length=200)
    text: str = ""
    cards: list[dict[str, Any]] = Field(default_factory=list, sa_type=PortableJSON)
    buttons: list[dict[str, Any]] = Field(default_factory=list, sa_type=PortableJSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DiscountCode(SQLModel, table=True):
    """A discount code the agent granted: personal, with a scope and an expiry, redeemed once.

    One active code per shopper per offer window: asking again returns this one. The shop checks
    a code with ``GET /v1/discounts/{code}``; the ``order_completed`` event that carries it in
    ``discount_code`` marks it redeemed.
    """

    __tablename__ = "discount_codes"
    __table_args__ = (Index("ix_discount_codes_customer_status", "customer_id", "status"),)

    code: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    percent: float
    product_ids: list[str] = Field(
        default_factory=list, sa_type=PortableJSON, description="empty: the whole order"
    )
    minimum_order: float = Field(default=0.0, description="order total it needs, 0 for none")
    status: str = Field(default="active", max_length=16, description="active or redeemed")
    decision_id: str | None = Field(default=None, max_length=40)
    conversation_id: str | None = Field(default=None, max_length=40)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    redeemed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    order_id: str | None = Field(default=None, max_length=200)


class OrderState(StrEnum):
    """Where an order is, as the shop's lifecycle events last said."""

    PLACED = "placed"  # not shipped yet: cancellable, address and items can change
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"
    EXCHANGE_REQUESTED = "exchange_requested"


class Order(SQLModel, table=True):
    """One order's current state, folded from its lifecycle events (``order_history`` keeps
    each of them)."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_placed", "customer_id", "placed_at"),)

    id: str = Field(primary_key=True, max_length=200, description="The shop's order id")
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    status: str = Field(default=OrderState.PLACED.value, max_length=32)
    total: float | None = None
    currency: str | None = Field(default=None, max_length=3)
    items: list[dict[str, Any]] = Field(default_factory=list, sa_type=PortableJSON)
    address: dict[str, Any] | None = Field(default=None, sa_type=PortableJSON)
    email: str | None = Field(default=None, max_length=320)
    shipments: list[dict[str, Any]] = Field(default_factory=list, sa_type=PortableJSON)
    return_items: list[str] = Field(default_factory=list, sa_type=PortableJSON)
    exchange_items: list[dict[str, Any]] = Field(default_factory=list, sa_type=PortableJSON)
    placed_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class OrderHistory(SQLModel, table=True):
    """Each lifecycle event of an order, in the order it happened."""

    __tablename__ = "order_history"
    __table_args__ = (Index("ix_order_history_order_occurred", "order_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    order_id: str = Field(max_length=200)
    event_id: str = Field(max_length=200, unique=True)
    type: str = Field(max_length=64)
    status: str = Field(max_length=32, description="the order's state after this event")
    details: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    occurred_at: datetime = Field(sa_type=UTCDateTime)


class OrderRequest(SQLModel, table=True):
    """An after-sale action the agent asks the shop for: proposed to the shopper, confirmed by
    their yes, then sent to the shop (signed webhook, retried) or handed to a person, and
    completed by the shop's event."""

    __tablename__ = "order_requests"
    __table_args__ = (
        Index("ix_order_requests_status_due", "status", "next_attempt_at"),
        Index("ix_order_requests_conversation", "conversation_id", "created_at"),
        Index("ix_order_requests_order", "order_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(max_length=200)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    conversation_id: str | None = Field(default=None, max_length=40)
    channel: str = Field(max_length=16)
    action: str = Field(max_length=32)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    status: str = Field(max_length=32)
    proposed_in: str | None = Field(default=None, max_length=200, description="turn id")
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderVerification(SQLModel, table=True):
    """A conversation whose shopper proved who they are (an order's email, or name and zip)."""

    __tablename__ = "order_verifications"

    conversation_id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    method: str = Field(max_length=16)
    verified_at: datetime = Field(sa_type=UTCDateTime)


class ScoreModel(SQLModel, table=True):
    """One fit of the scoring models (profile_store/scoring): the newest row is live."""

    __tablename__ = "score_models"

    id: int | None = Field(default=None, primary_key=True, sa_type=AutoIncrement)
    version: str = Field(max_length=64, unique=True)
    customers: int = Field(default=0, description="customers the fit was made on")
    params: dict[str, Any] = Field(default_factory=dict, sa_type=PortableJSON)
    fitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerScore(SQLModel, table=True):
    """A customer's scores as of their last event (or the last refit), with the why."""

    __tablename__ = "customer_scores"

    customer_id: str = Field(foreign_key="customers.id", primary_key=True, max_length=40)
    purchase_propensity_7d: float
    churn_risk_90d: float
    discount_sensitivity: float
    expected_value_90d: float
    details: dict[str, Any] = Field(
        default_factory=dict, sa_type=PortableJSON, description="per score: explanation, version"
    )
    scored_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
