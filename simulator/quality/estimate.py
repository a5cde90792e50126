"""`QualityModel`: one model's quality prior on one task family, assembled by `simulator.quality.priors`;
the formula is in `simulator.quality.model`'s docstring. Long-context, RAG and Self-Route queries go
through one combination, `QualityModel.combine`, whose bounds take every uncertain input at its corners
(the position term can be negative, so no input is monotone on its own)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from simulator.quality.model import Band, Estimate, PositionCurves, ReaderCurve, RecallCurve


@dataclass(frozen=True, slots=True)
class Task:
    """A task family: how many passages a question needs and the share retrieval can answer at all."""
    name: str
    hops: int
    answerable_by_retrieval: Band


@dataclass(frozen=True, slots=True)
class QualityModel:
    model: str
    task: Task
    closed_book: Band
    oracle: Band
    reader: ReaderCurve
    position: PositionCurves
    recall: RecallCurve
    routed_share: Band | None            # Self-Route: share the model declares unanswerable from the chunks
    source: str                          # "prior: ..." or "fitted profile: ..."

    def combine(self, evidence: Estimate, reader: Estimate, position: Estimate) -> Estimate:
        """closed_book + (oracle - closed_book) x evidence x reader x position, bounds over every corner."""
        terms = [(e, r, p) for e in (evidence.value, evidence.low, evidence.high)
                 for r in (reader.value, reader.low, reader.high)
                 for p in (position.value, position.low, position.high)]
        anchors = [(self.closed_book.low, self.oracle.low), (self.closed_book.high, self.oracle.high),
                   (self.closed_book.low, self.oracle.high), (self.closed_book.high, self.oracle.low)]
        value = self.closed_book.value + (self.oracle.value - self.closed_book.value) * \
            evidence.value * reader.value * position.value
        corners = [cb + max(0.0, oracle - cb) * e * r * p
                   for (cb, oracle), (e, r, p) in itertools.product(anchors, terms)]
        flag = evidence.extrapolated | reader.extrapolated | position.extrapolated
        clip = lambda a: np.clip(a, 0.0, 1.0)              # noqa: E731
        return Estimate.of(clip(value), clip(np.min(corners, axis=0)), clip(np.max(corners, axis=0)), flag)

    def long_context(self, context_tokens, evidence_position, reduce_tokens=None) -> Estimate:
        """Per query: the whole document in context, the evidence at `evidence_position` (0..1); with
        `reduce_tokens`, a map part of `context_tokens` whose answer passes through a reduce call that long."""
        tokens = np.asarray(context_tokens, dtype=float)
        reader = self.reader.relative(tokens)
        if reduce_tokens is not None:
            reduce = self.reader.relative(reduce_tokens)
            reader = Estimate(reader.value * reduce.value, reader.low * reduce.low, reader.high * reduce.high,
                              reader.extrapolated | reduce.extrapolated)
        position = self.position.gain(evidence_position, tokens / self.position.passage_tokens)
        return self.combine(Estimate.of(np.ones_like(tokens)), reader, position)

    def rag_evidence(self, top_k: int) -> Estimate:
        """P(every passage the question needs is in the top k and retrieval can answer it at all)."""
        recall, share = self.recall.at(top_k), self.task.answerable_by_retrieval
        h = self.task.hops
        return Estimate.of(recall.value ** h * share.value, recall.low ** h * share.low,
                           recall.high ** h * share.high, recall.extrapolated)

    def rag(self, top_k: int, context_tokens: float, evidence: Estimate | None = None) -> Estimate:
        """One RAG query: k passages in rank order, the gold one at its retrieval rank."""
        weights = self.recall.rank_weights(top_k)
        ranks = np.arange(top_k) / max(1, top_k - 1)
        gains = self.position.gain(ranks, np.full(top_k, top_k))
        position = Estimate.of(float(weights @ gains.value), float(weights @ gains.low), float(weights @ gains.high),
                               bool(gains.extrapolated.any()))
        return self.combine(evidence or self.rag_evidence(top_k), self.reader.relative(context_tokens), position)

    def fallback_share(self, top_k: int, override: float | None = None) -> float:
        """Self-Route's share routed to long context: the scenario's, the model's published share, or the
        share whose evidence retrieval misses."""
        if override is not None:
            return override
        if self.routed_share is not None:
            return self.routed_share.value
        return float(1.0 - self.rag_evidence(top_k).value)

    def kept_evidence(self, top_k: int, fallback: float, routing_quality: float) -> Estimate:
        """Evidence rate among the queries Self-Route keeps on RAG: between the overall rate (a random choice)
        and min(1, rate / (1 - fallback)) (the model declines exactly the queries whose evidence is missing)."""
        base = self.rag_evidence(top_k)
        kept = lambda e: e + routing_quality * (np.minimum(1.0, e / max(1e-9, 1.0 - fallback)) - e)   # noqa: E731
        return Estimate.of(kept(base.value), kept(base.low), kept(base.high), base.extrapolated)

    def effective_context_tokens(self, threshold: float) -> int | None:
        return self.reader.effective_length(threshold)
