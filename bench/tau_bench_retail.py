"""tau-bench retail as a conformance set: replay each test task's reference actions through our
order tools and compare the orders they leave with what tau-bench's own tools left.

``bench/tau_retail/`` carries a trimmed copy of tau-bench's retail data (the users of the 115
test tasks, their orders, the products in them; MIT licence, see its LICENSE) and, per task,
the reference actions and the order states tau-bench's tools produced from them. Each task
gets its own copies of its user's orders (ids prefixed ``t{n}-``), imported as our lifecycle
events; the shopper talks on web chat, so the task's ``find_user_*`` step is our
``verify_identity``. A write is proposed, confirmed in the next turn, goes to a person (no shop
webhook), and the replay then plays the shop: it sends the event the shop would send
(``order_cancelled``, ``order_updated``, ``return_requested``, ``exchange_requested``).

Run: ``python -m bench.tau_bench_retail [--limit N]``; prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import load_guardrails
from profile_store import clock
from profile_store.database import create_engine, run_transaction, session_factory
from profile_store.identity import find_customer_id
from profile_store.ingest import ingest_events, validate_events
from profile_store.migrate import upgrade
from profile_store.models import Channel, Conversation, Order, OrderRequest, new_id
from profile_store.schemas import CustomerRef
from tools.agent_tools.order_changes import (
    ChangeRequest,
    confirm_order_change,
    request_order_change,
)
from tools.agent_tools.orders import VerifyRequest, get_order_status, verify_identity
from tools.agent_tools.shopper import Shopper, ToolServices
from tools.catalog.schema import Product, Variant
from tools.catalog.store import Catalog

FIXTURE = Path(__file__).parent / "tau_retail"
ORDERS = Order.__table__  # type: ignore[attr-defined]
REQUESTS = OrderRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
# tau-bench's order states in ours.
STATE = {
    "pending": "placed",
    "pending (item modified)": "placed",
    "processed": "shipped",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "return requested": "return_requested",
    "exchange requested": "exchange_requested",
}
WRITES = {
    "cancel_pending_order": "cancel",
    "modify_pending_order_address": "change_address",
    "modify_pending_order_items": "change_items",
    "return_delivered_order_items": "return",
    "exchange_delivered_order_items": "exchange",
}
READS = {
    "find_user_id_by_email",
    "find_user_id_by_name_zip",
    "get_order_details",
    "get_user_details",
    "get_product_details",
    "list_all_product_types",
    "calculate",
    "think",
    "transfer_to_human_agents",
}
# tau-bench tools with no counterpart here, and why.
NO_COUNTERPART = {
    "modify_pending_order_payment": "payment methods are the shop's: we hold none",
    "modify_user_address": "a profile's default address is the shop's account data",
}


class Report(BaseModel):
    tasks: int
    expressible: int
    reproduced: int
    differing: list[dict[str, Any]]
    not_expressible: dict[str, int]
    no_counterpart: dict[str, str]


class TauCatalog:
    """tau-bench's products as our catalog: each item id a variant, in stock if available."""

    def __init__(self, products: dict[str, Any]) -> None:
        self.products = {
            pid: Product(
                id=pid,
                name=str(p["name"]),
                price=0,
                currency="USD",
                variants=[
                    Variant(sku=vid, price=v["price"], stock=1 if v["available"] else 0)
                    for vid, v in p["variants"].items()
                ],
            )
            for pid, p in products.items()
        }

    async def get(self, product_id: str) -> Product | None:
        return self.products.get(product_id)


