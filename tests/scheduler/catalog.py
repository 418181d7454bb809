"""A small catalog for the scheduler's stories: a coat and what goes with it, boots and socks."""

from __future__ import annotations

from typing import Any

from tests.scheduler.conftest import Shop


def product(
    product_id: str, name: str, category: list[str], brand: str, price: float, **extra: Any
) -> dict[str, Any]:
    return {
        "id": product_id,
        "name": name,
        "category": category,
        "brand": brand,
        "price": price,
        "currency": "USD",
        "url": f"https://shop.example/p/{product_id}",
        "image_url": f"https://cdn.shop.example/{product_id}.jpg",
        "variants": [{"sku": f"{product_id}-m", "size": "M", "stock": 5}],
        **extra,
    }


PRODUCTS = [
    product("coat", "Fjell Storm Coat", ["Clothing", "Coats"], "Fjell", 199.0),
    product("coat-2", "Harbour Rain Coat", ["Clothing", "Coats"], "Harbour", 149.0),
    product("scarf", "Fjell Wool Scarf", ["Accessories", "Scarves"], "Fjell", 39.0),
    product("gloves", "Fjell Touch Gloves", ["Accessories", "Gloves"], "Fjell", 29.0),
    product("beanie", "Fjell Knit Beanie", ["Accessories", "Hats"], "Fjell", 25.0),
    product(
        "boot-1",
        "Ridge Hiking Boot",
        ["Shoes", "Hiking"],
        "Ridge",
        120.0,
        compare_at_price=140.0,
        variants=[{"sku": "b-42", "size": "42", "stock": 2}, {"sku": "b-43", "size": "43"}],
    ),
    product("boot-2", "Summit Trail Boot", ["Shoes", "Hiking"], "Summit", 110.0),
    product("boot-3", "Pass Mountain Boot", ["Shoes", "Hiking"], "Pass", 135.0),
    product("sock", "Ridge Merino Sock", ["Clothing", "Socks"], "Ridge", 15.0),
    product("x", "Ridge Trail Cap", ["Accessories", "Hats"], "Ridge", 22.0),
]


async def stock(shop: Shop) -> None:
    response = await shop.client.post("/v1/catalog/products", json={"products": PRODUCTS})
    assert response.status_code == 200, response.text
