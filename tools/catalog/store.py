"""Products in a Chroma collection: a vector for meaning, metadata for exact filters.

Each product's metadata holds what filters need (price, brand, category path, variant SKUs,
sizes and colours, and which of them are in stock) plus the product itself as JSON for cards.
The vector is made from the product's words only, and its hash is stored: a price or stock
change rewrites metadata and never re-embeds.

Chroma's client is synchronous (embedded or HTTP); ``Catalog`` runs it in a worker thread so
the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Documents, EmbeddingFunction
from chromadb.config import Settings as ChromaSettings
from pydantic import BaseModel, Field

from profile_store import clock
from tools.catalog.embeddings import MiniLmEmbeddingFunction
from tools.catalog.instructions import ProductFlag, instruction_flags
from tools.catalog.schema import Product, normalise

COLLECTION = "products"
_WRITE_BATCH = 256


class UpsertSummary(BaseModel):
    added: int = 0
    updated: int = 0
    reembedded: int = 0
    unchanged: int = 0
    flagged: list[ProductFlag] = Field(
        default_factory=list,
        description="Products whose text reads like an instruction to the assistant (stored "
        "all the same; the agent treats it as data): check them",
    )


def connect(data_dir: Path, chroma_url: str | None) -> ClientAPI:
    """Embedded Chroma under the data dir, or the Chroma server at ``chroma_url``."""
    settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        from urllib.parse import urlsplit

        parts = urlsplit(chroma_url)
        if not parts.hostname:
            raise ValueError(f"CHATCOMMERCE_CHROMA_URL {chroma_url!r} has no host")
        return chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=settings,
        )
    path = data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def product_metadata(product: Product) -> dict[str, Any]:
    in_stock = [v for v in product.variants if v.stock > 0]
    prices = [v.price for v in product.variants if v.price is not None] + [product.price]
    path = [normalise(part) for part in product.category]
    metadata: dict[str, Any] = {
        "product_id": product.id,
        "name_lc": normalise(product.name),
        "brand_lc": normalise(product.brand or ""),
        "price": float(min(prices)),
        "currency": product.currency,
        "in_stock": product.in_stock,
        "doc_hash": product.embedding_hash(),
        "card": product.model_dump_json(exclude_none=True),
        # Every prefix of the path, so "shoes" matches "shoes > running".
        "categories": [" > ".join(path[: i + 1]) for i in range(len(path))],
        "skus": [normalise(v.sku) for v in product.variants],
        "sizes": sorted({normalise(v.size) for v in product.variants if v.size}),
        "colours": sorted({normalise(v.colour) for v in product.variants if v.colour}),
        "stock_sizes": sorted({normalise(v.size) for v in in_stock if v.size}),
        "stock_colours": sorted({normalise(v.colour) for v in in_stock if v.colour}),
        "stock_combos": sorted(
            {f"{normalise(v.size)}|{normalise(v.colour)}" for v in in_stock if v.size and v.colour}
        ),
    }
    # Chroma has no empty arrays; a sentinel keeps every key present so updates replace it.
    return {
        key: (value or ["-"]) if isinstance(value, list) else value
        for key, value in metadata.items()
    }


def product_from_metadata(metadata: dict[str, Any]) -> Product:
    return Product.model_validate_json(str(metadata["card"]))


class CatalogStore:
    """Synchronous store; use through ``Catalog`` from async code.

    Vectors from different models cannot be compared, so each embedding model has its own
    collection; switching models means importing the catalog again.
    """

    def __init__(
        self, client: ClientAPI, embeddings: EmbeddingFunction[Documents] | None = None
    ) -> None:
        self.client = client
        function = embeddings or MiniLmEmbeddingFunction()
        self.embeddings: EmbeddingFunction[Documents] = function
        name = COLLECTION
        if function.name() != MiniLmEmbeddingFunction.name():
            model = str(function.get_config().get("model_name", function.name()))
            name = f"{COLLECTION}_{re.sub(r'[^a-z0-9]+', '_', model.lower()).strip('_')}"
        self.collection: Collection = client.get_or_create_collection(
            name,
            embedding_function=function,  # type: ignore[arg-type]
            configuration={"hnsw": {"space": "cosine"}},
        )

    def count(self) -> int:
        return self.collection.count()

    def upsert(self, products: Sequence[Product]) -> UpsertSummary:
        summary = UpsertSummary()
        for start in range(0, len(products), _WRITE_BATCH):
            self._upsert_batch(products[start : start + _WRITE_BATCH], summary)
        return summary

    def _upsert_batch(self, products: Sequence[Product], summary: UpsertSummary) -> None:
        latest = {product.id: product for product in products}  # a later row wins
        stored = self.collection.get(ids=list(latest), include=["metadatas"])
        existing = {
            id_: dict(meta or {})
            for id_, meta in zip(stored["ids"], stored["metadatas"] or [], strict=True)
        }
        embed: list[tuple[Product, dict[str, Any]]] = []
        meta_only: list[tuple[str, dict[str, Any]]] = []
        added_at = clock.now().timestamp()
        for product in latest.values():
            if (flag := instruction_flags(product)) is not None:
                summary.flagged.append(flag)
            metadata = product_metadata(product)
            old = existing.get(product.id)
            # When the shop first listed it, for "new arrivals"; kept across updates.
            previous = (old or {}).get("added_at")
            metadata["added_at"] = previous if isinstance(previous, float) else added_at
            if old is None:
                summary.added += 1
                embed.append((product, metadata))
            elif old.get("doc_hash") != metadata["doc_hash"]:
                summary.updated += 1
                summary.reembedded += 1
                embed.append((product, metadata))
            elif old != metadata:
                summary.updated += 1
                meta_only.append((product.id, metadata))
            else:
                summary.unchanged += 1
        if embed:
            self.collection.upsert(
                ids=[p.id for p, _ in embed],
                documents=[p.embedding_text() for p, _ in embed],
                metadatas=[meta for _, meta in embed],
            )
        if meta_only:
            self.collection.update(
                ids=[id_ for id_, _ in meta_only],
                metadatas=[meta for _, meta in meta_only],
            )

    def added_at(self, product_ids: Sequence[str]) -> dict[str, float]:
        """When each product was first imported (epoch seconds), for "new arrivals"."""
        if not product_ids:
            return {}
        found = self.collection.get(ids=list(product_ids), include=["metadatas"])
        stamps = {}
        for id_, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
            value = dict(meta or {}).get("added_at")
            stamps[id_] = value if isinstance(value, float) else 0.0
        return stamps

    def delete(self, ids: Iterable[str]) -> list[str]:
        wanted = list(ids)
        found = self.collection.get(ids=wanted, include=[])["ids"]
        if found:
            self.collection.delete(ids=found)
        return list(found)

    def all_ids(self) -> set[str]:
        ids: set[str] = set()
        offset = 0
        while batch := self.collection.get(include=[], limit=5000, offset=offset)["ids"]:
            ids.update(batch)
            offset += len(batch)
        return ids

    def get(self, product_id: str) -> Product | None:
        return self.get_many([product_id]).get(product_id)

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """The products among ``product_ids`` that exist, in one round trip."""
        if not product_ids:
            return {}
        found = self.collection.get(ids=list(dict.fromkeys(product_ids)), include=["metadatas"])
        return {
            product_id: product_from_metadata(dict(metadata))
            for product_id, metadata in zip(found["ids"], found["metadatas"] or [], strict=True)
        }


class Catalog:
    """The catalog for async callers: every Chroma call runs in a worker thread."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        chroma_url: str | None,
        embeddings: EmbeddingFunction[Documents] | None = None,
    ) -> Catalog:
        def build() -> CatalogStore:
            return CatalogStore(connect(data_dir, chroma_url), embeddings)

        return cls(await asyncio.to_thread(build))

    async def upsert(self, products: Sequence[Product]) -> UpsertSummary:
        return await asyncio.to_thread(self.store.upsert, products)

    async def delete(self, product_id: str) -> bool:
        return bool(await asyncio.to_thread(self.store.delete, [product_id]))

    async def get(self, product_id: str) -> Product | None:
        return await asyncio.to_thread(self.store.get, product_id)

    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        return await asyncio.to_thread(self.store.get_many, product_ids)

    async def added_at(self, product_ids: Sequence[str]) -> dict[str, float]:
        return await asyncio.to_thread(self.store.added_at, product_ids)

    async def count(self) -> int:
        return await asyncio.to_thread(self.store.count)
