"""What policy needs to know about products, from whatever holds the catalog.

Policy does not import the catalog (DESIGN.md layers); the app hands it a ``ProductLookup``:
facts about given products (categories for suppression; name, price, image and link for the
message), close alternatives of one, and products in given categories or of given brands. A
deployment without a catalog answers with nothing; decisions then act on what events said, and
a message with nothing to show is not sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from policy.context import CustomerContext


class ProductFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    product_id: str
    category: str | None = None  # the category path, as category_key gives it
    name: str = ""
    brand: str | None = None
    price: float | None = None
    was_price: float | None = None  # the catalog's compare-at price
    currency: str | None = None
    url: str | None = None
    image_url: str | None = None
    in_stock: bool = True
    sizes_in_stock: frozenset[str] = Field(default_factory=frozenset)
    added_at: datetime | None = None


class ProductLookup(Protocol):
    async def facts(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]: ...

    async def similar(
        self, product_id: str, *, limit: int, exclude: Sequence[str] = ()
    ) -> list[ProductFacts]:
        """In-stock products nearest to ``product_id``, nearest first."""
        ...

    async def browse(
        self,
        *,
        categories: Sequence[str] = (),
        brands: Sequence[str] = (),
        limit: int,
        exclude: Sequence[str] = (),
        newest_first: bool = False,
    ) -> list[ProductFacts]:
        """In-stock products in any of ``categories`` or of any of ``brands`` (with neither,
        any in-stock product)."""
        ...


class NoProductLookup:
    async def facts(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]:
        return {}

    async def similar(
        self, product_id: str, *, limit: int, exclude: Sequence[str] = ()
    ) -> list[ProductFacts]:
        return []

    async def browse(
        self,
        *,
        categories: Sequence[str] = (),
        brands: Sequence[str] = (),
        limit: int,
        exclude: Sequence[str] = (),
        newest_first: bool = False,
    ) -> list[ProductFacts]:
        return []


def category_key(category: str | Sequence[str] | None) -> str | None:
    """One spelling for a category path, whether it came as the catalog's list
    (``["Shoes", "Running"]``) or as an event's text (``"shoes > running"``, ``"Shoes/Running"``).
    """
    if category is None:
        return None
    parts = category.replace("/", ">").split(">") if isinstance(category, str) else category
    cleaned = [" ".join(part.split()).casefold() for part in parts]
    key = " > ".join(part for part in cleaned if part)
    return key or None


async def with_purchase_categories(
    contexts: dict[str, CustomerContext], lookup: ProductLookup
) -> dict[str, CustomerContext]:
    """Contexts whose purchases all carry a category when the catalog knows it: shops often
    send orders without categories, and category suppression needs them."""
    missing = sorted(
        {p.product_id for ctx in contexts.values() for p in ctx.purchases if not p.category}
    )
    if not missing:
        return contexts
    facts = await lookup.facts(missing)
    if not facts:
        return contexts
    completed = {}
    for customer_id, ctx in contexts.items():
        purchases = [
            p
            if p.category or p.product_id not in facts
            else p.model_copy(update={"category": facts[p.product_id].category})
            for p in ctx.purchases
        ]
        completed[customer_id] = ctx.model_copy(update={"purchases": purchases})
    return completed
