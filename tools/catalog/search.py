"""Product search: meaning from the vector, hard filters from metadata, exact matches first.

Filters are exact, never ranked: Chroma applies them before the nearest-neighbour ranking, so
every card satisfies every filter. "Size 42 in stock" means one variant of size 42 has stock;
with a colour too, the same variant must have both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.catalog.schema import Product, Variant, normalise
from tools.catalog.store import Catalog, CatalogStore, product_from_metadata

Vector = NDArray[np.float32 | np.int32]  # what Chroma's query_embeddings accepts
CANDIDATES = 200  # nearest products checked against the filters before Chroma filters itself
CANDIDATES_PER_RESULT = 20
SLICE = 25


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", max_length=500, description="The shopper's words, or a SKU")
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    category: str | None = Field(default=None, description='A category or path: "shoes"')
    brand: str | None = None
    in_stock: bool = False
    size: str | None = None
    colour: str | None = None
    colours: list[str] = Field(default_factory=list, description="Any of these colours")
    not_colours: list[str] = Field(default_factory=list, description="None of these colours")
    similar_to: str | None = Field(default=None, description="A product id, for cross-sell")
    product_ids: list[str] = Field(
        default_factory=list, description="Only these products (a question about one of them)"
    )
    exclude_ids: list[str] = Field(default_factory=list, description="e.g. already bought")
    limit: int = Field(default=5, ge=1, le=50)

    @property
    def wanted_colours(self) -> list[str]:
        wanted = [self.colour, *self.colours] if self.colour else list(self.colours)
        return list(dict.fromkeys(normalise(c) for c in wanted if c))

    @property
    def unwanted_colours(self) -> set[str]:
        return {normalise(c) for c in self.not_colours if c}

    @model_validator(mode="after")
    def _sensible(self) -> SearchQuery:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError(f"min_price {self.min_price} is above max_price {self.max_price}")
        return self


class ProductHit(BaseModel):
    """A product card: what the shopper sees and why the agent picked it."""

    id: str
    name: str
    brand: str | None
    category: list[str]
    price: float
    currency: str
    compare_at_price: float | None
    url: str | None
    image_url: str | None
    in_stock: bool
    matching_variants: list[Variant]
    why: list[str]
    score: float | None = None


def _where(query: SearchQuery) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if query.min_price is not None:
        clauses.append({"price": {"$gte": query.min_price}})
    if query.max_price is not None:
        clauses.append({"price": {"$lte": query.max_price}})
    if query.category:
        path = " > ".join(normalise(part) for part in query.category.split(">"))
        clauses.append({"categories": {"$contains": path}})
    if query.brand:
        clauses.append({"brand_lc": normalise(query.brand)})
    if query.in_stock:
        clauses.append({"in_stock": True})
    size = normalise(query.size) if query.size else None
    colours = query.wanted_colours
    if query.in_stock and size and colours:
        clauses.append(_any([{"stock_combos": {"$contains": f"{size}|{c}"}} for c in colours]))
    else:
        if size:
            clauses.append({("stock_sizes" if query.in_stock else "sizes"): {"$contains": size}})
        if colours:
            key = "stock_colours" if query.in_stock else "colours"
            clauses.append(_any([{key: {"$contains": c}} for c in colours]))
    # "Anything but red" is checked on each product (a product with red and blue variants
    # still has a blue one): Chroma has no "some element not in" operator.
    excluded = [*query.exclude_ids, *([query.similar_to] if query.similar_to else [])]
    if excluded:
        clauses.append({"product_id": {"$nin": excluded}})
    if query.product_ids:
        clauses.append({"product_id": {"$in": list(query.product_ids)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _any(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _exact_clause(text: str, key: str) -> dict[str, Any]:
    return {"$or": [{"skus": {"$contains": key}}, {"name_lc": key}, {"product_id": text}]}


def _matching_variants(product: Product, query: SearchQuery) -> list[Variant]:
    size = normalise(query.size) if query.size else None
    colours = set(query.wanted_colours)
    unwanted = query.unwanted_colours
    return [
        v
        for v in product.variants
        if (size is None or (v.size and normalise(v.size) == size))
        and (not colours or (v.colour and normalise(v.colour) in colours))
        and not (v.colour and normalise(v.colour) in unwanted)
        and (not query.in_stock or v.stock > 0)
    ]


def _reasons(query: SearchQuery, first: str) -> list[str]:
    why = [first]
    if query.min_price is not None or query.max_price is not None:
        low = f"{query.min_price:g}" if query.min_price is not None else "0"
        high = f"{query.max_price:g}" if query.max_price is not None else "any"
        why.append(f"price {low} to {high}")
    for label, value in (("category", query.category), ("brand", query.brand)):
        if value:
            why.append(f"{label} {value}")
    colours = " or ".join(query.wanted_colours)
    variant = " ".join(
        part for part in (f"size {query.size}" if query.size else "", colours) if part
    )
    if query.not_colours:
        why.append(f"not {', '.join(query.not_colours)}")
    if variant or query.in_stock:
        why.append(f"{variant or 'a variant'}{' in stock' if query.in_stock else ''}")
    return why


def _hit(product: Product, query: SearchQuery, why: str, score: float | None) -> ProductHit:
    return ProductHit(
        id=product.id,
        name=product.name,
        brand=product.brand,
        category=product.category,
        price=product.price,
        currency=product.currency,
        compare_at_price=product.compare_at_price,
        url=str(product.url) if product.url else None,
        image_url=str(product.image_url) if product.image_url else None,
        in_stock=product.in_stock,
        matching_variants=_matching_variants(product, query),
        why=_reasons(query, why),
        score=score,
    )


class UnknownProductError(LookupError):
    pass


def search_products(store: CatalogStore, query: SearchQuery) -> list[ProductHit]:
    where = _where(query)
    hits: list[ProductHit] = []
    seen: set[str] = set()
    text = query.text.strip()
    key = normalise(text)
    if text and not query.similar_to and " " not in key:
        # A SKU or id is one token and means nothing to the embedding model: look it up.
        # (A several-word exact name is the nearest vector anyway and is promoted below.)
        # Only the exact clauses go to Chroma; the filters are checked here, as a broad
        # filter makes Chroma scan every product's metadata.
        exact = store.collection.get(
            where=_exact_clause(text, key), include=["metadatas"], limit=query.limit + 20
        )
        for stored in exact["metadatas"] or []:
            metadata = dict(stored)
            if not _passes(metadata, query) or len(hits) >= query.limit:
                continue
            product = product_from_metadata(metadata)
            matched = (
                "exact SKU"
                if key in {normalise(v.sku) for v in product.variants}
                else ("exact name" if normalise(product.name) == key else "exact id")
            )
            hits.append(_hit(product, query, matched, 1.0))
            seen.add(product.id)
    wanted = query.limit - len(hits)
    if wanted <= 0:
        return hits[: query.limit]
    if query.similar_to:
        anchor = store.collection.get(ids=[query.similar_to], include=["embeddings"])
        embeddings = anchor["embeddings"]
        if embeddings is None or len(embeddings) == 0:
            raise UnknownProductError(f"no product {query.similar_to!r} in the catalog")
        vector: Vector = np.asarray(embeddings[0], dtype=np.float32)
        why = f"similar to {query.similar_to}"
    elif text:
        vector = np.asarray(store.embeddings.embed_query([text])[0], dtype=np.float32)
        why = "meaning"
    else:
        listed = store.collection.get(where=where, include=["metadatas"], limit=wanted + 50)
        for row in listed["metadatas"] or []:
            if _passes(dict(row), query) and len(hits) < query.limit:
                hits.append(_hit(product_from_metadata(dict(row)), query, "filters", None))
        return hits
    nearest = _nearest(store, vector, query, where, wanted, seen)
    # An exact name goes first, whatever its distance.
    nearest.sort(key=lambda pair: pair[0]["name_lc"] != key)
    for metadata, similarity in nearest:
        product = product_from_metadata(metadata)
        reason = "exact name" if metadata["name_lc"] == key else f"{why} ({similarity:.2f})"
        hits.append(_hit(product, query, reason, similarity))
    return hits


def _nearest(
    store: CatalogStore,
    vector: Vector,
    query: SearchQuery,
    where: dict[str, Any] | None,
    wanted: int,
    seen: set[str],
) -> list[tuple[dict[str, Any], float]]:
    """The ``wanted`` nearest products that pass the filters.

    Chroma's own filtered search is exact but slow on broad filters (it builds the allowed set
    from metadata first: ~50 ms for a price range over 20,000 products). Most searches filter
    on what the words already say, so the nearest few hundred products, checked a slice at a
    time against their stored metadata, usually hold enough matches; only when they do not
    is Chroma's filtered search asked. Either way every result passes every filter.
    """
    collection = store.collection
    if where is None and not query.not_colours:
        found = collection.query(
            query_embeddings=[vector],
            n_results=wanted + len(seen),
            include=["metadatas", "distances"],
        )
        pairs = zip((found["metadatas"] or [[]])[0], (found["distances"] or [[]])[0], strict=True)
        ranked = [(dict(m), round(1.0 - float(d), 3)) for m, d in pairs]
        return [(m, s) for m, s in ranked if m["product_id"] not in seen][:wanted]
    pool = max(CANDIDATES, wanted * CANDIDATES_PER_RESULT)
    found = collection.query(query_embeddings=[vector], n_results=pool, include=["distances"])
    ids = found["ids"][0]
    considered_all = len(ids) < pool  # Chroma returns everything when asked for more
    similarity = {
        id_: round(1.0 - float(d), 3)
        for id_, d in zip(ids, (found["distances"] or [[]])[0], strict=True)
    }
    chosen: list[tuple[dict[str, Any], float]] = []
    # A small first slice is usually enough; the rest are read 25 at a time.
    first = max(wanted * 4, 20)
    bounds = [(0, first), *((at, at + SLICE) for at in range(first, len(ids), SLICE))]
    for start, end in bounds:
        chunk = [id_ for id_ in ids[start:end] if id_ not in seen]
        if not chunk:
            continue
        stored = collection.get(ids=chunk, include=["metadatas"])
        by_id: dict[str, dict[str, Any]] = {
            id_: dict(m) for id_, m in zip(stored["ids"], stored["metadatas"] or [], strict=True)
        }
        for id_ in chunk:
            metadata = by_id.get(id_)
            if metadata is not None and _passes(metadata, query):
                chosen.append((metadata, similarity[id_]))
                if len(chosen) == wanted:
                    return chosen
    if considered_all:
        return chosen
    exact = collection.query(
        query_embeddings=[vector],
        n_results=wanted + len(seen),
        where=where,
        include=["metadatas", "distances"],
    )
    pairs = zip((exact["metadatas"] or [[]])[0], (exact["distances"] or [[]])[0], strict=True)
    ranked = [(dict(m), round(1.0 - float(d), 3)) for m, d in pairs]
    return [(m, s) for m, s in ranked if m["product_id"] not in seen and _passes(m, query)][:wanted]


def _passes(metadata: dict[str, Any], query: SearchQuery) -> bool:
    """The filters of ``_where``, evaluated on one product's stored metadata."""
    price = float(metadata["price"])
    if query.min_price is not None and price < query.min_price:
        return False
    if query.max_price is not None and price > query.max_price:
        return False
    if query.category:
        path = " > ".join(normalise(part) for part in query.category.split(">"))
        if path not in metadata["categories"]:
            return False
    if query.brand and metadata["brand_lc"] != normalise(query.brand):
        return False
    if query.in_stock and not metadata["in_stock"]:
        return False
    size = normalise(query.size) if query.size else None
    colours = query.wanted_colours
    if query.in_stock and size and colours:
        if not any(f"{size}|{c}" in metadata["stock_combos"] for c in colours):
            return False
    else:
        if size and size not in metadata["stock_sizes" if query.in_stock else "sizes"]:
            return False
        stocked = metadata["stock_colours" if query.in_stock else "colours"]
        if colours and not any(c in stocked for c in colours):
            return False
    unwanted = query.unwanted_colours
    if unwanted:
        present = {
            c for c in metadata["stock_colours" if query.in_stock else "colours"] if c != "-"
        }
        if present and present <= unwanted:
            return False
    excluded = {*query.exclude_ids, *([query.similar_to] if query.similar_to else [])}
    if query.product_ids and metadata["product_id"] not in query.product_ids:
        return False
    return metadata["product_id"] not in excluded


async def search(catalog: Catalog, query: SearchQuery) -> list[ProductHit]:
    return await asyncio.to_thread(search_products, catalog.store, query)
