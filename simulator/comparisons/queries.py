"""Queries over a corpus, chat sessions, and the LLM calls each deployment kind makes for them.

Every deployment of a comparison sees the same generated queries (same seed): arrival times,
question and output lengths, which document each query is about (uniform or Zipf popularity)
and where in that document its evidence sits. Each kind then turns a query into LLM calls:

    rag           [system | k chunks | question] -> answer            (after retrieval stages)
    long_context  [system | document | question] -> answer            (refused past the context,
                  or map-reduce: one call per part, then a reduce call over the part outputs)
    hybrid        rag call; for the fallback share, a declined rag call -> long-context call
    llm (chat)    turn t: [system | turns 1..t-1 | user_t] -> answer_t, turn t+1 after think time

Shared prefixes are named so prefix caching can reuse them: the system prompt, a document (with
the system prompt before it), a map part, or a chat session's history.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator.specs.comparison import ComparisonSpec, HybridDeployment, LongContextDeployment, RagDeployment
from simulator.comparisons.quality import QualityModel
from simulator.engine.dependencies import CallGraph
from simulator.engine.request import Request, Status
from simulator.specs.scenario import TraceArrivals
from simulator.workloads.generate import arrival_times, read_trace, resolve_path, sample_lengths

EVIDENCE_POSITIONS = {"start": 0.0, "middle": 0.5, "end": 1.0}
MIN_MAP_PART_TOKENS = 1024    # map-reduce refuses a query whose per-part document budget is smaller


@dataclass(frozen=True, slots=True)
class QuerySet:
    arrival_s: np.ndarray
    question_tokens: np.ndarray
    output_tokens: np.ndarray
    document: np.ndarray             # document index per query
    evidence_position: np.ndarray    # 0 = start of the document, 1 = end
    document_tokens: np.ndarray      # per document

    def __len__(self) -> int:
        return len(self.arrival_s)


@dataclass(frozen=True, slots=True)
class SessionSet:
    start_s: np.ndarray
    user_tokens: list[np.ndarray]    # per session, per turn
    output_tokens: list[np.ndarray]


def _times(arrival, rng, num, horizon_s, base_dir, field: str) -> np.ndarray:
    if isinstance(arrival, TraceArrivals):
        times = read_trace(resolve_path(arrival.path, base_dir, field))["arrival_time_s"].to_numpy() / arrival.time_scale
        times = times[:num] if num else times
    else:
        times = arrival_times(arrival, rng, num, horizon_s)
    return times[times <= horizon_s] if horizon_s is not None else times


def generate_queries(spec: ComparisonSpec, rng: np.random.Generator, base_dir: Path | None = None) -> QuerySet:
    q, corpus = spec.queries, spec.corpus
    times = _times(q.arrival, rng, q.num_requests, q.horizon_s, base_dir, "queries.arrival.path")
    n = len(times)
    question = sample_lengths(q.question_tokens, rng, n, base_dir, "queries.question_tokens.path")
    output = sample_lengths(q.output_tokens, rng, n, base_dir, "queries.output_tokens.path")
    doc_tokens = sample_lengths(corpus.document_tokens, rng, corpus.num_documents, base_dir,
                                "corpus.document_tokens.path")
    ranks = np.arange(1, corpus.num_documents + 1, dtype=float)
    weights = ranks ** -corpus.zipf_exponent if corpus.popularity == "zipf" else np.ones_like(ranks)
    documents = rng.choice(corpus.num_documents, size=n, p=weights / weights.sum())
    positions = (rng.random(n) if q.evidence_position == "uniform"
                 else np.full(n, EVIDENCE_POSITIONS[q.evidence_position]))
    return QuerySet(times, question, output, documents.astype(np.int64), positions, doc_tokens)


def generate_sessions(spec: ComparisonSpec, rng: np.random.Generator, base_dir: Path | None = None) -> SessionSet:
    c = spec.conversations
    starts = _times(c.arrival, rng, c.num_sessions, None, base_dir, "conversations.arrival.path")
    turns = sample_lengths(c.turns, rng, len(starts), base_dir, "conversations.turns.path")
    users = [sample_lengths(c.user_tokens, rng, int(t), base_dir, "conversations.user_tokens.path") for t in turns]
    outputs = [sample_lengths(c.output_tokens, rng, int(t), base_dir, "conversations.output_tokens.path")
               for t in turns]
    return SessionSet(starts, users, outputs)


@dataclass(slots=True)
class Calls:
    """LLM calls for one deployment, plus what the quality model needs per query."""
    requests: list[Request] = field(default_factory=list)           # to simulate
    graph: CallGraph = field(default_factory=CallGraph)              # which of them wait for others
    refused: list[Request] = field(default_factory=list)            # rejected before reaching the LLM
    accuracy: np.ndarray | None = None                              # expected accuracy per query
    num_queries: int = 0
    num_clipped_turns: int = 0


def _refused(rid: int, query: int, arrival: float, prompt: int, output: int, context: int) -> Request:
    request = Request(request_id=rid, arrival_time_s=arrival, num_prompt_tokens=prompt, max_output_tokens=output,
                      query_id=query, status=Status.REJECTED)
    request.reject_reason = f"document_exceeds_context: {prompt + output} tokens > {context}"
    return request


IdCounter = Callable[[], int]


def id_counter() -> IdCounter:
    """Request ids 0, 1, 2, ... (`itertools.count`)."""
    return itertools.count().__next__


def long_context_calls(queries: QuerySet, dep: LongContextDeployment | HybridDeployment, context: int,
                       quality: QualityModel, ids: IdCounter, calls: Calls, only: np.ndarray | None = None,
                       parents: dict[int, Request] | None = None) -> np.ndarray:
    """Append long-context calls for the queries in `only` (all by default); returns their accuracy."""
    system = dep.system_prompt_tokens
    num_docs = len(queries.document_tokens)
    selected = np.arange(len(queries)) if only is None else only
    accuracy = np.zeros(len(selected))
    for j, i in enumerate(selected.tolist()):
        doc = int(queries.document[i])
        doc_tokens = int(queries.document_tokens[doc])
        question, output = int(queries.question_tokens[i]), int(queries.output_tokens[i])
        prompt = system + doc_tokens + question
        arrival = float(queries.arrival_s[i])
        parent = parents.get(i) if parents else None
        if prompt + output <= context:
            request = Request(request_id=ids(), arrival_time_s=arrival, num_prompt_tokens=prompt,
                              max_output_tokens=output, prefix_id=1 + doc, prefix_tokens=system + doc_tokens,
                              query_id=i)
            if parent is not None:
                calls.graph.add(parent, [request])
            calls.requests.append(request)
            accuracy[j] = quality.accuracy(1.0, prompt, queries.evidence_position[i])
            continue
        budget = context - system - question - dep.map_output_tokens
        if dep.on_overflow == "refuse" or budget < MIN_MAP_PART_TOKENS:
            refused = _refused(ids(), i, arrival, prompt, output, context)
            if parent is not None:
                parent.is_answer = True      # the declined attempt is all the user gets
            calls.refused.append(refused)
            continue
        parts = -(-doc_tokens // budget)
        part_tokens = -(-doc_tokens // parts)
        reduce_prompt = system + parts * dep.map_output_tokens + question
        if reduce_prompt + output > context:
            calls.refused.append(_refused(ids(), i, arrival, reduce_prompt, output, context))
            continue
        reduce = Request(request_id=ids(), arrival_time_s=arrival, num_prompt_tokens=reduce_prompt,
                         max_output_tokens=output, query_id=i)
        maps = []
        for part in range(parts):
            map_call = Request(request_id=ids(), arrival_time_s=arrival,
                               num_prompt_tokens=system + part_tokens + question,
                               max_output_tokens=dep.map_output_tokens,
                               prefix_id=1 + num_docs + doc * 4096 + part, prefix_tokens=system + part_tokens,
                               query_id=i, is_answer=False)
            calls.graph.add(map_call, [reduce])
            maps.append(map_call)
        if parent is not None:
            calls.graph.add(parent, maps)
        calls.requests.extend(maps + [reduce])
        accuracy[j] = quality.accuracy(1.0, system + part_tokens + question, queries.evidence_position[i]) \
            * quality.reader(reduce_prompt)
    return accuracy


def rag_calls(queries: QuerySet, dep: RagDeployment | HybridDeployment, chunk_tokens: int, context: int,
              ids: IdCounter, calls: Calls, ready_s: np.ndarray, declined: np.ndarray | None = None) -> dict[int, Request]:
    """One RAG call per query; `declined` queries answer "unanswerable" (hybrid fallback)."""
    system = dep.system_prompt_tokens
    by_query = {}
    for i in range(len(queries)):
        prompt = system + dep.retrieval.top_k * chunk_tokens + int(queries.question_tokens[i])
        output = int(queries.output_tokens[i])
        declines = declined is not None and bool(declined[i])
        if declines:
            output = dep.unanswerable_output_tokens
        prompt = min(prompt, context - output)
        request = Request(request_id=ids(), arrival_time_s=float(queries.arrival_s[i]), num_prompt_tokens=prompt,
                          max_output_tokens=output, prefix_id=0 if system else -1, prefix_tokens=system,
                          query_id=i, ready_time_s=float(ready_s[i]), is_answer=not declines)
        calls.requests.append(request)
        by_query[i] = request
    return by_query


def chat_calls(sessions: SessionSet, system: int, think_time_s: float, context: int, calls: Calls) -> None:
    ids = id_counter()
    for s, start in enumerate(sessions.start_s.tolist()):
        history = system
        previous = None
        for user, output in zip(sessions.user_tokens[s].tolist(), sessions.output_tokens[s].tolist()):
            prompt = history + user
            if prompt + output > context:
                calls.num_clipped_turns += 1
                break
            rid = ids()
            turn = Request(request_id=rid, arrival_time_s=start, num_prompt_tokens=prompt, max_output_tokens=output,
                           prefix_id=1 + s, prefix_tokens=prompt + output, query_id=rid)
            if previous is not None:      # the next turn: sent a think time after the answer, timed from then
                calls.graph.add(previous, [turn])
                calls.graph.set_release(turn, think_time_s, latency_from_release=True)
            calls.requests.append(turn)
            previous, history = turn, prompt + output
    calls.num_queries = len(calls.requests)
