"""Market simulator: synthetic shoppers against the real system, static rules vs ChatCommerce.

Run: ``python -m bench.market_sim [--quick] [--seed N] [--market FILE] [--customers N]
[--days N] [--out PATH]``. Writes ``bench/results/market_sim.json`` and prints a table.

Why: the argument for per-customer decisioning is that it beats the rule book; this measures it
on shoppers whose hidden traits the system cannot read, only infer from what they do. Each
policy runs the real app in-process (events API and Twilio webhooks through ``httpx``'s ASGI
transport, the real trigger timers, decisioning, eligibility, scheduler and Twilio adapter
against the fake Twilio server of ``tests/fake_providers``), under a ``FixedClock`` stepped a
quarter of an hour at a time. A shopper *receives* a message when the fake Twilio records it,
and answers from their hidden traits: a click on the tracked link (``GET /l/{code}``), an
order (``POST /v1/events``), or ``STOP`` (a signed Twilio webhook) when tired of messages.

Both policies see the same shoppers, the same visits and the same natural purchases (drawn
from per-shopper streams seeded by ``--seed``); only what the messages cause differs. The
policies differ only in ``decisioning.mode`` of the guardrails document: ``static`` (every
trigger sends at once on SMS with a 10% discount) and ``adaptive`` (next best action, channel
bandit, send-time choice). Both keep the same caps, quiet hours and 10% holdouts.

Market file (JSON; every field required unless noted). A *distribution* is one of
``{"beta": [a, b]}``, ``{"uniform": [lo, hi]}`` or ``{"fixed": x}``; each shopper draws once.

- ``name``, ``description`` (optional)
- ``timezones``: IANA zone -> weight (the shopper's own zone)
- ``categories``: catalog category -> weight (of Shoes, Coats, Accessories, Bags);
  ``category_concentration``: Dirichlet concentration of each shopper's affinity (small: a
  shopper sticks to one category)
- ``whatsapp_share``: share of shoppers who also opted in on WhatsApp (all opt in on SMS)
- ``visit_rate``: daily chance of a visit (a product view); ``cart_rate``: chance a visit
  adds to the cart; ``checkout_rate``: chance a cart is bought at once (no reminder)
- ``natural_purchase_rate``: chance an abandoned cart is bought later without any message
- ``channel_responsiveness``: ``{"sms": dist, "whatsapp": dist}``, chance a message read in
  active hours is clicked
- ``active_hours``: ``{"start": dist, "length": dist}`` in hours, local time
- ``inactive_response_factor``: how much less likely a click is outside active hours (0 to 1)
- ``click_to_purchase``: chance a click becomes an order at full price
- ``discount_sensitivity``: added chance a click becomes an order when a discount is offered
- ``fatigue``: ``{"base": dist, "per_message": dist}``: the chance of replying STOP to the
  n-th message is ``base + per_message * (n - 1)``

Results per policy: ``conversions`` (every order placed in the run, natural or not: the shop's
outcome), ``incremental_conversions`` (decisions not held out vs held out: the difference in
the share followed by an order within 7 days, times the not-held-out count), ``messages_sent``,
``opt_outs``, ``discount_cost`` and ``revenue`` (after discounts); ``answered_orders`` (orders
placed in answer to a message) and ``caused_conversions`` (of those, the ones the shopper would
not have placed anyway: the true incremental conversions, which only the simulator knows, to
hold the holdout estimate against); ``responses`` (messages, clicks and orders per channel, in
or out of the shopper's active hours, with or without a discount). ``conversion_difference_95ci``
is the 95% interval of chatcommerce minus static_rules conversions, paired by shopper.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import math
import random
import re
import sys
import tempfile
import time
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlparse

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from app.container import Container
from app.factory import create_app
from app.score_refit import train_once
from app.settings import Settings
from policy.guardrails import Guardrails, Program, WhatsAppTemplate, load_guardrails
from policy.outcomes import DELIVERED
from profile_store.clock import FixedClock, use_clock
from profile_store.migrate import upgrade
from profile_store.models import Decision, Identity
from tests.fake_providers.server import serve
from tests.fake_providers.twilio_api import FakeTwilioApi, TwilioRequest

HERE = Path(__file__).parent
DEFAULT_MARKET = HERE / "markets" / "default.json"
DEFAULT_OUT = HERE / "results" / "market_sim.json"
WRITE_KEY = "sim-write-key"
ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "sim-twilio-token"
SMS_FROM = "+15005550006"
WA_FROM = "+14155238886"
PUBLIC_URL = "https://shop.example.com"
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday
TICK = timedelta(minutes=30)
ATTRIBUTION = timedelta(days=7)
REFIT = timedelta(hours=Settings.model_fields["scores_refit_hours"].default)
POLICIES = {"static_rules": "static", "chatcommerce": "adaptive"}
CATEGORY_PRODUCTS = {
    "Shoes": [("trail-runner", 95.0), ("hiking-boot", 140.0), ("camp-slide", 35.0)],
    "Coats": [("storm-coat", 199.0), ("down-jacket", 160.0), ("rain-shell", 120.0)],
    "Accessories": [("wool-beanie", 25.0), ("merino-socks", 18.0), ("touch-gloves", 30.0)],
    "Bags": [("day-pack", 75.0), ("duffel", 110.0), ("hip-pack", 40.0)],
}
LINK = re.compile(r"https?://[^\s\"']+/l/([A-Za-z0-9]+)")
CODE = re.compile(r"CC-[0-9A-F]{8}")


# --- the market file -------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Beta(_Strict):
    beta: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]

    def draw(self, rng: random.Random) -> float:
        return rng.betavariate(*self.beta)


class Uniform(_Strict):
    uniform: tuple[float, float]

    def draw(self, rng: random.Random) -> float:
        return rng.uniform(*self.uniform)


class Fixed(_Strict):
    fixed: float

    def draw(self, rng: random.Random) -> float:
        return self.fixed


Distribution = Beta | Uniform | Fixed


class ChannelResponsiveness(_Strict):
    sms: Distribution
    whatsapp: Distribution


class ActiveHours(_Strict):
    start: Distribution
    length: Distribution


class Fatigue(_Strict):
    base: Distribution
    per_message: Distribution


class Market(_Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    timezones: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)
    categories: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)
    category_concentration: float = Field(gt=0)
    whatsapp_share: float = Field(ge=0, le=1)
    visit_rate: Distribution
    cart_rate: Distribution
    checkout_rate: Distribution
    natural_purchase_rate: Distribution
    channel_responsiveness: ChannelResponsiveness
    active_hours: ActiveHours
    inactive_response_factor: float = Field(ge=0, le=1)
    click_to_purchase: Distribution
    discount_sensitivity: Distribution
    fatigue: Fatigue

    @model_validator(mode="after")
    def _known_names(self) -> Market:
        for zone in self.timezones:
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"timezones: unknown IANA timezone {zone!r}") from None
        unknown = sorted(set(self.categories) - set(CATEGORY_PRODUCTS))
        if unknown:
            raise ValueError(
                f"categories: {unknown} not in the simulator's catalog {sorted(CATEGORY_PRODUCTS)}"
            )
        return self


class MarketFileError(ValueError):
    """A market file that cannot be used, with the field at fault named."""


def load_market(path: Path) -> Market:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MarketFileError(f"{path}: not readable JSON ({exc})") from None
    try:
        return Market.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise MarketFileError(f"{path}: {problems}") from None


# --- shoppers ----------------------------------------------------------------------------------


@dataclass
class Shopper:
    index: int
    phone: str
    zone: zoneinfo.ZoneInfo
    whatsapp: bool
    active_start: float
    active_length: float
    responsiveness: dict[str, float]
    click_to_purchase: float
    discount_sensitivity: float
    fatigue_base: float
    fatigue_slope: float
    visits: list[Visit]

    def active(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        hour = local.hour + local.minute / 60
        return (hour - self.active_start) % 24 < self.active_length


@dataclass
class Visit:
    at: datetime
    product_id: str
    price: float
    carts: bool
    checks_out: bool
    returns_at: datetime | None  # when the abandoned cart is bought anyway, if it is


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def make_shoppers(market: Market, n: int, days: int, seed: int) -> list[Shopper]:
    """Hidden traits and the whole visit plan, from one stream per shopper: the same for every
    policy."""
    shoppers = []
    for i in range(n):
        rng = random.Random(f"{seed}:{i}")
        zone = zoneinfo.ZoneInfo(_weighted(rng, market.timezones))
        start, length = market.active_hours.start.draw(rng), market.active_hours.length.draw(rng)
        shares = {
            c: rng.gammavariate(market.category_concentration * w, 1.0)
            for c, w in market.categories.items()
        }
        rates = {
            "visit": market.visit_rate.draw(rng),
            "cart": market.cart_rate.draw(rng),
            "checkout": market.checkout_rate.draw(rng),
            "natural": market.natural_purchase_rate.draw(rng),
        }
        shopper = Shopper(
            index=i,
            phone=f"+1555{i:07d}",
            zone=zone,
            whatsapp=rng.random() < market.whatsapp_share,
            active_start=start,
            active_length=min(max(length, 1.0), 24.0),
            responsiveness={
                "sms": market.channel_responsiveness.sms.draw(rng),
                "whatsapp": market.channel_responsiveness.whatsapp.draw(rng),
            },
            click_to_purchase=market.click_to_purchase.draw(rng),
            discount_sensitivity=market.discount_sensitivity.draw(rng),
            fatigue_base=market.fatigue.base.draw(rng),
            fatigue_slope=market.fatigue.per_message.draw(rng),
            visits=[],
        )
        for day in range(days):
            if rng.random() >= rates["visit"]:
                continue
            local_day = (
                (START + timedelta(days=day))
                .astimezone(zone)
                .replace(hour=0, minute=0, second=0, microsecond=0)
            )
            hour = (start + rng.uniform(0, shopper.active_length)) % 24
            at = (local_day + timedelta(hours=hour)).astimezone(UTC)
            category = _weighted(rng, {c: s + 1e-9 for c, s in shares.items()})
            product_id, price = rng.choice(CATEGORY_PRODUCTS[category])
            carts = rng.random() < rates["cart"]
            checks_out = carts and rng.random() < rates["checkout"]
            returns = carts and not checks_out and rng.random() < rates["natural"]
            shopper.visits.append(
                Visit(
                    at=at,
                    product_id=product_id,
                    price=price,
                    carts=carts,
                    checks_out=checks_out,
                    returns_at=at + timedelta(hours=rng.uniform(6, 96)) if returns else None,
                )
            )
        shoppers.append(shopper)
    return shoppers


# --- one policy's run ------------------------------------------------------------------------


class PolicyResult(BaseModel):
    conversions: int
    incremental_conversions: float
    messages_sent: int
    messages_by_channel: dict[str, int]
    messages_with_discount: int
    opt_outs: int
    discount_cost: float
    revenue: float
    decisions: int
    held_out_decisions: int
    by_program: dict[str, dict[str, int]] = Field(
        description="per program: decisions, sent, skipped (doing nothing was worth more), "
        "held_out, and converted (an order within 7 days of the decision)"
    )
    answered_orders: int = Field(description="orders placed in answer to a message")
    caused_conversions: int = Field(
        description="of those, the orders that would not have come without the message (the "
        "simulator knows): the true incremental conversions"
    )
    responses: dict[str, list[int]] = Field(
        description="per channel, read in or out of active hours, with or without a discount: "
        "[messages, clicks, orders]"
    )
    conversions_by_shopper: list[int] = Field(exclude=True)


def sim_guardrails(mode: Literal["static", "adaptive"]) -> Guardrails:
    """The demo guardrails, WhatsApp templates for every program, and the policy's mode."""
    demo = load_guardrails(None)
    template = WhatsAppTemplate(content_sid="HX" + "a" * 32, variables=["text", "product_url"])
    # The default copy of every program (it names the discount code when there is one).
    programs = {
        name: program.model_copy(update={"whatsapp_template": template, "variants": []})
        for name, program in demo.programs.items()
    }
    for name in ("cart_abandoned", "browse_abandoned", "post_purchase", "win_back"):
        programs.setdefault(name, Program(holdout_percent=10, whatsapp_template=template))
    return demo.model_copy(
        update={
            "programs": programs,
            "decisioning": demo.decisioning.model_copy(update={"mode": mode}),
        }
    )


