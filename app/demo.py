"""Demo data for ``make run``: a few shoppers with a believable recent history.

Event ids are fixed, so loading twice stores everything once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.settings import Settings
from policy.guardrails import load_guardrails
from policy.triggers import update_timers
from profile_store import clock
from profile_store.database import create_engine, session_factory, transaction
from profile_store.ingest import ingest_events, validate_events
from profile_store.schemas import IngestResult

ANN = {"phone": "+15551234567", "email": "ann@example.com"}
BEN = {"phone": "+447700900123", "email": "ben@example.co.uk"}
CHLOE = {"telegram_id": "100200300"}
DEV = {"anonymous_id": "web-visitor-42"}


def demo_events(now: datetime) -> list[dict[str, Any]]:
    def ev(
        n: str, type_: str, who: dict[str, Any], hours_ago: float, **props: Any
    ) -> dict[str, Any]:
        occurred = (now - timedelta(hours=hours_ago)).isoformat()
        return {
            "event_id": f"demo-{n}",
            "type": type_,
            "customer": who,
            "properties": props,
            "occurred_at": occurred,
        }

    return [
        ev(
            "ann-1",
            "identify",
            ANN,
            400,
            first_name="Ann",
            last_name="Lee",
            timezone="America/New_York",
            loyalty_tier="gold",
        ),
        ev(
            "ann-2",
            "consent_changed",
            ANN,
            399,
            channel="sms",
            purpose="marketing",
            status="granted",
            source="checkout",
        ),
        ev(
            "ann-3",
            "consent_changed",
            ANN,
            399,
            channel="whatsapp",
            purpose="marketing",
            status="granted",
            source="checkout",
        ),
        ev(
            "ann-4",
            "product_viewed",
            ANN,
            80,
            product_id="rain-jacket-01",
            category="Outerwear > Jackets",
            price=129.0,
            currency="USD",
        ),
        ev(
            "ann-5",
            "order_completed",
            ANN,
            72,
            order_id="A-1001",
            total=129.0,
            currency="USD",
            items=[
                {
                    "product_id": "rain-jacket-01",
                    "quantity": 1,
                    "price": 129.0,
                    "category": "Outerwear > Jackets",
                }
            ],
        ),
        ev(
            "ann-6",
            "added_to_cart",
            ANN,
            3,
            product_id="trail-shoe-42",
            quantity=1,
            price=89.0,
            currency="USD",
            category="Shoes > Running",
        ),
        ev(
            "ben-1",
            "identify",
            BEN,
            900,
            first_name="Ben",
            timezone="Europe/London",
            loyalty_tier="silver",
        ),
        ev(
            "ben-2",
            "consent_changed",
            BEN,
            899,
            channel="sms",
            purpose="marketing",
            status="granted",
        ),
        ev(
            "ben-3",
            "order_completed",
            BEN,
            700,
            order_id="B-2001",
            total=45.0,
            currency="GBP",
            items=[
                {
                    "product_id": "wool-beanie",
                    "quantity": 1,
                    "price": 45.0,
                    "category": "Accessories",
                }
            ],
        ),
        ev("ben-4", "message_opened", BEN, 600, channel="sms"),
        ev(
            "chloe-1",
            "product_viewed",
            CHLOE,
            2,
            product_id="yoga-mat-pro",
            category="Fitness",
            price=59.0,
            currency="EUR",
        ),
        ev(
            "chloe-2",
            "consent_changed",
            CHLOE,
            2,
            channel="telegram",
            purpose="marketing",
            status="granted",
            source="bot:/start",
        ),
        ev(
            "dev-1",
            "product_viewed",
            DEV,
            1,
            product_id="desk-lamp",
            category="Home",
            price=39.0,
            currency="USD",
        ),
    ]


async def load_demo_profiles(settings: Settings) -> IngestResult:
    """Store the demo events the way the events API does, trigger timers included."""
    events = validate_events(demo_events(clock.now()), default_region=settings.default_phone_region)
    rules = load_guardrails(settings.guardrails_file)
    engine = create_engine(
        settings.sqlalchemy_url, busy_timeout=settings.sqlite_busy_timeout_seconds
    )
    try:
        async with transaction(session_factory(engine)) as session:
            stored = await ingest_events(session, events)
            await update_timers(session, stored.fresh(events), rules)
            return stored.result()
    finally:
        await engine.dispose()
