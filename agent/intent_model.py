"""A multinomial logistic regression over sentence embeddings, with a calibrated temperature.

Small and dependency-free (numpy only): the weights of every intent are one matrix, fitted once
by ``python -m agent.training.fit`` on the labelled set the project ships and stored beside it.
The temperature is fitted on a held-back tenth of that set, so a probability of 0.8 means the
model is right about four times in five on lines it did not learn from, which is what the
planner's "ask rather than guess" threshold needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
L2 = 1e-3
STEPS = 600
LEARNING_RATE = 0.5
TEMPERATURES = np.linspace(0.3, 3.0, 28)


@dataclass(frozen=True)
class IntentModel:
    labels: tuple[str, ...]
    weights: Matrix  # (labels, dimension)
    bias: Matrix  # (labels,)
    temperature: float
    data_sha256: str

    def probabilities(self, vectors: Matrix) -> Matrix:
        """``(n, labels)`` calibrated probabilities for ``(n, dimension)`` unit vectors."""
        return _softmax((vectors @ self.weights.T + self.bias) / self.temperature)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            labels=np.array(self.labels),
            weights=self.weights,
            bias=self.bias,
            temperature=np.array(self.temperature),
            data_sha256=np.array(self.data_sha256),
        )

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        with np.load(path, allow_pickle=False) as stored:
            return cls(
                labels=tuple(str(label) for label in stored["labels"]),
                weights=stored["weights"].astype(np.float32),
                bias=stored["bias"].astype(np.float32),
                temperature=float(stored["temperature"]),
                data_sha256=str(stored["data_sha256"]),
            )


def fit(vectors: Matrix, labels: list[str], data_sha256: str, seed: int = 15) -> IntentModel:
    """Fit the weights on nine tenths (stratified), the temperature on the last tenth, then the
    weights again on everything."""
    names = tuple(sorted(set(labels)))
    y = np.array([names.index(label) for label in labels])
    rng = np.random.default_rng(seed)
    held = np.zeros(len(y), dtype=bool)
    for k in range(len(names)):
        members = np.flatnonzero(y == k)
        rng.shuffle(members)
        held[members[: max(1, len(members) // 10)]] = True
    weights, bias = _fit_weights(vectors[~held], y[~held], len(names))
    logits = vectors[held] @ weights.T + bias
    losses = [_nll(_softmax(logits / t), y[held]) for t in TEMPERATURES]
    temperature = float(TEMPERATURES[int(np.argmin(losses))])
    weights, bias = _fit_weights(vectors, y, len(names))
    return IntentModel(names, weights, bias, temperature, data_sha256)


def _fit_weights(x: Matrix, y: npt.NDArray[np.int64], classes: int) -> tuple[Matrix, Matrix]:
    """Full-batch gradient descent with Adam; every class weighs the same whatever its size, so
    the big classes (search, out of scope) do not swallow the small ones."""
    counts = np.bincount(y, minlength=classes).astype(np.float32)
    sample_weight = (len(y) / (classes * counts))[y]
    onehot = np.eye(classes, dtype=np.float32)[y]
    w = np.zeros((classes, x.shape[1]), dtype=np.float32)
    b = np.zeros(classes, dtype=np.float32)
    state = [np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)]
    scale = 8.0  # unit vectors make small logits; a larger input speeds descent up
    xs = (x * scale).astype(np.float32)
    for step in range(1, STEPS + 1):
        p = _softmax((xs @ w.T + b).astype(np.float32))
        error = (p - onehot) * sample_weight[:, None] / len(y)
        grad_w = error.T @ xs + L2 * w
        grad_b = error.sum(axis=0)
        for i, (param, grad) in enumerate(((w, grad_w), (b, grad_b))):
            m, v = state[2 * i], state[2 * i + 1]
            m[:] = 0.9 * m + 0.1 * grad
            v[:] = 0.999 * v + 0.001 * grad * grad
            m_hat = m / (1 - 0.9**step)
            v_hat = v / (1 - 0.999**step)
            param -= LEARNING_RATE * 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    return (w * scale).astype(np.float32), b.astype(np.float32)


def _softmax(logits: Matrix) -> Matrix:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: Matrix = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def _nll(p: Matrix, y: npt.NDArray[np.int64]) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-9, None))))