@dataclass
class Replay:
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]
    data: dict[str, Any]
    services: ToolServices
    catalog: TauCatalog
    turns: int = field(default=0)

    async def ingest(self, events: list[dict[str, Any]]) -> None:
        validated = validate_events(events, default_region="US")

        async def work(session: AsyncSession) -> None:
            await ingest_events(session, validated)

        await run_transaction(self.sessions, work, name="tau.ingest")

    async def import_user(self, prefix: str, user_id: str) -> Shopper:
        user = self.data["users"][user_id]
        who = {"external_id": f"{prefix}{user_id}"}
        now = clock.now()
        stamp = (now - timedelta(days=20)).isoformat()
        events = [
            {
                "event_id": f"{prefix}identify",
                "type": "identify",
                "customer": {**who, "email": f"{prefix}{user['email']}"},
                "properties": {**user["name"], "zip": user["address"]["zip"]},
                "occurred_at": stamp,
            }
        ]
        for oid in user["orders"]:
            events += self.order_events(prefix, who, self.data["orders"][oid], now)
        await self.ingest(events)
        async with self.sessions() as session:
            customer_id = await find_customer_id(session, CustomerRef.model_validate(who))
            assert customer_id is not None
            conversation_id = new_id("cnv")
            conn = await session.connection()
            await conn.execute(
                CONVERSATIONS.insert().values(
                    id=conversation_id,
                    customer_id=customer_id,
                    channel=Channel.WEBCHAT.value,
                    address=f"{prefix}{user_id}",
                    owner="bot",
                    created_at=now,
                )
            )
            await session.commit()
        return Shopper(customer_id, Channel.WEBCHAT, conversation_id)

    def order_events(
        self, prefix: str, who: dict[str, str], order: dict[str, Any], now: Any
    ) -> list[dict[str, Any]]:
        oid = prefix + order["order_id"]
        user = self.data["users"][order["user_id"]]
        items = [
            {
                "product_id": i["product_id"],
                "variant_id": i["item_id"],
                "item_id": i["item_id"],
                "name": i["name"],
                "price": i["price"],
                "quantity": 1,
            }
            for i in order["items"]
        ]

        def ev(kind: str, days: float, **props: Any) -> dict[str, Any]:
            return {
                "event_id": f"{oid}:{kind}",
                "type": kind,
                "customer": who,
                "properties": {"order_id": oid, **props},
                "occurred_at": (now - timedelta(days=days)).isoformat(),
            }

        total = round(sum(i["price"] for i in order["items"]), 2)
        events = [
            ev(
                "order_completed",
                10,
                total=total,
                currency="USD",
                items=items,
                address=order["address"],
                email=f"{prefix}{user['email']}",
            )
        ]
        status = order["status"]
        if status in ("processed", "delivered", "return requested", "exchange requested"):
            events.append(ev("order_shipped", 8))
        if status in ("delivered", "return requested", "exchange requested"):
            events.append(ev("order_delivered", 5))
        if status == "cancelled":
            events.append(ev("order_cancelled", 9))
        if status == "return requested":
            events.append(ev("return_requested", 4, items=order.get("return_items", [])))
        if status == "exchange requested":
            pairs = zip(order["exchange_items"], order["exchange_new_items"], strict=True)
            lines = [{"item": a, "new_item": b} for a, b in pairs]
            events.append(ev("exchange_requested", 4, items=lines))
        return events

    def next_turn(self, shopper: Shopper) -> Shopper:
        self.turns += 1
        return Shopper(
            shopper.customer_id,
            shopper.channel,
            shopper.conversation_id,
            f"tau-{self.turns}:tool:0",
        )

    async def act(self, prefix: str, shopper: Shopper, name: str, kwargs: dict[str, Any]) -> None:
        now = clock.now()
        if name == "find_user_id_by_email":
            email = f"{prefix}{kwargs['email']}"
            await verify_identity(self.services, shopper, VerifyRequest(email=email), now)
        elif name == "find_user_id_by_name_zip":
            proof = VerifyRequest(
                first_name=kwargs["first_name"], last_name=kwargs["last_name"], zip=kwargs["zip"]
            )
            await verify_identity(self.services, shopper, proof, now)
        elif name == "get_order_details":
            await get_order_status(self.services, shopper, prefix + kwargs["order_id"])
        elif name in WRITES:
            await self.write(prefix, shopper, WRITES[name], kwargs)

    async def write(
        self, prefix: str, shopper: Shopper, action: str, kwargs: dict[str, Any]
    ) -> None:
        address = None
        if action == "change_address":
            keys = ("address1", "address2", "city", "state", "country", "zip")
            address = {k: kwargs[k] for k in keys}
        request = ChangeRequest.model_validate(
            {
                "action": action,
                "order_id": prefix + kwargs["order_id"],
                "items": kwargs.get("item_ids", []),
                "new_items": kwargs.get("new_item_ids", []),
                "address": address,
                "reason": kwargs.get("reason", ""),
            }
        )
        proposed = await request_order_change(
            self.services, self.next_turn(shopper), request, clock.now()
        )
        if proposed.status != "needs_confirmation":
            return
        done = await confirm_order_change(
            self.services, self.next_turn(shopper), affirmed=True, now=clock.now()
        )
        if done.request_id is not None:
            await self.play_shop(done.request_id)

    async def play_shop(self, request_id: str) -> None:
        """Do what a person (or the shop) does with a request: send the shop's event."""
        async with self.readers() as session:
            conn = await session.connection()
            row = (await conn.execute(select(REQUESTS).where(REQUESTS.c.id == request_id))).one()
            order = (await conn.execute(select(ORDERS).where(ORDERS.c.id == row.order_id))).one()
        who = {"customer_id": str(row.customer_id)}
        props: dict[str, Any] = {"order_id": row.order_id}
        details = row.details
        if row.action == "cancel":
            kind = "order_cancelled"
        elif row.action == "change_address":
            kind, props["address"] = "order_updated", details["address"]
        elif row.action == "return":
            kind, props["items"] = "return_requested", details["items"]
        elif row.action == "exchange":
            kind = "exchange_requested"
            props["items"] = [
                {"item": s["item"], "new_item": s["new_item"]} for s in details["items"]
            ]
        else:
            kind, props["items"] = "order_updated", self.swapped(order.items, details["items"])
        await self.ingest(
            [
                {
                    "event_id": f"shop:{request_id}",
                    "type": kind,
                    "customer": who,
                    "properties": props,
                    "occurred_at": clock.now().isoformat(),
                }
            ]
        )

    def swapped(self, items: list[dict[str, Any]], swaps: list[dict[str, Any]]) -> list[Any]:
        lines = [dict(i) for i in items]
        for swap in swaps:
            line = next(x for x in lines if x.get("item_id") == swap["item"] and not x.get("_new"))
            product = self.catalog.products[str(line["product_id"])]
            variant = next(v for v in product.variants if v.sku == swap["new_item"])
            line.update(item_id=variant.sku, variant_id=variant.sku, price=variant.price, _new=True)
        for line in lines:
            line.pop("_new", None)
        return lines

    async def state(self, order_id: str) -> dict[str, Any] | None:
        async with self.readers() as session:
            conn = await session.connection()
            row = (await conn.execute(select(ORDERS).where(ORDERS.c.id == order_id))).first()
        if row is None:
            return None
        return {
            "status": row.status,
            "items": sorted(str(i.get("item_id")) for i in row.items),
            "address": row.address,
            "return_items": sorted(row.return_items),
            "exchange_items": sorted(x["item"] for x in row.exchange_items),
            "exchange_new_items": sorted(x["new_item"] for x in row.exchange_items),
        }


