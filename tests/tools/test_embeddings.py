"""The offline MiniLM embedder and its Chroma registration, on the real pinned model files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings

from tools.catalog import embeddings
from tools.catalog.embeddings import (
    DIMENSION,
    MiniLmEmbedder,
    MiniLmEmbeddingFunction,
    ModelFileError,
    shared_embedder,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def embedder() -> MiniLmEmbedder:
    return shared_embedder()


def test_shape_dtype_and_unit_norm(embedder: MiniLmEmbedder) -> None:
    texts = ["red wool scarf", "", "a " * 500, "Ünïcödé café crème brûlée"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (len(texts), DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_paraphrases_are_closer_than_unrelated_texts(embedder: MiniLmEmbedder) -> None:
    shoes, sneakers, pan = embedder.embed(
        ["waterproof running shoes", "rain-proof jogging sneakers", "stainless steel frying pan"]
    )
    assert float(shoes @ sneakers) > float(shoes @ pan) + 0.3
    assert float(sneakers @ pan) < 0.3


def test_lowercases_like_the_uncased_model(embedder: MiniLmEmbedder) -> None:
    upper, lower = embedder.embed(["WATERPROOF RUNNING SHOES", "waterproof running shoes"])
    np.testing.assert_allclose(upper, lower, atol=1e-6)


def test_batch_equals_single_so_padding_does_not_leak(embedder: MiniLmEmbedder) -> None:
    texts = [
        "mug",
        "waterproof running shoes",
        "an ergonomic non-stick stainless steel frying pan with a glass lid, 28 cm, oven safe",
        "mug",
    ] * 40  # 160 texts: several internal batches, each padded to its own longest text
    batched = embedder.embed(texts)
    single = np.stack([embedder.embed([text])[0] for text in texts[:4]])
    np.testing.assert_allclose(batched[:4], single, atol=1e-4)
    np.testing.assert_allclose(batched[4:8], single, atol=1e-4)  # order is kept
    np.testing.assert_allclose(batched[-4:], single, atol=1e-4)


def test_long_texts_are_truncated_not_rejected(embedder: MiniLmEmbedder) -> None:
    base = "lightweight breathable mesh trail shoe " * 30  # far over 128 tokens
    a, b = embedder.embed([base, base + "with a completely different ending about pans"])
    np.testing.assert_allclose(a, b, atol=1e-6)  # the tail past 128 tokens is cut off


def test_tampered_checksum_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    path = embeddings.model_path()
    monkeypatch.setattr(embeddings, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelFileError) as info:
        MiniLmEmbedder()
    message = str(info.value)
    assert str(path) in message
    assert f"expected {'0' * 64}, got {embeddings.sha256_file(path)}" in message


def test_tampered_tokenizer_checksum_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "TOKENIZER_SHA256", "f" * 64)
    with pytest.raises(ModelFileError, match=r"tokenizer\.json.*expected f{64}, got [0-9a-f]{64}"):
        embeddings.load_tokenizer()


def test_embedding_function_config_round_trip() -> None:
    function = MiniLmEmbeddingFunction(intra_op_threads=2)
    rebuilt = MiniLmEmbeddingFunction.build_from_config(function.get_config())
    assert rebuilt.get_config() == function.get_config()
    assert rebuilt.intra_op_threads == 2
    assert MiniLmEmbeddingFunction.name() == "chatcommerce-minilm"
    assert function.default_space() == "cosine"
    assert not function.is_legacy()
    with pytest.raises(ValueError, match="re-embed"):
        MiniLmEmbeddingFunction.build_from_config({**function.get_config(), "model_sha256": "x"})


def test_function_loads_one_embedder_per_process_under_concurrency(
    embedder: MiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["waterproof running shoes", "stainless steel frying pan", "red wool scarf"]
    expected = embedder.embed(texts)
    built: list[MiniLmEmbedder] = []

    class Counting(MiniLmEmbedder):
        def __init__(self, **kwargs: int) -> None:
            super().__init__(**kwargs)
            built.append(self)

    monkeypatch.setattr(embeddings, "_EMBEDDERS", {})
    monkeypatch.setattr(embeddings, "MiniLmEmbedder", Counting)
    function = MiniLmEmbeddingFunction(intra_op_threads=2)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: function(texts), range(16)))
    for result in results:
        np.testing.assert_allclose(np.stack(result), expected, atol=1e-4)
    assert len(built) == 1
    assert built[0].intra_op_threads == 2


def test_chroma_collection_reopens_in_a_new_process(tmp_path: Path) -> None:
    client = chromadb.PersistentClient(
        path=str(tmp_path), settings=Settings(anonymized_telemetry=False)
    )
    collection = client.create_collection(
        "catalog",
        # Chroma types this as EmbeddingFunction[Documents | Images] (invariant); its own
        # text-only functions need the same ignore.
        embedding_function=MiniLmEmbeddingFunction(),  # type: ignore[arg-type]
    )
    collection.add(
        ids=["shoes", "pan", "scarf"],
        documents=["waterproof running shoes", "stainless steel frying pan", "red wool scarf"],
    )
    assert collection.query(query_texts=["jogging sneakers"], n_results=1)["ids"] == [["shoes"]]
    del collection, client

    # No embedding function is passed: Chroma rebuilds it from the stored name and config,
    # which works only because importing the module registered it.
    script = textwrap.dedent(
        f"""
        import chromadb
        from chromadb.config import Settings
        import tools.catalog.embeddings

        client = chromadb.PersistentClient(
            path={str(tmp_path)!r}, settings=Settings(anonymized_telemetry=False)
        )
        collection = client.get_collection("catalog")
        ef = collection.configuration["embedding_function"]
        assert type(ef).__name__ == "MiniLmEmbeddingFunction", type(ef)
        result = collection.query(query_texts=["rain-proof jogging sneakers"], n_results=3)
        print(result["ids"][0][0], round(result["distances"][0][0], 3))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    top, distance = done.stdout.split()
    assert top == "shoes"
    assert 0.0 <= float(distance) < 0.5  # cosine distance: the space was kept too
