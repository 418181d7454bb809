"""What the per-customer parts of a decision cost, and the shop's send-time fit.

Run: `.venv/bin/python -m bench.decision_cost`. Times, on synthetic customers:

- ``shop_hours`` over ``PRIOR_SAMPLE`` customers (the shop's local-hour profile and the fitted
  strength of its prior), which the scheduler refreshes every ``PRIOR_REFRESH`` off the loop;
- ``choose_send_time`` for one customer, with and without the shop's profile;
- the discount gate's draws from the discount model's posterior (``sampled_uplifts``, as many
  draws as ``choose_action`` takes).
"""

from __future__ import annotations

import random
import time
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from policy.action_choice import DRAWS
from policy.guardrails import QuietHours
from policy.send_time import choose_send_time, shop_hours
from profile_store.scoring.discount_logit import fit, sampled_uplifts
from scheduler.embedded import PRIOR_SAMPLE

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
ZONES = [zoneinfo.ZoneInfo(z) for z in ("America/New_York", "Europe/Berlin", "Asia/Tokyo")]
ROUNDS = 2_000


def _customers(n: int, rng: random.Random) -> list[tuple[list[int], zoneinfo.ZoneInfo]]:
    customers = []
    for _ in range(n):
        hours = [0] * 24
        start = rng.randint(7, 14)
        for _ in range(rng.randint(0, 8)):
            hours[(start + rng.randint(0, 6)) % 24] += 1
        customers.append((hours, rng.choice(ZONES)))
    return customers


def _per_call(f: Callable[[], object], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        f()
    return (time.perf_counter() - started) / rounds


def main() -> None:
    rng = random.Random(7)
    everyone = _customers(PRIOR_SAMPLE, rng)
    started = time.perf_counter()
    profile = shop_hours(everyone, NOW)
    fit_seconds = time.perf_counter() - started
    assert profile is not None
    print(
        f"shop_hours over {len(everyone)} customers: {fit_seconds * 1000:.0f} ms "
        f"(strength {profile.strength:.1f} events)"
    )
    one, zone = everyone[0]
    quiet = QuietHours()
    alone = _per_call(lambda: choose_send_time(one, zone, quiet, NOW), ROUNDS)
    shrunk = _per_call(lambda: choose_send_time(one, zone, quiet, NOW, shop=profile), ROUNDS)
    print(f"choose_send_time: {alone * 1e6:.0f} µs alone, {shrunk * 1e6:.0f} µs with the shop")

    gen = np.random.default_rng(3)
    base = np.column_stack(
        [np.ones(2000), gen.uniform(0, 3, 2000), gen.uniform(0, 1, 2000), gen.uniform(0, 1, 2000)]
    )
    offered = (gen.random(2000) < 0.5).astype(float)
    converted = (gen.random(2000) < 0.15).astype(float)
    model = fit(base, offered, converted)
    features = [1.0, 1.0, 0.5, 0.2]
    gate = _per_call(lambda: sampled_uplifts(model, features, rng, DRAWS), ROUNDS // 4)
    print(f"discount gate, {DRAWS} posterior draws: {gate * 1e6:.0f} µs per decision")


if __name__ == "__main__":
    main()
