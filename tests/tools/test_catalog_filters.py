"""Filters are exact (every card satisfies them, none that does is missing), in embedded Chroma
and against a real Chroma server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tools.catalog.demo_catalog import load_demo_catalog
from tools.catalog.schema import Product
from tools.catalog.search import SearchQuery, UnknownProductError, search_products
from tools.catalog.store import CatalogStore

CATALOG = load_demo_catalog()


def lowest_price(product: Product) -> float:
    return min([product.price] + [v.price for v in product.variants if v.price is not None])


def expected(predicate: object) -> set[str]:
    return {p.id for p in CATALOG if predicate(p)}  # type: ignore[operator]


def ids(store: CatalogStore, **filters: object) -> set[str]:
    return {
        hit.id
        for hit in search_products(store, SearchQuery.model_validate(filters | {"limit": 50}))
    }


def test_size_in_stock_means_one_variant_of_that_size_has_stock(demo_store: CatalogStore) -> None:
    want = expected(
        lambda p: (
            p.category[:2] == ["Shoes", "Running"]
            and any(v.size == "42" and v.stock > 0 for v in p.variants)
        )
    )
    assert 0 < len(want) < 50
    assert ids(demo_store, category="shoes > running", size="42", in_stock=True) == want


def test_size_and_colour_in_stock_must_be_the_same_variant(demo_store: CatalogStore) -> None:
    want = expected(
        lambda p: (
            p.category[0] == "Shoes"
            and any(v.size == "42" and v.colour == "black" and v.stock > 0 for v in p.variants)
        )
    )
    # Products with a black variant and a size 42 variant in stock, but not a black 42 in stock.
    decoys = (
        expected(
            lambda p: (
                p.category[0] == "Shoes"
                and any(v.size == "42" and v.stock > 0 for v in p.variants)
                and any(v.colour == "black" and v.stock > 0 for v in p.variants)
            )
        )
        - want
    )
    assert want and decoys
    got = ids(demo_store, category="Shoes", size="42", colour="Black", in_stock=True)
    assert got == want


def test_price_brand_and_category_filters(demo_store: CatalogStore) -> None:
    want = expected(
        lambda p: (
            p.category[0] == "Clothing" and p.brand == "Kestrel" and 40 <= lowest_price(p) <= 120
        )
    )
    assert want
    got = ids(demo_store, category="clothing", brand="KESTREL", min_price=40, max_price=120)
    assert got == want


def test_semantic_ranking_never_breaks_a_filter(demo_store: CatalogStore) -> None:
    hits = search_products(
        demo_store, SearchQuery(text="waterproof running shoes", max_price=80, limit=10)
    )
    assert hits and all(lowest_price(next(p for p in CATALOG if p.id == h.id)) <= 80 for h in hits)
    assert all("price 0 to 80" in hit.why for hit in hits)


def test_exact_sku_and_exact_name_come_first(demo_store: CatalogStore) -> None:
    product = next(p for p in CATALOG if p.id == "jacket-007")
    sku = product.variants[0].sku
    by_sku = search_products(demo_store, SearchQuery(text=sku.lower(), limit=3))
    assert by_sku[0].id == "jacket-007" and by_sku[0].why[0] == "exact SKU"
    assert [v.sku for v in by_sku[0].matching_variants] == [v.sku for v in product.variants]
    by_name = search_products(demo_store, SearchQuery(text=f"  {product.name.upper()} ", limit=3))
    assert by_name[0].id == "jacket-007" and by_name[0].why[0] == "exact name"


def test_similar_products_for_cross_sell_leave_out_the_product_and_bought_ones(
    demo_store: CatalogStore,
) -> None:
    hits = search_products(
        demo_store, SearchQuery(similar_to="run-001", exclude_ids=["run-009"], limit=5)
    )
    got = [hit.id for hit in hits]
    assert "run-001" not in got and "run-009" not in got
    assert sum(id_.startswith("run-") for id_ in got) >= 3
    with pytest.raises(UnknownProductError):
        search_products(demo_store, SearchQuery(similar_to="nope"))


def test_excluded_products_never_appear(demo_store: CatalogStore) -> None:
    first = search_products(demo_store, SearchQuery(text="cast iron skillet", limit=3))
    again = search_products(
        demo_store,
        SearchQuery(text="cast iron skillet", exclude_ids=[first[0].id], limit=3),
    )
    assert first[0].id not in {hit.id for hit in again}


def test_nonsense_filters_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"min_price 100\.0 is above max_price 50\.0"):
        SearchQuery(min_price=100, max_price=50)
    with pytest.raises(ValidationError, match="colr"):
        SearchQuery.model_validate({"colr": "red"})
    with pytest.raises(ValidationError):
        SearchQuery(limit=0)


@pytest.mark.parametrize(
    "filters",
    [
        {"max_price": 60.0},
        {"category": "outdoor", "in_stock": True},
        {"brand": "northpeak", "colour": "black"},
        {"size": "M", "colour": "navy", "in_stock": True},
    ],
)
def test_checking_nearest_products_and_chromas_own_filter_agree(
    embedded_demo_store: CatalogStore, monkeypatch: pytest.MonkeyPatch, filters: dict[str, object]
) -> None:
    """The fast path (nearest products checked against the filters) and the fallback
    (Chroma's filtered search, forced by a candidate pool of one) give the same cards."""
    query = SearchQuery.model_validate({"text": "something warm for a trip", "limit": 5} | filters)
    fast = [hit.id for hit in search_products(embedded_demo_store, query)]
    import tools.catalog.search as search_module

    monkeypatch.setattr(search_module, "CANDIDATES", 1)
    monkeypatch.setattr(search_module, "CANDIDATES_PER_RESULT", 0)
    filtered: list[object] = []
    original = embedded_demo_store.collection.query

    def spy(**kwargs: Any) -> Any:
        if kwargs.get("where"):
            filtered.append(kwargs["where"])
        return original(**kwargs)

    monkeypatch.setattr(embedded_demo_store.collection, "query", spy)
    fallback = [hit.id for hit in search_products(embedded_demo_store, query)]
    assert filtered  # Chroma's filtered search answered
    assert fast and fast == fallback
