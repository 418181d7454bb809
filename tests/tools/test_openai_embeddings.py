"""OpenAI embeddings when configured: the real openai client against a local fake API."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.catalog_setup import embedding_function, open_catalog_store
from app.settings import Settings
from tests.fake_providers.openai_api import FakeOpenAiApi
from tests.fake_providers.server import serve
from tools.catalog.schema import Product
from tools.catalog.search import SearchQuery, search_products

PRODUCTS = [
    Product(id="pan", name="Cast Iron Skillet", description="Heavy pan", price=30, currency="USD"),
    Product(id="tent", name="Ultralight Tent", description="Two person", price=200, currency="USD"),
    Product(id="tee", name="Merino Tee", description="Wool shirt", price=40, currency="USD"),
]


async def test_catalog_uses_openai_embeddings_when_configured(tmp_path: Path) -> None:
    fake = FakeOpenAiApi(api_key="sk-test")
    async with serve(fake.app) as url:
        settings = Settings(
            _env_file=None,
            data_dir=tmp_path,
            embeddings="openai",
            openai_api_key="sk-test",
            openai_base_url=f"{url}/v1",
            openai_embedding_model="text-embedding-3-small",
        )
        store = open_catalog_store(settings)
        assert store.collection.name == "products_text_embedding_3_small"
        import asyncio

        await asyncio.to_thread(store.upsert, PRODUCTS)
        hits = await asyncio.to_thread(
            search_products, store, SearchQuery(text="iron skillet", limit=1)
        )
    assert hits[0].id == "pan"
    assert {request["model"] for request in fake.requests} == {"text-embedding-3-small"}
    assert sum(len(r["input"]) for r in fake.requests) == 4  # three products, one query


def test_openai_embeddings_without_a_key_are_refused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, embeddings="openai")
    with pytest.raises(ValueError, match="CHATCOMMERCE_OPENAI_API_KEY"):
        embedding_function(settings)