def expected_state(tau: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": STATE[tau["status"]],
        "items": sorted(tau["items"]),
        "address": tau["address"],
        "return_items": sorted(tau.get("return_items") or []),
        "exchange_items": sorted(tau.get("exchange_items") or []),
        "exchange_new_items": sorted(tau.get("exchange_new_items") or []),
    }


def load_fixture() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = json.loads((FIXTURE / "data.json").read_text())
    tasks = json.loads((FIXTURE / "tasks_test.json").read_text())
    return data, tasks


async def run(tasks: Sequence[dict[str, Any]], data: dict[str, Any], url: str) -> Report:
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    readers = session_factory(engine, read_only=True)
    catalog = TauCatalog(data["products"])
    rules = load_guardrails()

    async def open_catalog() -> Catalog:
        return cast(Catalog, catalog)

    services = ToolServices(readers, open_catalog, lambda: rules, sessions)
    replay = Replay(sessions, readers, data, services, catalog)
    expressible = reproduced = 0
    missing: dict[str, int] = {}
    differing: list[dict[str, Any]] = []
    try:
        for task in tasks:
            names = [a["name"] for a in task["actions"]]
            unknown = [n for n in names if n not in WRITES and n not in READS]
            if unknown:
                for name in set(unknown):
                    missing[name] = missing.get(name, 0) + 1
                continue
            expressible += 1
            prefix = f"t{task['index']}-"
            shopper = await replay.import_user(prefix, task["user_id"])
            if not any(n.startswith("find_user") for n in names):
                # The task starts already identified: the shopper proves it by email first.
                email = replay.data["users"][task["user_id"]]["email"]
                await replay.act(prefix, shopper, "find_user_id_by_email", {"email": email})
            for action in task["actions"]:
                await replay.act(prefix, shopper, action["name"], action["kwargs"])
            ours = {oid: await replay.state(prefix + oid) for oid in task["expected"]}
            theirs = {oid: expected_state(s) for oid, s in task["expected"].items()}
            if ours == theirs:
                reproduced += 1
            else:
                differing.append({"task": task["index"], "ours": ours, "tau": theirs})
    finally:
        await engine.dispose()
    return Report(
        tasks=len(tasks),
        expressible=expressible,
        reproduced=reproduced,
        differing=differing,
        not_expressible=missing,
        no_counterpart=NO_COUNTERPART,
    )


async def replay_fixture(limit: int | None = None, directory: Path | None = None) -> Report:
    data, tasks = load_fixture()
    with tempfile.TemporaryDirectory() as tmp:
        where = directory or Path(tmp)
        url = f"sqlite+aiosqlite:///{where / 'tau.db'}"
        return await run(tasks[:limit] if limit else tasks, data, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    args = parser.parse_args()
    report = asyncio.run(replay_fixture(args.limit))
    summary = report.model_dump()
    summary["differing"] = [d["task"] for d in report.differing]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
