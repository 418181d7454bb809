"""``update_preferences``: what the shopper tells us about themselves, into their profile.

Written as an ``identify`` event through the normal ingestion path, so it is stored, dated and
merged exactly like data from the shop (newest value wins), and the policy reads it: a stated
preferred channel is chosen when it may be used, stated quiet hours hold for every automated
message.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.database import run_transaction
from profile_store.ingest import ValidatedEvent, ingest_events
from profile_store.models import Channel
from profile_store.schemas import CustomerRef, EventIn, IdentifyProps
from tools.agent_tools.shopper import Shopper, ToolServices

MESSAGING_CHANNELS = (Channel.SMS, Channel.WHATSAPP, Channel.TELEGRAM)


class QuietHoursPreference(BaseModel):
    start: time
    end: time


class PreferencesUpdate(BaseModel):
    preferred_channel: Channel | None = None
    quiet_hours: QuietHoursPreference | None = None
    topics: list[str] | None = Field(default=None, max_length=10)
    size: str | None = Field(default=None, min_length=1, max_length=16)

    @field_validator("preferred_channel")
    @classmethod
    def _messaging(cls, value: Channel | None) -> Channel | None:
        if value is not None and value not in MESSAGING_CHANNELS:
            raise ValueError("preferred channel must be sms, whatsapp or telegram")
        return value

    @field_validator("topics")
    @classmethod
    def _short_topics(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        topics = [t.strip().lower() for t in value if t.strip()]
        if any(len(t) > 40 for t in topics):
            raise ValueError("a topic is at most 40 characters")
        return topics

    def attributes(self) -> dict[str, Any]:
        values = self.model_dump(mode="json", exclude_none=True)
        if self.quiet_hours is not None:
            values["quiet_hours"] = {
                "start": self.quiet_hours.start.strftime("%H:%M"),
                "end": self.quiet_hours.end.strftime("%H:%M"),
            }
        return values


class PreferencesAnswer(BaseModel):
    saved: dict[str, Any]
    note: str | None = None


async def update_preferences(
    services: ToolServices, shopper: Shopper, update: PreferencesUpdate, now: datetime
) -> PreferencesAnswer:
    saved = update.attributes()
    if not saved:
        return PreferencesAnswer(saved={}, note="nothing to save")
    digest = hashlib.sha256(repr(sorted(saved.items())).encode()).hexdigest()[:16]
    event = EventIn(
        event_id=f"agent-preferences:{shopper.customer_id}:{now.isoformat()}:{digest}",
        type="identify",
        customer=CustomerRef(customer_id=shopper.customer_id),
        properties=saved,
        occurred_at=now,
    )
    item = ValidatedEvent(0, event, IdentifyProps.model_validate(saved))

    async def save(session: AsyncSession) -> None:
        await ingest_events(session, [item], now=now)

    await run_transaction(services.writers, save, name="tool.save_preferences")
    return PreferencesAnswer(saved=saved)
