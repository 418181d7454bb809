"""After a catalog change: wake the shoppers' back-in-stock and price watches it satisfies."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.watches import ProductState, fire_watches
from profile_store import clock
from profile_store.database import transaction
from tools.catalog.schema import Product


def product_state(product: Product) -> ProductState:
    sizes = frozenset(v.size for v in product.variants if v.size and v.stock > 0)
    return ProductState(
        product_id=product.id,
        price=product.price,
        in_stock=product.in_stock,
        sizes_in_stock=sizes,
    )


async def wake_watches(sessions: async_sessionmaker[AsyncSession], products: list[Product]) -> int:
    async with transaction(sessions) as session:
        return await fire_watches(session, [product_state(p) for p in products], clock.now())