@dataclass(order=True)
class _Due:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    shopper: int = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


class PolicyRun:
    """One policy, one fresh database, the same shoppers."""

    def __init__(self, shoppers: list[Shopper], days: int, seed: int) -> None:
        self.shoppers = shoppers
        self.by_phone = {s.phone: s for s in shoppers}
        self.days = days
        self.seed = seed
        self.queue: list[_Due] = []
        self.seq = itertools.count()
        self.rngs = [random.Random(f"{seed}:responses:{s.index}") for s in shoppers]
        self.received = [0] * len(shoppers)
        self.opted_out: set[tuple[int, str]] = set()
        self.open_cart: dict[int, tuple[str, float, datetime]] = {}
        self.last_viewed: dict[int, tuple[str, float, datetime]] = {}
        self.orders: list[tuple[int, datetime, float, float]] = []  # shopper, at, paid, discount
        self.seen_requests = 0
        self.messages: dict[str, int] = {"sms": 0, "whatsapp": 0}
        self.opt_outs = 0
        self.discounted_messages = 0
        self.pending_natural: set[tuple[int, datetime]] = set()  # carts bought later anyway
        # (channel, read in active hours, with a discount) -> [messages, clicks, orders]
        self.responses: dict[tuple[str, bool, bool], list[int]] = {}
        self.answered = 0  # orders placed in answer to a message
        self.caused = 0  # of those, orders that would not have come without it

    def push(self, at: datetime, kind: str, shopper: int, **data: Any) -> None:
        heapq.heappush(self.queue, _Due(at, next(self.seq), kind, shopper, data))

    async def run(self, mode: Literal["static", "adaptive"], tmp: Path) -> PolicyResult:
        guardrails_file = tmp / "guardrails.json"
        guardrails_file.write_text(json.dumps(sim_guardrails(mode).model_dump(mode="json")))
        twilio = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN)
        clock = FixedClock(START - timedelta(hours=1))
        with use_clock(clock), _seeded_ids(f"{self.seed}:ids"):
            async with (
                serve(twilio.app) as twilio_url,
                _shop(tmp, guardrails_file, twilio_url) as (
                    http,
                    container,
                ),
            ):
                container.scheduler._rng = random.Random(f"{self.seed}:system")  # reproducible
                await self._stock(http)
                await self._introduce(http)
                for visit_shopper in self.shoppers:
                    for visit in visit_shopper.visits:
                        self.push(visit.at, "visit", visit_shopper.index, visit=visit)
                now = START
                end = START + timedelta(days=self.days)
                while now < end:
                    now += TICK
                    clock.set(now)
                    if (now - START) % REFIT == timedelta(0):
                        await train_once(container.sessions)  # as the workers do on schedule
                    await self._act_until(http, now)
                    while await container.scheduler.run_once(now):
                        pass
                    await self._receive(http, twilio.sent, now)
                    await container.conversations.run_once(now)
                return await self._result(container, end)

    async def _stock(self, http: httpx.AsyncClient) -> None:
        products = [
            {
                "id": pid,
                "name": pid.replace("-", " ").title(),
                "category": [category],
                "brand": "Trailhead",
                "price": price,
                "currency": "USD",
                "url": f"https://shop.example/p/{pid}",
                "variants": [{"sku": f"{pid}-1", "size": "M", "stock": 1000}],
            }
            for category, items in CATEGORY_PRODUCTS.items()
            for pid, price in items
        ]
        response = await http.post("/v1/catalog/products", json={"products": products})
        response.raise_for_status()

    async def _introduce(self, http: httpx.AsyncClient) -> None:
        """Who each shopper is, their zone, and their marketing opt-ins."""
        at = (START - timedelta(hours=1)).isoformat()
        events: list[dict[str, Any]] = []
        for s in self.shoppers:
            customer = {"phone": s.phone}
            events.append(
                _event("identify", customer, at, {"timezone": s.zone.key, "first_name": "Sam"})
            )
            for channel in ("sms", "whatsapp") if s.whatsapp else ("sms",):
                props = {"channel": channel, "purpose": "marketing", "status": "granted"}
                events.append(_event("consent_changed", customer, at, props))
        for chunk in range(0, len(events), 500):
            await _post_events(http, events[chunk : chunk + 500])

    async def _act_until(self, http: httpx.AsyncClient, now: datetime) -> None:
        """Everything shoppers do up to ``now``: events in one batch, clicks and STOPs by their
        own routes."""
        events: list[dict[str, Any]] = []
        while self.queue and self.queue[0].at <= now:
            due = heapq.heappop(self.queue)
            shopper = self.shoppers[due.shopper]
            customer = {"phone": shopper.phone}
            at = due.at.isoformat()
            if due.kind == "visit":
                visit: Visit = due.data["visit"]
                props = {"product_id": visit.product_id, "price": visit.price, "currency": "USD"}
                events.append(_event("product_viewed", customer, at, props))
                self.last_viewed[shopper.index] = (visit.product_id, visit.price, visit.at)
                if visit.carts:
                    events.append(_event("added_to_cart", customer, at, {**props, "quantity": 1}))
                    self.open_cart[shopper.index] = (visit.product_id, visit.price, visit.at)
                    if visit.checks_out:
                        self.push(visit.at + timedelta(minutes=10), "order", shopper.index)
                    elif visit.returns_at is not None:
                        self.push(visit.returns_at, "order", shopper.index, since=visit.at)
                        self.pending_natural.add((shopper.index, visit.at))
            elif due.kind == "order":
                since = due.data.get("since")
                cart = self.open_cart.get(shopper.index)
                if since is not None and (cart is None or cart[2] != since):
                    continue  # bought already (a message got there first) or a newer cart
                bought_anyway = cart is not None and (shopper.index, cart[2]) in (
                    self.pending_natural
                )
                # Answering a message: what is in the cart, else what was viewed last.
                cart = cart or self.last_viewed.get(shopper.index)
                if cart is None:
                    continue
                if since is None and "code" in due.data:  # in answer to a message
                    self.answered += 1
                    self.caused += not bought_anyway
                events.append(self._order(shopper, due.at, cart, due.data.get("code")))
            elif due.kind == "click":
                await _flush(http, events)
                response = await http.get(f"/l/{due.data['code']}", follow_redirects=False)
                if response.status_code >= 400:
                    raise RuntimeError(f"click failed: {response.status_code} {response.text}")
            elif due.kind == "stop":
                await _flush(http, events)
                if (shopper.index, due.data["channel"]) not in self.opted_out:
                    self.opted_out.add((shopper.index, due.data["channel"]))
                    self.opt_outs += 1
                    await _stop(http, shopper.phone, due.data["channel"])
        await _flush(http, events)

    def _order(
        self, shopper: Shopper, at: datetime, cart: tuple[str, float, datetime], code: str | None
    ) -> dict[str, Any]:
        product_id, price, _ = cart
        discount = round(price * 0.10, 2) if code else 0.0
        self.open_cart.pop(shopper.index, None)
        self.last_viewed.pop(shopper.index, None)
        self.orders.append((shopper.index, at, price - discount, discount))
        props: dict[str, Any] = {
            "order_id": f"o-{shopper.index}-{len(self.orders)}",
            "total": round(price - discount, 2),
            "currency": "USD",
            "items": [{"product_id": product_id, "quantity": 1, "price": price}],
            "discount": discount,
        }
        if code:
            props["discount_code"] = code
        return _event("order_completed", {"phone": shopper.phone}, at.isoformat(), props)

    async def _receive(
        self, http: httpx.AsyncClient, sent: list[TwilioRequest], now: datetime
    ) -> None:
        """Messages the fake Twilio recorded since the last look: each shopper answers."""
        new, self.seen_requests = sent[self.seen_requests :], len(sent)
        for request in new:
            to = request.get("To") or ""
            channel = "whatsapp" if to.startswith("whatsapp:") else "sms"
            shopper = self.by_phone.get(to.removeprefix("whatsapp:"))
            if shopper is None:
                continue
            text = " ".join(v for values in request.params.values() for v in values)
            if "unsubscribed" in text.lower():
                continue  # the opt-out confirmation, not marketing
            self.messages[channel] += 1
            rng = self.rngs[shopper.index]
            self.received[shopper.index] += 1
            tired = shopper.fatigue_base + shopper.fatigue_slope * (
                self.received[shopper.index] - 1
            )
            if rng.random() < tired:
                self.push(now + timedelta(minutes=5), "stop", shopper.index, channel=channel)
                continue
            awake = shopper.active(now)
            p_click = shopper.responsiveness[channel] * (1.0 if awake else MARKET_INACTIVE[0])
            codes = CODE.findall(text)
            self.discounted_messages += bool(codes)
            tally = self.responses.setdefault((channel, awake, bool(codes)), [0, 0, 0])
            tally[0] += 1
            if "http" not in text or rng.random() >= p_click:
                continue
            tally[1] += 1
            links = LINK.findall(text)  # a tracked link records the click; a plain URL cannot
            if links:
                self.push(now + timedelta(minutes=5), "click", shopper.index, code=links[0])
            p_buy = shopper.click_to_purchase + (shopper.discount_sensitivity if codes else 0.0)
            wants = shopper.index in self.open_cart or shopper.index in self.last_viewed
            if wants and rng.random() < p_buy:
                tally[2] += 1
                self.push(
                    now + timedelta(minutes=20),
                    "order",
                    shopper.index,
                    code=codes[0] if codes else None,
                )

    async def _result(self, container: Container, end: datetime) -> PolicyResult:
        decisions_table = Decision.__table__  # type: ignore[attr-defined]
        identities = Identity.__table__  # type: ignore[attr-defined]
        async with container.readers() as session:
            conn = await session.connection()
            phones = {
                row.customer_id: row.value
                for row in await conn.execute(
                    select(identities.c.customer_id, identities.c.value).where(
                        identities.c.kind == "phone"
                    )
                )
            }
            rows = (
                await conn.execute(
                    select(
                        decisions_table.c.customer_id,
                        decisions_table.c.created_at,
                        decisions_table.c.held_out,
                        decisions_table.c.reasons,
                        decisions_table.c.program,
                        decisions_table.c.verdict,
                        decisions_table.c.outcome,
                    ).where(decisions_table.c.trigger != "conversation")
                )
            ).all()
        order_times: dict[int, list[datetime]] = {}
        for index, at, _, _ in self.orders:
            order_times.setdefault(index, []).append(at)
        groups = {True: [0, 0], False: [0, 0]}  # held out -> [decisions, converted]
        by_program: dict[str, dict[str, int]] = {}
        for row in rows:
            counts = by_program.setdefault(
                row.program,
                dict.fromkeys(("decisions", "sent", "skipped", "held_out", "converted"), 0),
            )
            counts["decisions"] += 1
            counts["sent"] += int(row.outcome in DELIVERED)
            counts["skipped"] += int(row.verdict == "skipped")
            counts["held_out"] += int(bool(row.held_out))
            if any(r.get("code") in BEFORE_HOLDOUT for r in row.reasons or []):
                continue  # decided before the holdout: in neither group
            phone = phones.get(row.customer_id)
            shopper = self.by_phone.get(phone or "")
            if shopper is None:
                continue
            created = _aware(row.created_at)
            converted = any(
                created < at <= created + ATTRIBUTION for at in order_times.get(shopper.index, [])
            )
            groups[bool(row.held_out)][0] += 1
            groups[bool(row.held_out)][1] += int(converted)
            counts["converted"] += int(converted)
        (treated, treated_conv), (held, held_conv) = groups[False], groups[True]
        lift = (treated_conv / treated if treated else 0.0) - (held_conv / held if held else 0.0)
        by_shopper = [0] * len(self.shoppers)
        for index, _, _, _ in self.orders:
            by_shopper[index] += 1
        return PolicyResult(
            conversions=len(self.orders),
            incremental_conversions=round(lift * treated, 1) if held else 0.0,
            messages_sent=sum(self.messages.values()),
            messages_by_channel=self.messages,
            messages_with_discount=self.discounted_messages,
            opt_outs=self.opt_outs,
            discount_cost=round(sum(d for *_, d in self.orders), 2),
            revenue=round(sum(p for _, _, p, _ in self.orders), 2),
            decisions=treated + held,
            held_out_decisions=held,
            by_program=by_program,
            answered_orders=self.answered,
            caused_conversions=self.caused,
            responses={
                f"{channel} {'active' if awake else 'inactive'}"
                f"{' discount' if coded else ''}": tally
                for (channel, awake, coded), tally in sorted(self.responses.items())
            },
            conversions_by_shopper=by_shopper,
        )


