"""Intent recognition for the offline planner: patterns first, then the local embedding model.

Patterns catch the unambiguous cues ("remind me", an order number, "20% off"). Anything else is
compared with a few example sentences per intent by MiniLM (the same local model the catalog
uses, no download): the nearest example's intent wins if it is close enough, otherwise the
message is taken as a product search, the most useful guess in a shop.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]
EmbedOne = Callable[[str], npt.NDArray[np.float32]]


class Intent(StrEnum):
    GREETING = "greeting"
    HELP = "help"
    SEARCH = "search"
    ORDER_STATUS = "order_status"
    PROFILE = "profile"
    DISCOUNT = "discount"
    FOLLOW_UP = "follow_up"
    PREFERENCES = "preferences"
    HUMAN = "human"


PATTERNS: list[tuple[Intent, re.Pattern[str]]] = [
    (
        Intent.GREETING,
        re.compile(
            r"^\s*(hi|hello|hey|hiya|yo|good (morning|afternoon|evening))( there)?\b[\s!.,]*$|"
            # What every Telegram user sends on opening the bot, maybe with a deep-link payload.
            r"^\s*/start(@\w+)?(\s+\S*)?\s*$",
            re.I,
        ),
    ),
    (
        Intent.HELP,
        re.compile(
            r"^\s*(help|menu|what can you do|how does this work)\b|\bsystem prompt\b|"
            r"\b(what('s| is| are)|show me|tell me|print|reveal|repeat) (your|the) "
            r"(instructions|prompt|rules)\b|\bare you (a bot|human|real)\b",
            re.I,
        ),
    ),
    (
        Intent.HUMAN,
        re.compile(
            r"\b(human|real person|a person|someone real|customer service|agent|operator|"
            r"representative|speak to (someone|somebody)|talk to (someone|somebody))\b",
            re.I,
        ),
    ),
    (
        Intent.FOLLOW_UP,
        re.compile(
            r"\b(remind me|reminder|let me know (when|if)|tell me when|notify me|ping me|"
            r"text me when|message me when|alert me)\b",
            re.I,
        ),
    ),
    (
        Intent.PREFERENCES,
        re.compile(
            r"\b(i prefer|prefer (to be contacted|whatsapp|sms|telegram|text)|"
            r"(contact|message|text) me (on|via|by|only)|"
            r"(don'?t|do not|never) (message|text|contact|write)( to)? me (after|before|at)|"
            r"my size is|i('m| am) (a )?size|i wear (a )?size|i'?m interested in|"
            r"(quiet|no messages?) (hours|after|before|between))\b",
            re.I,
        ),
    ),
    (
        Intent.DISCOUNT,
        re.compile(
            r"\b(discount|coupon|promo|voucher|cheaper price|better price|deal for me)\b|"
            r"\d+\s*(%|percent)\s*off\b",
            re.I,
        ),
    ),
    (
        Intent.ORDER_STATUS,
        re.compile(
            r"\b(my order|order (status|number|#)|where is my|track(ing)?|delivery|shipped|"
            r"shipping status|parcel|package|refund)\b|#\s?\d{3,}|\border\s+[A-Za-z-]*\d{3,}",
            re.I,
        ),
    ),
    (
        Intent.PROFILE,
        re.compile(
            r"\b(my (cart|basket|profile|account|points|tier)|what('s| is) in my (cart|basket)|"
            r"what did i (buy|order))\b",
            re.I,
        ),
    ),
]

EXAMPLES: dict[Intent, list[str]] = {
    Intent.GREETING: ["hello", "hi there", "good morning", "hey, how are you"],
    Intent.HELP: [
        "what can you help me with",
        "how do I use this",
        "what do you do",
        "I don't understand how this works",
    ],
    Intent.SEARCH: [
        "I'm looking for running shoes",
        "do you have a warm winter jacket",
        "show me something for a birthday present",
        "any waterproof boots",
        "I need a dress for a wedding",
        "what do you have in blue",
    ],
    Intent.ORDER_STATUS: [
        "where is my stuff",
        "has my purchase been sent yet",
        "when will my things arrive",
        "I haven't received what I bought",
        "what's happening with my purchase",
        "was my purchase dispatched",
        "is my order on its way",
    ],
    Intent.PROFILE: [
        "what have I bought before",
        "what's in my basket",
        "which loyalty level am I",
        "what did I leave in the cart",
    ],
    Intent.DISCOUNT: [
        "can you make it cheaper",
        "is there any money off",
        "can I get a reduction",
        "any special offer for me",
        "it's too expensive, can you do something",
        "can you lower the price for me",
        "give me a better deal",
    ],
    Intent.FOLLOW_UP: [
        "get back to me tomorrow about this",
        "write to me later about it",
        "I'd like to hear when it's available again",
        "keep me posted on the price",
    ],
    Intent.PREFERENCES: [
        "I'd rather get messages on whatsapp",
        "please only write to me during the day",
        "I usually wear medium",
        "I'm mostly into hiking and trail running",
        "SMS works best for me",
        "I'd rather you texted me",
    ],
    Intent.HUMAN: [
        "can I talk to somebody from the shop",
        "I want to complain to a manager",
        "put me through to your team",
        "this bot is useless, get me a colleague",
        "connect me with your support team",
        "I need to chat with an employee",
    ],
}
THRESHOLD = 0.5


@dataclass(frozen=True)
class IntentGuess:
    intent: Intent
    score: float
    by: str  # "pattern", "embedding" or "default"


class IntentClassifier:
    """Patterns, then nearest example by the local embedding model. The examples are embedded
    on first use, so building a planner costs nothing until it is asked something."""

    def __init__(self, embed: Embed | None = None, embed_one: EmbedOne | None = None) -> None:
        self._embed = embed
        self._one = embed_one
        self._examples: npt.NDArray[np.float32] | None = None
        self._labels: list[Intent] = []
        self._lock = threading.Lock()

    def classify(self, text: str) -> IntentGuess:
        for intent, pattern in PATTERNS:
            if pattern.search(text):
                return IntentGuess(intent, 1.0, "pattern")
        if self._embed is None or not text.strip():
            return IntentGuess(Intent.SEARCH, 0.0, "default")
        vector = self._embed_one(text)
        scores = self._example_vectors() @ vector
        best = int(np.argmax(scores))
        score = float(scores[best])
        if score >= THRESHOLD:
            return IntentGuess(self._labels[best], score, "embedding")
        return IntentGuess(Intent.SEARCH, score, "default")

    def _embed_one(self, text: str) -> npt.NDArray[np.float32]:
        if self._one is not None:
            return self._one(text)
        assert self._embed is not None
        return self._embed([text])[0]

    def _example_vectors(self) -> npt.NDArray[np.float32]:
        with self._lock:
            if self._examples is None:
                assert self._embed is not None
                pairs = [(intent, text) for intent, texts in EXAMPLES.items() for text in texts]
                self._labels = [intent for intent, _ in pairs]
                self._examples = self._embed([text for _, text in pairs])
            return self._examples


def local_classifier() -> IntentClassifier:
    """The classifier on the shared local MiniLM embedder (loaded on first use)."""
    from tools.catalog.embeddings import shared_embedder

    return IntentClassifier(
        lambda texts: shared_embedder().embed(texts),
        lambda text: shared_embedder().embed_one(text),  # shared with the search query
    )
