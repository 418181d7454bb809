"""Relevance on the demo catalog: the expected kind of product is in the top 3.

The demo catalog has several models of each kind (a "Storm" running shoe in several series), so
"expected" names the kind: the id prefix and the word that sets it apart.
"""

from __future__ import annotations

import pytest

from tools.catalog.search import SearchQuery, search_products
from tools.catalog.store import CatalogStore

CASES = [
    # plain needs
    ("waterproof running shoes", "run-", "Storm"),
    ("running shoes for rainy days", "run-", "Storm"),
    ("trail running shoes for mud", "run-", "Trail"),
    ("cushioned shoes for long slow runs", "run-", "Cloud"),
    ("racing flats for a fast 10k", "run-", "Tempo"),
    ("boots for mountain hiking with ankle support", "hike-", "Summit"),
    ("warm winter boots for snow", "hike-", "Glacier"),
    ("slip on canvas shoes without laces", "sneak-", "Slip"),
    ("rain jacket with a hood", "jacket-", "Rain"),
    ("puffer coat for cold weather", "jacket-", "Down"),
    ("packable windbreaker", "jacket-", "Wind"),
    ("fleece for chilly evenings", "jacket-", "Fleece"),
    ("organic cotton t-shirt", "tee-", "Organic"),
    ("wool shirt that does not smell on trips", "tee-", "Merino"),
    ("quick dry gym shirt", "tee-", "Tech"),
    ("skinny stretch jeans", "jeans-", "Slim"),
    ("backpack with a laptop sleeve for work", "pack-", "Commuter"),
    ("waterproof bag for cycling", "pack-", "Roll-top"),
    ("small bag that fits in the plane cabin", "duffel-", "Carry-on"),
    ("cast iron skillet", "pan-", "Cast Iron"),
    ("pan that works on an induction hob", "pan-", "Steel"),
    ("kettle for pour over coffee", "kettle-", "Gooseneck"),
    ("noise cancelling headphones for flights", "phones-", "Quiet"),
    ("wireless earbuds for jogging", "phones-", "Sport"),
    ("portable battery pack for my phone", "charger-", "Power Bank"),
    ("usb-c charger for a laptop", "charger-", "GaN"),
    ("solar panel for camping", "charger-", "Solar"),
    ("spf 50 sunscreen for sensitive skin", "skin-", "Sunscreen"),
    ("face wash for oily skin", "skin-", "Cleanser"),
    ("lightweight two person tent for backpacking", "tent-", "Ultralight"),
    ("big tent for a family camping trip", "tent-", "Family"),
    ("sleeping bag for winter camping below zero", "bag-", "Alpine"),
    ("linen bedding for hot summers", "bed-", "Linen"),
    # misspellings
    ("waterprof runing shoos", "run-", "Storm"),
    ("noise canceling headfones", "phones-", "Quiet"),
    ("sunscrean spf50", "skin-", "Sunscreen"),
    ("raincoat", "jacket-", "Rain"),
]


@pytest.mark.parametrize(("text", "prefix", "word"), CASES, ids=[case[0] for case in CASES])
def test_expected_product_is_in_the_top_three(
    embedded_demo_store: CatalogStore, text: str, prefix: str, word: str
) -> None:
    hits = search_products(embedded_demo_store, SearchQuery(text=text, limit=3))
    names = [(hit.id, hit.name) for hit in hits]
    assert any(id_.startswith(prefix) and word in name for id_, name in names), names


def test_at_least_thirty_queries() -> None:
    assert len(CASES) >= 30
