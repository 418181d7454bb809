"""Catalog benchmark: search latency (query embedding included) at 1,000 and 20,000 products,
embedded Chroma and a `chroma run` server; products indexed per second; resident memory.

Products are the demo families extended to the wanted size. Indexing speed is measured with real
embeddings on 1,000 products; the 20,000-product collections get each product's family vector
plus a little noise, so building them does not take minutes of embedding (search cost does
not depend on where vectors came from). Run: `.venv/bin/python -m bench.catalog_search`.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from bench.server import rss_mb
from tests.chroma_server import running_chroma
from tools.catalog.demo_catalog import FAMILIES, demo_product
from tools.catalog.embeddings import shared_embedder
from tools.catalog.schema import Product
from tools.catalog.search import SearchQuery, search_products
from tools.catalog.store import COLLECTION, CatalogStore, connect, product_metadata

SIZES = (1_000, 20_000)
QUERIES = 300
TEXTS = [
    "waterproof running shoes",
    "rain jacket with a hood",
    "noise cancelling headphones for flights",
    "cast iron skillet",
    "laptop backpack",
    "warm winter boots",
    "sunscreen for sensitive skin",
    "tent for backpacking",
    "merino t-shirt",
    "usb-c charger for a laptop",
]
FILTERS: list[dict[str, Any]] = [
    {},
    {"max_price": 80.0},
    {"category": "shoes", "size": "42", "in_stock": True},
    {"brand": "kestrel", "min_price": 20.0, "max_price": 200.0},
    {"colour": "black", "in_stock": True},
]


def products(n: int) -> list[Product]:
    rng = random.Random(11)
    made: list[Product] = []
    index = 0
    while len(made) < n:
        for family in FAMILIES:
            made.append(demo_product(family, index, rng))
            if len(made) == n:
                break
        index += 1
    return made


def family_vectors(items: list[Product]) -> np.ndarray:
    """Each product's own text embedded once per family and quality, plus small noise."""
    embedder = shared_embedder()
    keys = [item.id.split("-")[0] + "|" + item.name.split(" ")[-2] for item in items]
    unique = sorted(set(keys))
    base = dict(zip(unique, embedder.embed([k.replace("|", " ") for k in unique]), strict=True))
    rng = np.random.default_rng(5)
    vectors = np.stack([base[k] for k in keys]) + rng.normal(0, 0.03, (len(items), 384))
    normed: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normed.astype(np.float32)


def fill(store: CatalogStore, items: list[Product]) -> None:
    vectors = family_vectors(items)
    for start in range(0, len(items), 1000):
        batch = items[start : start + 1000]
        store.collection.add(
            ids=[p.id for p in batch],
            embeddings=vectors[start : start + 1000],
            documents=[p.embedding_text() for p in batch],
            metadatas=[product_metadata(p) for p in batch],
        )


# Filters as an agent extracts them from the same sentence as the words.
FITTING: list[tuple[str, dict[str, Any]]] = [
    ("waterproof running shoes", {}),
    ("waterproof running shoes under 80 in size 42", {"max_price": 80.0, "size": "42"}),
    ("running shoes size 42 in stock", {"category": "shoes", "size": "42", "in_stock": True}),
    ("black rain jacket in M", {"colour": "black", "size": "M", "in_stock": True}),
    ("kestrel hiking boots", {"brand": "kestrel", "category": "shoes > hiking"}),
    ("noise cancelling headphones under 200", {"max_price": 200.0}),
    ("cast iron skillet", {"category": "home"}),
    ("laptop backpack in grey", {"colour": "grey"}),
    ("sunscreen for sensitive skin", {"in_stock": True}),
    ("tent for backpacking between 100 and 400", {"min_price": 100.0, "max_price": 400.0}),
]


def queries(mix: str) -> list[SearchQuery]:
    rng = random.Random(3)
    if mix == "fitting":
        return [
            SearchQuery(text=text, limit=5, **filters)
            for text, filters in (rng.choice(FITTING) for _ in range(QUERIES))
        ]
    # Any words with any filters: often nothing near the words passes, the slow path.
    return [
        SearchQuery(text=rng.choice(TEXTS), limit=5, **rng.choice(FILTERS)) for _ in range(QUERIES)
    ]


def latencies(store: CatalogStore, mix: str) -> tuple[float, float]:
    queries_ = queries(mix)
    for query in queries_[:20]:  # warm up
        search_products(store, query)
    times = []
    for query in queries_:
        start = time.perf_counter()
        search_products(store, query)
        times.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[98]


def index_rate(store: CatalogStore) -> float:
    items = products(1_000)
    start = time.perf_counter()
    store.upsert(items)
    return len(items) / (time.perf_counter() - start)


def run_mode(mode: str, tmp: Path) -> list[dict[str, Any]]:
    server = running_chroma(tmp / "server") if mode == "server" else nullcontext((None, None))
    with server as (url, proc):
        return measure(mode, tmp, url, proc)


def measure(
    mode: str, tmp: Path, url: str | None, proc: subprocess.Popen[bytes] | None
) -> list[dict[str, Any]]:
    rows = []
    for size in SIZES:
        if mode == "server":
            client = connect(tmp, url)
            if COLLECTION in [c.name for c in client.list_collections()]:
                client.delete_collection(COLLECTION)
        else:
            client = connect(tmp / f"embedded-{size}", None)
        store = CatalogStore(client)
        rate = index_rate(store) if size == SIZES[0] else None
        if existing := sorted(store.all_ids()):  # the indexing run's products
            store.collection.delete(ids=existing)
        fill(store, products(size))
        p50, p99 = latencies(store, "fitting")
        any_p50, any_p99 = latencies(store, "any")
        rows.append(
            {
                "mode": mode,
                "products": size,
                "search_p50_ms": round(p50, 2),
                "search_p99_ms": round(p99, 2),
                "any_filters_p50_ms": round(any_p50, 2),
                "any_filters_p99_ms": round(any_p99, 2),
                "indexed_per_s": round(rate, 1) if rate else None,
                "bench_rss_mb": round(rss_mb(os.getpid())),
                "server_rss_mb": round(rss_mb(proc.pid)) if proc else None,
            }
        )
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_mode("embedded", Path(tmp)) + run_mode("server", Path(tmp))
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "catalog_search.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