MARKET_INACTIVE = [0.25]  # set from the market at the start of a run
# Decisions settled before the holdout is drawn (so neither group holds them).
BEFORE_HOLDOUT = {"nothing_to_show", "already_messaged", "episode_held_out", "not_in_audience"}


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _event(kind: str, customer: dict[str, str], at: str, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": f"sim-{next(_EVENT_IDS)}",
        "type": kind,
        "customer": customer,
        "occurred_at": at,
        "properties": props,
    }


_EVENT_IDS = itertools.count()


async def _post_events(http: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    response = await http.post("/v1/events", json={"batch": events})
    if response.status_code != 200:
        raise RuntimeError(f"events rejected: {response.status_code} {response.text[:500]}")


async def _flush(http: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    if events:
        await _post_events(http, sorted(events, key=lambda e: str(e["occurred_at"])))
        events.clear()


async def _stop(http: httpx.AsyncClient, phone: str, channel: str) -> None:
    """The shopper replies STOP: a Twilio webhook, signed as Twilio signs it."""
    path = f"/webhooks/twilio/{channel}"
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    params = {
        "MessageSid": f"SM{next(_EVENT_IDS):032d}",
        "AccountSid": ACCOUNT_SID,
        "From": prefix + phone,
        "To": prefix + (WA_FROM if channel == "whatsapp" else SMS_FROM),
        "Body": "STOP",
        "NumMedia": "0",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
    response = await http.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    if response.status_code != 200:
        raise RuntimeError(f"STOP rejected: {response.status_code} {response.text[:300]}")


@contextmanager
def _seeded_ids(seed: str) -> Iterator[None]:
    """Random ids (customers, decisions, sends) drawn from ``seed`` for the run: ids decide
    holdout membership, so a repeated run repeats, and both policies hold out the same
    shoppers."""
    rng = random.Random(seed)
    real = uuid.uuid4
    uuid.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)
    try:
        yield
    finally:
        uuid.uuid4 = real


@asynccontextmanager
async def _shop(
    tmp: Path, guardrails_file: Path, twilio_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    settings = Settings(
        _env_file=None,
        data_dir=tmp / "var",
        write_key=WRITE_KEY,
        run_workers=False,  # the simulator steps the workers with its clock
        guardrails_file=guardrails_file,
        public_url=PUBLIC_URL,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_sms_from=SMS_FROM,
        twilio_whatsapp_from=WA_FROM,
        twilio_api_url=twilio_url,
        conversation_handler="holding",
        conversation_burst_seconds=0.0,
        webchat_enabled=False,
    )
    (tmp / "var").mkdir(parents=True, exist_ok=True)
    # Alembic runs its own event loop: off this one, as `chatcommerce db upgrade` does.
    await asyncio.to_thread(upgrade, settings.sqlalchemy_url)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"https://{urlparse(PUBLIC_URL).netloc}",
            headers={"Authorization": f"Bearer {WRITE_KEY}"},
        ) as http,
    ):
        yield http, app.state.container


# --- comparing -------------------------------------------------------------------------------


def paired_interval(a: list[int], b: list[int]) -> tuple[float, float]:
    """95% normal interval of sum(b) - sum(a), paired by shopper."""
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / max(n - 1, 1)
    half = 1.96 * math.sqrt(var * n)
    return (round(n * mean - half, 1), round(n * mean + half, 1))


async def simulate(market: Market, *, customers: int, days: int, seed: int) -> dict[str, Any]:
    MARKET_INACTIVE[0] = market.inactive_response_factor
    shoppers = make_shoppers(market, customers, days, seed)
    results: dict[str, PolicyResult] = {}
    timings: dict[str, float] = {}
    for name, mode in POLICIES.items():
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = await PolicyRun(shoppers, days, seed).run(
                mode,  # type: ignore[arg-type]
                Path(tmp),
            )
        timings[name] = round(time.monotonic() - started, 1)
    static, ours = results["static_rules"], results["chatcommerce"]
    return {
        "policies": {name: r.model_dump() for name, r in results.items()},
        "market": market.name,
        "seed": seed,
        "customers": customers,
        "days": days,
        "conversion_difference_95ci": list(
            paired_interval(static.conversions_by_shopper, ours.conversions_by_shopper)
        ),
        "seconds": timings,
    }


def table(result: dict[str, Any]) -> str:
    rows = ["conversions", "incremental_conversions", "messages_sent", "opt_outs"]
    rows += ["discount_cost", "revenue"]
    policies = result["policies"]
    lines = [
        f"market {result['market']}, seed {result['seed']}, {result['customers']} "
        f"shoppers, {result['days']} days",
        f"{'':26}{'static_rules':>14}{'chatcommerce':>14}{'change':>10}",
    ]
    for row in rows:
        a, b = policies["static_rules"][row], policies["chatcommerce"][row]
        change = f"{(b - a) / a:+.0%}" if a > 0 else "-"
        lines.append(f"{row:26}{a:>14}{b:>14}{change:>10}")
    lo, hi = result["conversion_difference_95ci"]
    lines.append(f"conversion difference 95% CI: [{lo}, {hi}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--market", type=Path, default=DEFAULT_MARKET)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="a small run (under 3 minutes)")
    parser.add_argument("--customers", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        market = load_market(args.market)
    except MarketFileError as exc:
        print(f"market file error: {exc}", file=sys.stderr)
        return 2
    customers = args.customers or (250 if args.quick else 1000)
    days = args.days or (14 if args.quick else 28)
    result = asyncio.run(simulate(market, customers=customers, days=days, seed=args.seed))
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
