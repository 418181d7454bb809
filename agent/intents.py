"""Intent recognition for the offline planner: cues, then a classifier over MiniLM embeddings.

The classifier is a logistic regression trained on the labelled set in ``agent/training`` (public
training splits and the project's own lines, with an explicit out-of-scope class), over the
same local MiniLM model the catalog uses; nothing is downloaded. Its probabilities are
calibrated, so the planner can ask a short question when the best guess is weak instead of
turning every unclear message into a product search. Cues (``agent.intent_cues``) decide only
the few phrasings that cannot be anything else.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.intent_cues import cue, mentions_order
from agent.intent_labels import ORDER_INTENTS, Intent
from agent.intent_model import IntentModel

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]
EmbedOne = Callable[[str], npt.NDArray[np.float32]]
# Below this calibrated probability the planner asks instead of acting.
CONFIDENT = 0.45
MODEL_FILE = "intent_model.npz"
TRAINING_FILE = "intents.csv"

__all__ = ["CONFIDENT", "Intent", "IntentClassifier", "IntentGuess", "local_classifier"]


@dataclass(frozen=True)
class IntentGuess:
    intent: Intent
    score: float
    by: str  # "cue", "model" or "default" (no model available)
    explicit: bool = False  # a cue that says exactly this (for the handoff)
    runner_up: Intent | None = None

    @property
    def confident(self) -> bool:
        return self.by == "cue" or self.score >= CONFIDENT


def training_dir() -> Path:
    return Path(str(resources.files("agent") / "training"))


@functools.lru_cache(maxsize=1)
def shipped_model() -> IntentModel:
    return IntentModel.load(training_dir() / MODEL_FILE)


class IntentClassifier:
    """Cues first, then the shipped model on the message's embedding."""

    def __init__(
        self,
        embed: Embed | None = None,
        embed_one: EmbedOne | None = None,
        model: Callable[[], IntentModel] = shipped_model,
    ) -> None:
        self._embed = embed
        self._one = embed_one
        self._model = model
        self._lock = threading.Lock()

    def classify(self, text: str) -> IntentGuess:
        found = cue(text)
        if found is not None:
            return IntentGuess(found.intent, 1.0, "cue", explicit=found.explicit)
        if self._embed is None or not text.strip():
            return IntentGuess(Intent.OUT_OF_SCOPE, 0.0, "default")
        probabilities = self.probabilities(text)
        model = self._model()
        order = np.argsort(-probabilities)
        best, second = Intent(model.labels[order[0]]), Intent(model.labels[order[1]])
        score = float(probabilities[order[0]])
        if mentions_order(text) and best not in ORDER_INTENTS:
            # An order number is the one fact about orders a pattern knows for sure; which
            # order question it is, the model still says.
            orders = [i for i in order if Intent(model.labels[i]) in ORDER_INTENTS]
            return IntentGuess(Intent(model.labels[orders[0]]), 1.0, "cue", runner_up=best)
        return IntentGuess(best, score, "model", runner_up=second)

    def probabilities(self, text: str) -> npt.NDArray[np.float32]:
        vector = self._embed_one(text)
        with self._lock:
            model = self._model()
        result: npt.NDArray[np.float32] = model.probabilities(vector[None, :])[0]
        return result

    def _embed_one(self, text: str) -> npt.NDArray[np.float32]:
        if self._one is not None:
            return self._one(text)
        assert self._embed is not None
        return self._embed([text])[0]


def local_classifier() -> IntentClassifier:
    """The classifier on the shared local MiniLM embedder (loaded on first use)."""
    from tools.catalog.embeddings import shared_embedder

    return IntentClassifier(
        lambda texts: shared_embedder().embed(texts),
        lambda text: shared_embedder().embed_one(text),  # shared with the search query
    )
