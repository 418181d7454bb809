"""The shopper's language, from their own words, offline (py3langid: a small naive Bayes model
shipped in the package, nothing downloaded).

Short messages say little about language ("ok", "hi" are many languages), so a language is only
taken from a message of a few words that the detector is sure of, and only among the languages
the shop answers in; otherwise the stored one stands.
"""

from __future__ import annotations

import functools
import re
from typing import Any

SUPPORTED = ("en", "es", "fr", "de", "it", "pt", "nl")
NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
}
MIN_WORDS = 3
MIN_PROBABILITY = 0.9
WORD = re.compile(r"[^\W\d_]{2,}")


@functools.lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(SUPPORTED))
    return identifier


def detect(text: str) -> str | None:
    """An ISO 639-1 code, or None when the message does not say."""
    if len(WORD.findall(text)) < MIN_WORDS:
        return None
    language, probability = _identifier().classify(text)
    return str(language) if probability >= MIN_PROBABILITY else None


def name(code: str | None) -> str | None:
    if not code:
        return None
    return NAMES.get(code.split("-")[0].lower())
