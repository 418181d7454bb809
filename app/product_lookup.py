"""Catalog facts for the policy engine (categories of the products a decision is about).

Policy may not import the catalog (DESIGN.md layers), so the app adapts one to the other. A
catalog that cannot be opened answers with nothing: decisions then act on what events said,
rather than fail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog

from policy.products import ProductFacts, category_key
from tools.catalog.store import Catalog

log = structlog.get_logger(__name__)


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
        return {
            product_id: ProductFacts(product_id=product_id, category=category_key(p.category))
            for product_id, p in products.items()
        }
