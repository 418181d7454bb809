"""The catalog API and CLI: upsert, cheap price/stock updates, delete, search errors, import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from tools.catalog.embeddings import MiniLmEmbedder

SHOE: dict[str, Any] = {
    "id": "shoe-1",
    "name": "Puddle Jumper Running Shoe",
    "description": "Waterproof running shoe for rainy commutes.",
    "category": ["Shoes", "Running"],
    "brand": "Acme",
    "price": 79.0,
    "currency": "usd",
    "url": "https://shop.example/p/shoe-1",
    "image_url": "https://shop.example/i/shoe-1.jpg",
    "variants": [
        {"sku": "SJ-42-BLK", "size": "42", "colour": "black", "stock": 0},
        {"sku": "SJ-43-BLK", "size": "43", "colour": "black", "stock": 2},
    ],
}
PAN: dict[str, Any] = {
    "id": "pan-1",
    "name": "Iron Skillet",
    "description": "Cast iron pan.",
    "category": ["Home", "Kitchen"],
    "price": 35,
    "currency": "USD",
    "stock": 5,
}


class CountingEmbeddings:
    """Counts texts embedded, to prove a stock change re-embeds nothing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts = 0
        original = MiniLmEmbedder.embed

        def counting(embedder: MiniLmEmbedder, texts: Any) -> Any:
            self.texts += len(texts)
            return original(embedder, texts)

        monkeypatch.setattr(MiniLmEmbedder, "embed", counting)


async def test_upsert_then_stock_and_price_changes_do_not_re_embed(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = CountingEmbeddings(monkeypatch)
    created = await client.post("/v1/catalog/products", json={"products": [SHOE, PAN]})
    assert created.status_code == 200, created.text
    assert created.json() == {
        "added": 2,
        "updated": 0,
        "reembedded": 0,
        "unchanged": 0,
        "flagged": [],
    }
    assert embeddings.texts == 2

    restocked = json.loads(json.dumps(SHOE))
    restocked["variants"][0]["stock"] = 7
    restocked["price"] = 69.0
    again = await client.post("/v1/catalog/products", json={"products": [restocked, PAN]})
    assert again.json() == {
        "added": 0,
        "updated": 1,
        "reembedded": 0,
        "unchanged": 1,
        "flagged": [],
    }
    assert embeddings.texts == 2  # nothing re-embedded

    search = await client.get(
        "/v1/catalog/search", params={"q": "rain shoes", "size": "42", "in_stock": "true"}
    )
    assert search.status_code == 200
    [hit] = search.json()
    assert hit["id"] == "shoe-1" and hit["price"] == 69.0
    assert [v["sku"] for v in hit["matching_variants"]] == ["SJ-42-BLK"]

    before = embeddings.texts  # the search embedded its query
    renamed = restocked | {"description": "A different story entirely."}
    third = await client.post("/v1/catalog/products", json={"products": [renamed]})
    assert third.json()["reembedded"] == 1 and embeddings.texts == before + 1


async def test_a_bad_product_rejects_the_batch_with_reasons(client: httpx.AsyncClient) -> None:
    bad = PAN | {"id": "pan-2", "price": -1, "currency": "dollars"}
    response = await client.post("/v1/catalog/products", json={"products": [SHOE, bad]})
    assert response.status_code == 422
    errors = response.json()["detail"]["errors"]
    assert errors[0]["index"] == 1 and errors[0]["id"] == "pan-2"
    assert "price" in errors[0]["reason"] and "currency" in errors[0]["reason"]
    assert (await client.get("/v1/catalog/products/shoe-1")).status_code == 404


async def test_delete_and_read(client: httpx.AsyncClient) -> None:
    await client.post("/v1/catalog/products", json={"products": [PAN]})
    assert (await client.get("/v1/catalog/products/pan-1")).json()["name"] == "Iron Skillet"
    assert (await client.delete("/v1/catalog/products/pan-1")).status_code == 204
    assert (await client.delete("/v1/catalog/products/pan-1")).status_code == 404


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"q": "pan", "min_price": "90", "max_price": "10"}, "min_price 90.0 is above max_price"),
        ({"q": "pan", "colr": "red"}, "unknown filter(s) colr"),
        ({"q": "pan", "limit": "500"}, "limit"),
        ({"customer": "nonsense"}, "customer"),
    ],
)
async def test_nonsense_search_filters_get_a_clear_422(
    client: httpx.AsyncClient, params: dict[str, str], reason: str
) -> None:
    response = await client.get("/v1/catalog/search", params=params)
    assert response.status_code == 422
    assert reason in json.dumps(response.json())


async def test_search_leaves_out_what_the_customer_bought(client: httpx.AsyncClient) -> None:
    await client.post("/v1/catalog/products", json={"products": [SHOE, PAN]})
    order = {
        "event_id": "o-1",
        "type": "order_completed",
        "customer": {"phone": "+15551234567"},
        "properties": {
            "order_id": "o-1",
            "total": 35,
            "currency": "USD",
            "items": [{"product_id": "pan-1", "quantity": 1, "price": 35}],
        },
        "occurred_at": "2026-11-20T10:00:00Z",
    }
    assert (await client.post("/v1/events", json=order)).status_code == 200
    everything = await client.get("/v1/catalog/search", params={"limit": 10})
    assert {hit["id"] for hit in everything.json()} == {"shoe-1", "pan-1"}
    mine = await client.get("/v1/catalog/search", params={"customer": "+15551234567"})
    assert [hit["id"] for hit in mine.json()] == ["shoe-1"]


async def test_catalog_needs_the_write_key(app: Any) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as anonymous:
        assert (await anonymous.get("/v1/catalog/search", params={"q": "x"})).status_code == 401
        response = await anonymous.post("/v1/catalog/products", json={"products": [PAN]})
        assert response.status_code == 401


def test_cli_import_reports_each_rejected_row_and_prunes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATCOMMERCE_DATA_DIR", str(tmp_path / "var"))
    first = tmp_path / "catalog.json"
    first.write_text(json.dumps({"products": [SHOE, PAN]}))
    runner = CliRunner()
    result = runner.invoke(cli, ["catalog", "import", str(first)])
    assert result.exit_code == 0, result.output
    assert "2 added, 0 updated (0 re-embedded), 0 unchanged, 0 rejected" in result.output

    csv = tmp_path / "catalog.csv"
    csv.write_text(
        "id,name,category,price,currency,variant_sku,variant_size,variant_stock\n"
        "pan-1,Iron Skillet,Home > Kitchen,35,USD,,,\n"
        "hat-1,Wool Hat,Clothing,,USD,HAT-1,M,3\n"
        "cap-1,Cap,Clothing,12,USD,CAP-1,M,-2\n"
    )
    result = runner.invoke(cli, ["catalog", "import", str(csv), "--prune"])
    assert result.exit_code == 1
    assert "row 3 (hat-1): price: Field required" in result.output
    assert "row 4 (cap-1): variants.0.stock" in result.output
    # shoe-1 is gone (not in the file); the rejected rows are kept out, not pruned blindly.
    assert "0 added, 1 updated" in result.output and "1 pruned" in result.output

    missing = runner.invoke(cli, ["catalog", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output
