"""Catalog embeddings benchmark: MiniLM (int8 ONNX) cost per text, batched and one at a time.

Run: `.venv/bin/python bench/embeddings.py`. Embeds 1,000 short product-like texts with
each intra-op thread setting, prints a table and writes bench/results/embeddings.json.
Batched throughput matters for (re)indexing the catalog; single-text latency is what a
shopper's search query pays.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from tools.catalog.embeddings import MiniLmEmbedder, load_tokenizer

TEXTS = 1_000
THREADS = (1, 2)
SEED = 7

COLOURS = ["black", "white", "navy", "olive", "red", "sand", "charcoal", "sky blue"]
MATERIALS = ["leather", "merino wool", "organic cotton", "stainless steel", "bamboo", "linen"]
ADJECTIVES = ["waterproof", "lightweight", "slim-fit", "insulated", "non-stick", "handmade"]
PRODUCTS = [
    "running shoes",
    "rain jacket",
    "frying pan",
    "backpack",
    "scarf",
    "chef's knife",
    "hiking boots",
    "coffee mug",
    "yoga mat",
    "desk lamp",
]
EXTRAS = ["", "", "for men", "for women", "size 42", "28 cm", "with gift box", "2-pack"]


def make_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = [
            rng.choice(ADJECTIVES),
            rng.choice(COLOURS),
            rng.choice(MATERIALS),
            rng.choice(PRODUCTS),
            rng.choice(EXTRAS),
        ]
        texts.append(" ".join(w for w in words if w))
    return texts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(threads: int, texts: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    embedder = MiniLmEmbedder(intra_op_threads=threads)
    load_ms = (time.perf_counter() - start) * 1000
    embedder.embed(texts[:64])  # warm-up: first runs allocate arenas

    batched = []
    for _ in range(3):
        start = time.perf_counter()
        embedder.embed(texts)
        batched.append((time.perf_counter() - start) * 1000 / len(texts))

    single = []
    for text in texts:
        start = time.perf_counter()
        embedder.embed([text])
        single.append((time.perf_counter() - start) * 1000)
    single.sort()
    return {
        "intra_op_threads": threads,
        "load_ms": round(load_ms, 1),
        "batched_ms_per_text": round(min(batched), 3),
        "single_ms_per_text": round(statistics.fmean(single), 3),
        "single_p50_ms": round(statistics.median(single), 3),
        "single_p99_ms": round(single[int(len(single) * 0.99) - 1], 3),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main() -> None:
    texts = make_texts(TEXTS, SEED)
    rss_before = peak_rss_mb()
    tokenizer = load_tokenizer()
    start = time.perf_counter()
    encodings = tokenizer.encode_batch(texts)
    tokenize_ms = (time.perf_counter() - start) * 1000 / len(texts)
    tokens = [sum(e.attention_mask) for e in encodings]
    rows = [run(threads, texts) for threads in THREADS]

    print(
        f"{TEXTS} texts, {statistics.fmean(tokens):.1f} tokens on average (max {max(tokens)}); "
        f"tokenizing {tokenize_ms:.4f} ms/text; peak RSS before loading {rss_before:.0f} MB"
    )
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    result = {
        "texts": TEXTS,
        "mean_tokens": round(statistics.fmean(tokens), 1),
        "max_tokens": max(tokens),
        "tokenize_ms_per_text": round(tokenize_ms, 4),
        "peak_rss_before_load_mb": round(rss_before),
        "runs": rows,
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "embeddings.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
