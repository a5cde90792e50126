"""Expected answer accuracy in gain space, with an interval: a prior from published studies, not a measurement.

    accuracy = closed_book + (oracle - closed_book) x evidence x reader(L) x position(x, n)

- closed_book, oracle: the model's accuracy on the task family with no context and with the gold
  evidence alone (`Anchors`; measured where a study reports the model, else the reference model's
  scaled by a strength term, `simulator.quality.priors`).
- evidence: P(the evidence is in the context). Long context: 1 when the document fits. RAG:
  recall@k of the retriever on the corpus kind, to the power of the task's hops, times the share of
  queries retrieval can answer at all (summaries and aggregation need the whole document).
- reader(L): the model's RULER score at L over its 4K score; past its last measured length the
  value is extrapolated (the last doubling's drop continues) inside a band that widens with length.
- position(x, n): Lost in the Middle's gain fraction (accuracy - closed_book) / (oracle - closed_book)
  with the gold passage at relative position x (0 first, 1 last) among n passages of hard
  distractors: 1 for n = 1, U-shaped in x, smaller as n grows, and negative (below closed-book)
  where the study measured it so. RAG contexts put the gold passage at its retrieval rank (the
  rank distribution follows the recall curve); a long document counts L / passage tokens passages,
  capped at the study's largest setting and flagged extrapolated beyond it.

Every estimate is an `Estimate`: a central value with low and high bounds (each uncertain input at
its own bound: the spread of its sources, or the extrapolation band) and whether any input was
extrapolated past what its source measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Band:
    """A number with the spread of its sources: low <= value <= high."""
    value: float
    low: float
    high: float

    @staticmethod
    def exact(value: float) -> "Band":
        return Band(value, value, value)


@dataclass(frozen=True, slots=True)
class Estimate:
    """Central value, bounds and an extrapolation flag; arrays of one shape (or floats)."""
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    extrapolated: np.ndarray

    @staticmethod
    def of(value, low=None, high=None, extrapolated=False) -> "Estimate":
        v = np.asarray(value, dtype=float)
        lo = v if low is None else np.asarray(low, dtype=float)
        hi = v if high is None else np.asarray(high, dtype=float)
        return Estimate(v, np.minimum(lo, v), np.maximum(hi, v), np.broadcast_to(np.asarray(extrapolated), v.shape))

    def mean(self) -> "Estimate":
        return Estimate(np.mean(self.value), np.mean(self.low), np.mean(self.high), np.any(self.extrapolated))


@dataclass(frozen=True, slots=True)
class ReaderCurve:
    """RULER scores (percent) by context length; `measured`: the model's own row, not a proxy."""
    name: str
    lengths: tuple[int, ...]
    scores: tuple[float, ...]
    measured: bool
    source: str
    low_drop_per_doubling: float           # the band's low side past the last length (priors: median table drop)
    envelope_low: tuple[float, ...]        # lowest table row per length: the band of a proxy row
    envelope_high: tuple[float, ...]

    @property
    def measured_max_tokens(self) -> int:
        return self.lengths[-1]

    def score(self, tokens) -> Estimate:
        """The score in percent at `tokens` (clipped to 0..100), its band, and whether it is extrapolated."""
        x = np.log2(np.maximum(np.asarray(tokens, dtype=float), 1.0))
        grid = np.log2(np.asarray(self.lengths, dtype=float))
        s = np.asarray(self.scores, dtype=float)
        inside = np.interp(x, grid, s)
        beyond = np.maximum(0.0, x - grid[-1])
        slope = min(0.0, s[-1] - s[-2])                      # per doubling past the last measured length
        value = np.where(beyond > 0, s[-1] + slope * beyond, inside)
        low_slope = min(2 * slope, -self.low_drop_per_doubling)
        low = np.where(beyond > 0, s[-1] + low_slope * beyond, inside)
        high = np.where(beyond > 0, s[-1], inside)
        if not self.measured:
            low = np.minimum(low, np.interp(x, grid, self.envelope_low) + np.minimum(0, low_slope * beyond))
            high = np.maximum(high, np.interp(x, grid, self.envelope_high))
        clip = lambda a: np.clip(a, 0.0, 100.0)            # noqa: E731
        return Estimate.of(clip(value), clip(low), clip(high), beyond > 0)

    def relative(self, tokens) -> Estimate:
        """reader(L): the score at L over the score at the first length (4K), at most 1."""
        s = self.score(tokens)
        base = self.scores[0]
        clip = lambda a: np.clip(a / base, 0.0, 1.0)       # noqa: E731
        return Estimate(clip(s.value), clip(s.low), clip(s.high), s.extrapolated)

    def effective_length(self, threshold: float) -> int | None:
        """The longest measured length scoring at least `threshold` (RULER's definition); None below it at 4K."""
        ok = [n for n, score in zip(self.lengths, self.scores) if score >= threshold]
        return max(ok) if ok else None


