"""Refit the intent classifier on ``intents.csv``: ``python -m agent.training.fit``.

Embeds every line with the local MiniLM model (about ten seconds), fits the weights and the
temperature (``agent.intent_model``) and writes ``intent_model.npz`` with the sha256 of the
set it came from, so a stale model is caught by the tests.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

from agent.intent_labels import Intent
from agent.intent_model import IntentModel, fit
from agent.intents import MODEL_FILE, TRAINING_FILE, training_dir


def training_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = [(row["text"], row["intent"]) for row in csv.DictReader(f)]
    unknown = {label for _, label in rows} - set(Intent)
    if unknown:
        raise ValueError(f"{path}: unknown intent(s) {sorted(unknown)}")
    return rows


def data_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(directory: Path) -> IntentModel:
    from tools.catalog.embeddings import shared_embedder

    path = directory / TRAINING_FILE
    rows = training_rows(path)
    vectors = shared_embedder().embed([text for text, _ in rows])
    return fit(vectors, [label for _, label in rows], data_sha256(path))


def main() -> int:
    directory = training_dir()
    model = train(directory)
    model.save(directory / MODEL_FILE)
    print(
        f"{len(model.labels)} intents, temperature {model.temperature:.2f}; "
        f"wrote {directory / MODEL_FILE}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
