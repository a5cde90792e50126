"""Expected answer accuracy of RAG, long-context and hybrid deployments: a prior, not a measurement.

    accuracy = closed_book + (oracle - closed_book) x P(evidence in context)
               x reader(context tokens) x position(evidence position, context tokens)

- P(evidence in context): retrieval recall@k for RAG; 1 for long context when the document fits
  (0, and no answer, when it is refused).
- reader(L) = RULER score(L) / score(4K) for the model (or a proxy / the median row).
- position: Lost in the Middle's U-shaped curve, its dip scaled by L / effective length.
- hybrid (Self-Route): a fraction f of queries, those with the least retrieval confidence, fall
  back to long context; the evidence rate among the queries kept on RAG lies between recall
  (random routing) and min(1, recall / (1 - f)) (perfect routing), at `routing_quality`.

Every curve comes from `catalog/quality.yaml` or from the scenario (`quality:` overrides).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import yaml

from simulator.catalog import CATALOG_DIR


DEFAULT_ROW_SOURCE = "RULER row default"


@functools.lru_cache(maxsize=1)
def quality_priors() -> dict:
    return yaml.safe_load((CATALOG_DIR / "quality.yaml").read_text())


@dataclass(frozen=True, slots=True)
class QualityModel:
    closed_book: float
    oracle: float
    ruler_lengths: tuple[int, ...]
    ruler_scores: tuple[float, ...]
    ruler_source: str
    threshold: float
    recall_points: tuple[tuple[float, float], ...]
    position_points: tuple[tuple[float, float], ...]

    @property
    def uses_default_row(self) -> bool:
        """True when the model has no RULER row of its own and the table's median row stands in."""
        return self.ruler_source == DEFAULT_ROW_SOURCE

    def reader(self, context_tokens: np.ndarray) -> np.ndarray:
        """RULER score at the context length relative to the 4K score, clipped to [0, 1]."""
        lengths = np.log2(np.asarray(self.ruler_lengths, dtype=float))
        scores = np.asarray(self.ruler_scores, dtype=float)
        x = np.log2(np.maximum(np.asarray(context_tokens, dtype=float), 1.0))
        inside = np.interp(x, lengths, scores)
        slope = scores[-1] - scores[-2]                       # change per doubling past the last length
        beyond = scores[-1] + slope * (x - lengths[-1])
        score = np.where(x > lengths[-1], beyond, inside)
        return np.clip(score / scores[0], 0.0, 1.0)

    def effective_length(self) -> float:
        ok = [length for length, score in zip(self.ruler_lengths, self.ruler_scores) if score >= self.threshold]
        return float(max(ok)) if ok else float(self.ruler_lengths[0])

    def position(self, position_fraction: np.ndarray, context_tokens: np.ndarray) -> np.ndarray:
        xs, ys = zip(*self.position_points)
        dip = 1.0 - np.interp(np.asarray(position_fraction, dtype=float), xs, ys)
        strength = np.minimum(1.0, np.asarray(context_tokens, dtype=float) / self.effective_length())
        return 1.0 - strength * dip

    def recall(self, top_k: int) -> float:
        ks, rs = zip(*self.recall_points)
        return float(np.interp(np.log(top_k), np.log(ks), rs))

    def accuracy(self, evidence_probability, context_tokens, position_fraction) -> np.ndarray:
        gain = self.oracle - self.closed_book
        return self.closed_book + gain * np.asarray(evidence_probability, dtype=float) \
            * self.reader(context_tokens) * self.position(position_fraction, context_tokens)


def quality_model(model_name: str, overrides: dict | None = None) -> QualityModel:
    """The prior for `model_name`, with any scenario overrides applied."""
    priors = quality_priors()
    overrides = overrides or {}
    ruler = priors["ruler"]
    row_name = model_name if model_name in ruler["models"] else "default"
    scores = overrides.get("reader_scores") or ruler["models"][row_name]
    lengths = overrides.get("reader_lengths") or ruler["lengths"]
    source = "scenario reader curve" if overrides.get("reader_scores") else f"RULER row {row_name}"
    return QualityModel(
        closed_book=overrides.get("closed_book_accuracy", priors["anchors"]["closed_book_accuracy"]),
        oracle=overrides.get("oracle_accuracy", priors["anchors"]["oracle_accuracy"]),
        ruler_lengths=tuple(lengths), ruler_scores=tuple(scores), ruler_source=source,
        threshold=ruler["threshold"],
        recall_points=tuple(map(tuple, overrides.get("recall_at_k") or priors["recall_at_k"]["points"])),
        position_points=tuple(map(tuple, priors["position_curve"]["points"])),
    )


def kv_quality_penalty(kv_cache_dtype: str, override: float | None = None) -> float:
    """Accuracy points lost to storing the KV cache in `kv_cache_dtype` (catalog default unless overridden)."""
    if override is not None:
        return override
    return float(quality_priors()["kv_cache_quality_penalty"].get(kv_cache_dtype, 0.0))
