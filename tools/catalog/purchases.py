"""What a customer already bought, so search can leave it out of cross-sell suggestions."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.identity import find_customer_id
from profile_store.schemas import CustomerRef
from profile_store.trait_store import load_traits


async def purchased_product_ids(session: AsyncSession, ref: CustomerRef) -> list[str]:
    """Product ids from the customer's orders; an unknown customer has bought nothing."""
    customer_id = await find_customer_id(session, ref)
    if customer_id is None:
        return []
    traits = (await load_traits(session, [customer_id])).get(customer_id)
    return sorted(traits.purchased_products) if traits else []
