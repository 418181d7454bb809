"""What policy needs to know about products, from whatever holds the catalog.

Policy does not import the catalog (DESIGN.md layers); the app hands it a ``ProductLookup``. A
deployment without a catalog answers with nothing, and the rules that need product facts (a
purchase suppressing its whole category) then act on what events said.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from policy.context import CustomerContext


class ProductFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    product_id: str
    category: str | None = None  # the category path, as category_key gives it


class ProductLookup(Protocol):
    async def facts(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]: ...


class NoProductLookup:
    async def facts(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]:
        return {}


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
