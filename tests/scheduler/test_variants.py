"""Copy variants that learn: each decision logs the variant it picked, and a variant whose
messages get clicked is picked more often afterwards (a simulated run through the events API,
the scheduler and the tracked links). Both databases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest

from policy.message_copy import MessageVariant
from policy.variants import choose_variant, for_locale
from profile_store.clock import ShiftedClock
from tests.scheduler.conftest import Shop
from tests.scheduler.test_stories import ev, opted_in

T0 = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # 10:00 in New York
VARIANTS = [
    MessageVariant(id="plain", text="A reminder: {{ product.name }}."),
    MessageVariant(id="warm", text="Still yours: {{ product.name }}!"),
]


@pytest.fixture(autouse=True)
def _at_t0(test_clock: ShiftedClock) -> None:
    test_clock.set(T0)


async def carts(shop: Shop, first: int, count: int, at: datetime) -> None:
    for n in range(first, first + count):
        who = {"phone": f"+1212555{n:04d}"}
        await shop.post(
            *opted_in(who, at - timedelta(days=1), "sms"),
            ev("added_to_cart", who, at, product_id="coat", price=199.0, currency="USD"),
        )
    await shop.run(at + timedelta(minutes=31))
    await shop.run(at + timedelta(hours=12))  # whatever hour was chosen


async def test_the_variant_that_gets_clicked_is_sent_more(stocked: Shop) -> None:
    shop = stocked
    rules = shop.container.guardrails
    program = rules.program("cart_abandoned").model_copy(
        update={"variants": VARIANTS, "holdout_percent": 0}
    )
    shop.container.guardrails = rules.model_copy(
        update={"programs": {**rules.programs, "cart_abandoned": program}}
    )
    await carts(shop, 0, 30, T0)
    first_round = list(shop.outbox.sent)
    assert len(first_round) == 30
    warm = [s for s in first_round if "Still yours" in s.text]
    assert 0 < len(warm) < 30  # both were tried
    for send in warm:  # shoppers click the warm one's product link
        link = urlparse(send.cards[0].url or "").path
        assert (await shop.client.get(link)).status_code == 302
    decisions = await shop.decisions("+12125550000")
    assert decisions[0]["variant"] in {"plain", "warm"}  # logged with the decision

    await carts(shop, 100, 30, T0 + timedelta(days=1))
    second_round = shop.outbox.sent[30:]
    share = sum("Still yours" in s.text for s in second_round) / len(second_round)
    assert share >= 0.8, share


def test_thompson_sampling_prefers_the_better_variant_but_keeps_trying() -> None:
    rng = random.Random(7)
    stats = {("p", "plain"): (200, 10), ("p", "warm"): (200, 40)}
    picks = [choose_variant("p", VARIANTS, stats, rng).variant.id for _ in range(500)]
    assert picks.count("warm") > 450
    fresh = [choose_variant("p", VARIANTS, {}, rng).variant.id for _ in range(500)]
    assert 150 < fresh.count("warm") < 350  # no data yet: both get their chance


def test_a_shoppers_locale_picks_the_variants_written_for_it() -> None:
    german = MessageVariant(id="de", locale="de", text="Noch da: {{ product.name }}")
    swiss = MessageVariant(id="ch", locale="de-CH", text="Immer noch da: {{ product.name }}")
    variants = [*VARIANTS, german, swiss]
    assert [v.id for v in for_locale(variants, "de-CH", "en")] == ["ch"]
    assert [v.id for v in for_locale(variants, "de-AT", "en")] == ["de", "ch"]
    assert [v.id for v in for_locale(variants, "fr", "en")] == ["plain", "warm"]
    assert [v.id for v in for_locale(variants, None, "en")] == ["plain", "warm"]