@dataclass(frozen=True, slots=True)
class PositionCurves:
    """Gain fractions by relative gold position, one curve per number of passages (Lost in the Middle)."""
    name: str
    num_passages: tuple[int, ...]                          # e.g. (10, 20, 30)
    positions: tuple[tuple[float, ...], ...]               # relative positions 0..1 per setting
    gains: tuple[tuple[float, ...], ...]                   # (accuracy - closed_book) / (oracle - closed_book)
    spread_low: tuple[tuple[float, ...], ...]              # lowest gain of the study's models (proxy band)
    spread_high: tuple[tuple[float, ...], ...]
    measured: bool
    passage_tokens: float                                  # tokens per passage in the study's prompts

    def _at(self, table, x: np.ndarray) -> np.ndarray:
        return np.array([np.interp(x, pos, g) for pos, g in zip(self.positions, table)])   # (settings, ...)

    def gain(self, x, n) -> Estimate:
        """Gain fraction with the gold passage at relative position `x` of `n` passages."""
        x, n = np.broadcast_arrays(np.asarray(x, dtype=float), np.maximum(np.asarray(n, dtype=float), 1.0))
        logs = np.log(np.concatenate(([1.0], np.asarray(self.num_passages, dtype=float))))
        ln = np.log(n)
        idx = np.clip(np.searchsorted(logs, ln) - 1, 0, len(logs) - 2)
        w = np.clip((ln - logs[idx]) / (logs[idx + 1] - logs[idx]), 0.0, 1.0)
        measured = self._at(self.gains, x)

        def interpolate(settings: np.ndarray) -> np.ndarray:
            curves = np.concatenate((np.ones((1,) + x.shape), settings))          # n = 1: the oracle
            pick = lambda k: np.take_along_axis(curves, k[None], axis=0)[0]     # noqa: E731
            return (1 - w) * pick(idx) + w * pick(idx + 1)
        value = interpolate(measured)
        low = value if self.measured else interpolate(self._at(self.spread_low, x))
        high = value if self.measured else interpolate(self._at(self.spread_high, x))
        beyond = n > self.num_passages[-1]
        if len(self.num_passages) > 1:          # past the largest setting: the last step's trend continues (low)
            last, before = measured[-1], measured[-2]
            steps = np.log(n / self.num_passages[-1]) / np.log(self.num_passages[-1] / self.num_passages[-2])
            low = np.where(beyond, np.minimum(low, last + np.minimum(0.0, last - before) * steps), low)
        return Estimate.of(value, low, high, beyond)


@dataclass(frozen=True, slots=True)
class RecallCurve:
    """Share of queries whose evidence is in the top k, by k (points in log k), with a source band."""
    name: str
    ks: tuple[float, ...]
    values: tuple[float, ...]
    lows: tuple[float, ...]
    highs: tuple[float, ...]
    source: str

    def _interp(self, k, ys) -> np.ndarray:
        return np.clip(np.interp(np.log(np.maximum(np.asarray(k, dtype=float), 1.0)), np.log(self.ks), ys), 0.0, 1.0)

    def at(self, k) -> Estimate:
        beyond = np.asarray(k, dtype=float) > self.ks[-1]
        return Estimate.of(self._interp(k, self.values), self._interp(k, self.lows), self._interp(k, self.highs),
                           beyond)

    def rank_weights(self, k: int) -> np.ndarray:
        """P(the gold passage sits at rank r | it is in the top k), r = 1..k."""
        cumulative = self._interp(np.arange(1, k + 1), self.values)
        mass = np.diff(np.concatenate(([0.0], cumulative)))
        return mass / mass.sum() if mass.sum() > 0 else np.full(k, 1.0 / k)
