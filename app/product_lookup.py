"""Catalog facts for the policy engine: the products a decision is about, their alternatives,
and products to suggest.

Policy may not import the catalog (DESIGN.md layers), so the app adapts one to the other. A
catalog that cannot be opened answers with nothing: decisions then act on what events said,
rather than fail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import structlog

from policy.products import ProductFacts, category_key
from tools.catalog.schema import Product, normalise
from tools.catalog.search import ProductHit, SearchQuery, UnknownProductError, search
from tools.catalog.store import Catalog

log = structlog.get_logger(__name__)
# Products looked at to find the newest in a category (the catalog keeps no order by date).
BROWSE_POOL = 200


def facts_of(product: Product | ProductHit, added_at: float | None = None) -> ProductFacts:
    variants = product.variants if isinstance(product, Product) else product.matching_variants
    return ProductFacts(
        product_id=product.id,
        category=category_key(product.category),
        name=product.name,
        brand=product.brand,
        price=product.price,
        was_price=product.compare_at_price,
        currency=product.currency,
        url=str(product.url) if product.url else None,
        image_url=str(product.image_url) if product.image_url else None,
        in_stock=product.in_stock,
        sizes_in_stock=frozenset(normalise(v.size) for v in variants if v.size and v.stock > 0),
        added_at=datetime.fromtimestamp(added_at, UTC) if added_at is not None else None,
    )


class CatalogProductLookup:
    def __init__(self, catalog: Callable[[], Awaitable[Catalog]]) -> None:
        self._catalog = catalog

    async def facts(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]:
        if not product_ids:
            return {}
        try:
            products = await (await self._catalog()).get_many(product_ids)
        except Exception:
            log.exception("product_lookup.failed", product_ids=list(product_ids)[:10])
            return {}
        return {product_id: facts_of(p) for product_id, p in products.items()}

    async def similar(
        self, product_id: str, *, limit: int, exclude: Sequence[str] = ()
    ) -> list[ProductFacts]:
        query = SearchQuery(
            similar_to=product_id, in_stock=True, exclude_ids=list(exclude), limit=limit
        )
        return [facts_of(hit) for hit in await self._search(query)]

    async def browse(
        self,
        *,
        categories: Sequence[str] = (),
        brands: Sequence[str] = (),
        limit: int,
        exclude: Sequence[str] = (),
        newest_first: bool = False,
    ) -> list[ProductFacts]:
        found: dict[str, ProductFacts] = {}
        queries = [SearchQuery(category=c, in_stock=True) for c in categories] + [
            SearchQuery(brand=b, in_stock=True) for b in brands
        ] or [SearchQuery(in_stock=True)]  # no preference known: anything in stock
        pool = BROWSE_POOL if newest_first else limit + len(exclude)
        for query in queries:
            batch = query.model_copy(update={"exclude_ids": list(exclude), "limit": min(pool, 50)})
            for hit in await self._search(batch):
                found.setdefault(hit.id, facts_of(hit))
        chosen = list(found.values())
        if newest_first:
            added = await self._added_at([f.product_id for f in chosen])
            chosen.sort(key=lambda f: added.get(f.product_id, 0.0), reverse=True)
        return chosen[:limit]

    async def _search(self, query: SearchQuery) -> list[ProductHit]:
        try:
            return await search(await self._catalog(), query)
        except UnknownProductError:
            return []  # a product the catalog does not (or no longer) list has no neighbours
        except Exception:
            log.exception("product_lookup.search_failed", query=query.model_dump())
            return []

    async def _added_at(self, product_ids: list[str]) -> dict[str, float]:
        catalog = await self._catalog()
        return await catalog.added_at(product_ids)
