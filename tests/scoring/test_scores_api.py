"""Scores end to end, on SQLite and PostgreSQL: fresh at ingest, on the profile, refitted by
training, usable in an audience, and trained from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from typer.testing import CliRunner

from app.cli import cli
from app.score_refit import refit_loop
from policy.audiences import audience_facts, matches, parse_rule
from policy.context_loader import load_context
from profile_store import clock
from profile_store.database import transaction
from profile_store.models import CustomerScore, Decision
from profile_store.scoring.store import MODELS
from profile_store.scoring.train import train
from tests.console.test_console_pages import client as console_client
from tests.console.test_console_pages import signed_in
from tests.profile_store.events import event, order

DAY = 24 * 60.0
NAMES = {"purchase_propensity_7d", "churn_risk_90d", "discount_sensitivity", "expected_value_90d"}


async def profile(client: httpx.AsyncClient, phone: str) -> dict[str, object]:
    response = await client.get(f"/v1/profiles/{phone}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_an_order_updates_the_scores_in_the_same_ingest(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    who = {"phone": "+15551230001"}
    first = await client.post("/v1/events", json=order(who, -30 * DAY, "o-1", ("sku-1", 1, 40.0)))
    assert first.status_code == 200, first.text
    before = (await profile(client, "+15551230001"))["scores"]
    assert isinstance(before, dict) and set(before) == NAMES
    for view in before.values():
        assert set(view) == {"value", "explanation", "model_version"}
        assert view["model_version"] == "prior-v1"
    assert before["purchase_propensity_7d"]["explanation"].startswith("bought once")

    await client.post("/v1/events", json=order(who, -1 * DAY, "o-2", ("sku-2", 1, 60.0)))
    async with sessions() as session:
        conn = await session.connection()
        stored = (await conn.execute(select(CustomerScore.__table__))).all()  # type: ignore[attr-defined]
    assert len(stored) == 1  # written by the ingest itself, not at read time
    after = (await profile(client, "+15551230001"))["scores"]
    assert isinstance(after, dict)
    assert after["purchase_propensity_7d"]["explanation"].startswith("bought twice")
    assert after["churn_risk_90d"]["value"] < before["churn_risk_90d"]["value"]
    assert stored[0].churn_risk_90d == after["churn_risk_90d"]["value"]


async def _shop_history(client: httpx.AsyncClient, buyers: int, prospects: int) -> None:
    rng = random.Random(5)
    batch = []
    for i in range(buyers):
        who = {"phone": f"+1555200{i:04d}"}
        start = -rng.uniform(60, 300) * DAY
        t = start
        for n in range(rng.randint(1, 5)):
            batch.append(order(who, t, f"o-{i}-{n}", ("sku-1", 1, rng.uniform(20, 90))))
            t += rng.uniform(5, 60) * DAY
            if t > 0:
                break
    for i in range(prospects):
        batch.append(
            event("product_viewed", {"phone": f"+1555300{i:04d}"}, -rng.uniform(1, 90) * DAY)
        )
        batch[-1]["properties"] = {"product_id": "sku-1"}
    response = await client.post("/v1/events", json={"batch": batch})
    assert response.status_code == 200, response.text


async def test_training_fits_on_the_shops_history_and_rescores_everyone(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _shop_history(client, buyers=80, prospects=30)
    async with transaction(sessions) as session:
        report = await train(await session.connection(), clock.now())
    assert {"bgnbd", "gamma_gamma", "first_order_rate"} <= set(report.fitted)
    assert report.fitted["bgnbd"] == 80
    assert report.rescored == 110
    assert any("discount_logit" in why for why in report.priors)
    scores = (await profile(client, "+15552000001"))["scores"]
    assert isinstance(scores, dict)
    assert scores["churn_risk_90d"]["model_version"] == f"bgnbd@{report.version}"
    assert scores["discount_sensitivity"]["model_version"] == "prior-v1"
    # A new event is scored with the fitted parameters at once.
    viewed = event("product_viewed", {"phone": "+15559990000"}, product_id="sku-1")
    assert (await client.post("/v1/events", json=viewed)).status_code == 200
    fresh = (await profile(client, "+15559990000"))["scores"]
    assert isinstance(fresh, dict)
    assert fresh["purchase_propensity_7d"]["model_version"] == f"first-order-rate@{report.version}"


async def test_an_audience_on_a_score_selects_the_lapsing_customer(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    lapsed, loyal = {"phone": "+15551110001"}, {"phone": "+15551110002"}
    batch = [order(lapsed, -(300 - 20 * n) * DAY, f"l-{n}", ("sku-1", 1, 50.0)) for n in range(3)]
    batch += [order(loyal, -(40 - 8 * n) * DAY, f"y-{n}", ("sku-1", 1, 50.0)) for n in range(5)]
    ids = (await client.post("/v1/events", json={"batch": batch})).json()["customer_ids"]
    rule = parse_rule("churn_risk_90d > 0.6 and order_count >= 3")
    now = clock.now()
    async with sessions() as session:
        contexts = [await load_context(session, cid, at=now) for cid in ids]
    chosen = {ctx.order_count: matches(rule, audience_facts(ctx, now)) for ctx in contexts}
    assert chosen == {3: True, 5: False}
    assert all(set(ctx.scores) == NAMES for ctx in contexts)


def test_scores_train_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATCOMMERCE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CHATCOMMERCE_DATABASE_URL", raising=False)
    runner = CliRunner()
    refused = runner.invoke(cli, ["scores", "train"])
    assert refused.exit_code == 2
    assert "run `chatcommerce db upgrade`" in refused.output
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    trained = runner.invoke(cli, ["scores", "train"])
    assert trained.exit_code == 0, trained.output
    assert "Prior kept for bgnbd: 0 buyers" in trained.output
    assert "Re-scored 0 customers." in trained.output


async def test_the_console_customer_page_shows_the_scores(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    who = {"phone": "+15551240001"}
    await client.post("/v1/events", json=order(who, -3 * DAY, "c-1", ("sku-1", 1, 30.0)))
    async with console_client(app) as http:
        await signed_in(app, http)
        page = await http.get("/console/customers?ref=%2B15551240001")
    assert page.status_code == 200
    assert "Predictive scores" in page.text
    assert "churn_risk_90d" in page.text and "bought once" in page.text


async def test_the_workers_refit_on_their_schedule(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    task = asyncio.create_task(refit_loop(sessions, hours=0.5 / 3600))  # every half second
    try:
        for _ in range(100):
            await asyncio.sleep(0.1)
            async with sessions() as session:
                conn = await session.connection()
                fits = (await conn.execute(select(func.count()).select_from(MODELS))).scalar()
            if fits:
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert fits == 1


async def test_the_discount_model_learns_from_what_each_decision_knew(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Messages to first-time shoppers: with a discount 40% bought, without it 10%. Each buyer
    has an order *now*, but the model must learn from their history at the decision (none):
    today's history would teach it that buyers convert, whatever the discount."""
    await _shop_history(client, buyers=10, prospects=0)
    rng = random.Random(9)
    now = clock.now()
    rows: list[dict[str, object]] = []
    for i in range(300):
        offered = i % 2 == 0
        bought = rng.random() < (0.4 if offered else 0.1)
        action = {"program": "cart_abandoned", "discount_percent": 10.0 if offered else None}
        rows.append(
            {
                "id": f"dec_{i}",
                "customer_id": None,
                "trigger": "cart_abandoned",
                "program": "cart_abandoned",
                "action": "send_message_with_discount" if offered else "send_message",
                "channel": "sms",
                "product_ids": [],
                "verdict": "scheduled",
                "reasons": [],
                "held_out": False,
                "details": {
                    "action": action,
                    "customer_at_decision": {
                        "orders": 0,
                        "discounted_orders": 0,
                        "last_order_days": None,
                    },
                },
                "outcome": "converted" if bought else "sent",
                "outcome_reasons": [],
                "created_at": now,
            }
        )
    async with transaction(sessions) as session:
        conn = await session.connection()
        customers = (await conn.execute(select(CustomerScore.__table__.c.customer_id))).scalars()  # type: ignore[attr-defined]
        someone = next(iter(customers))
        for row in rows:
            row["customer_id"] = someone
        await conn.execute(insert(Decision.__table__), rows)  # type: ignore[attr-defined]
        report = await train(conn, now)
    assert report.fitted["discount_logit"] == 300
    newcomer = event("product_viewed", {"phone": "+15559990001"}, product_id="sku-1")
    assert (await client.post("/v1/events", json=newcomer)).status_code == 200
    scores = (await profile(client, "+15559990001"))["scores"]
    assert isinstance(scores, dict)
    learned = scores["discount_sensitivity"]
    assert learned["model_version"] == f"discount-logit@{report.version}"
    assert 0.15 < learned["value"] < 0.45  # about the 30 points measured
