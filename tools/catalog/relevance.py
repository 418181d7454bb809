"""Does the catalog have what the shopper asked for? A relevance floor calibrated on the catalog.

The nearest product always exists; whether it is an answer depends on the catalog. The floor
is set from a fixed list of things shops in other trades sell (strollers, tyres, pet food,
...): their best similarity against *this* catalog is what "unrelated" scores here, so a query
scoring no better than most of them is taken as something the shop does not sell. A probe
that shares a word with its nearest product is left out (the shop may sell it), and a query
that shares a word with its best product's name, category or tags is relevant whatever its
score ("a gift for someone who loves hiking"). Recomputed when the catalog's size changes.
"""

from __future__ import annotations

import re
import threading

import numpy as np

from tools.catalog.search import ProductHit, Vector
from tools.catalog.store import CatalogStore

PROBES = (
    "baby stroller",
    "car tyres",
    "dog food",
    "cat litter",
    "lawn mower",
    "garden hose",
    "guitar strings",
    "piano",
    "drum kit",
    "engagement ring",
    "gold necklace",
    "wrist watch",
    "perfume",
    "lipstick",
    "vitamins",
    "protein powder",
    "printer ink",
    "office chair",
    "sofa",
    "dining table",
    "wardrobe",
    "mattress",
    "television",
    "laptop",
    "smartphone",
    "game console",
    "board game",
    "lego set",
    "doll",
    "fishing rod",
    "golf clubs",
    "tennis racket",
    "bicycle",
    "car battery",
    "motor oil",
    "paint brush",
    "power drill",
    "light bulbs",
    "washing machine",
    "fridge",
    "microwave",
    "coffee beans",
    "chocolate",
    "wine",
    "flowers",
    "plant pot",
    "aquarium",
    "bird cage",
    "horse saddle",
    "school books",
    "concert tickets",
    "flight",
    "insurance",
    "car rental",
    "wedding dress",
    "tuxedo",
    "sunglasses",
    "umbrella",
    "wallpaper",
    "carpet",
)
QUANTILE = 0.9
MARGIN = 0.02
BOUNDS = (0.25, 0.45)
STOPWORDS = frozenset(
    {
        "with",
        "that",
        "this",
        "have",
        "some",
        "something",
        "looking",
        "want",
        "need",
        "from",
        "your",
        "what",
        "which",
        "please",
        "anything",
        "good",
        "best",
        "like",
        "likes",
        "loves",
        "love",
        "person",
        "someone",
        "gift",
        "present",
        "cheap",
        "nice",
        "under",
        "over",
    }
)
LEAD = re.compile(
    r"^\s*(do you (have|sell|carry|stock)|have you got|i'?m looking for|i am looking for|"
    r"looking for|i need|i want( to buy)?|show me|can i (get|buy|order)|any|got any)\s+"
    r"((an?|some|any|the)\s+)?",
    re.I,
)
_lock = threading.Lock()
_floors: dict[int, tuple[int, float]] = {}
_departments: dict[int, tuple[int, list[str]]] = {}


def words(text: str) -> set[str]:
    found = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)} - STOPWORDS
    return {w[:-1] if w.endswith("s") and len(w) > 4 else w for w in found}


def related(query: str, hit: ProductHit) -> bool:
    """A word of the query in the product's name, category or tags."""
    return bool(words(query) & words(" ".join([hit.name, *hit.category, hit.brand or ""])))


def relevance_floor(store: CatalogStore) -> float:
    count = store.count()
    key = id(store)
    with _lock:
        cached = _floors.get(key)
        if cached is not None and cached[0] == count:
            return cached[1]
    floor = _calibrate(store)
    with _lock:
        _floors[key] = (count, floor)
    return floor


def _calibrate(store: CatalogStore) -> float:
    if store.count() == 0:
        return BOUNDS[0]
    vectors = store.embeddings.embed_query(list(PROBES))
    matrix: Vector = np.asarray(vectors, dtype=np.float32)
    found = store.collection.query(
        query_embeddings=matrix,
        n_results=1,
        include=["metadatas", "distances"],
    )
    scores = []
    for probe, metadatas, distances in zip(
        PROBES, found["metadatas"] or [], found["distances"] or [], strict=False
    ):
        if not metadatas:
            continue
        metadata = metadatas[0]
        categories = metadata.get("categories")
        paths = " ".join(str(c) for c in categories) if isinstance(categories, list) else ""
        text = f"{metadata.get('name_lc', '')} {paths}"
        if words(probe) & words(text):
            continue  # the shop may well sell this one
        scores.append(1.0 - float(distances[0]))
    if not scores:
        return BOUNDS[0]
    floor = float(np.quantile(scores, QUANTILE)) + MARGIN
    return min(max(floor, BOUNDS[0]), BOUNDS[1])


def departments(store: CatalogStore, limit: int = 8) -> list[str]:
    """The catalog's top-level categories, most products first."""
    count = store.count()
    key = id(store)
    with _lock:
        cached = _departments.get(key)
        if cached is not None and cached[0] == count:
            return cached[1]
    rows = store.collection.get(include=["metadatas"], limit=5000)["metadatas"] or []
    tally: dict[str, int] = {}
    for metadata in rows:
        card = metadata.get("categories") or []
        top = str(card[0]) if isinstance(card, list) and card and card[0] != "-" else None
        if top:
            tally[top] = tally.get(top, 0) + 1
    names = [name for name, _ in sorted(tally.items(), key=lambda kv: -kv[1])][:limit]
    with _lock:
        _departments[key] = (count, names)
    return names


def wanted_words(text: str) -> str:
    """The thing asked for, without "do you have" and the like: "do you have umbrellas?" →
    "umbrellas"."""
    return LEAD.sub("", text).strip(" ?!.") or text.strip()
