"""Comparison scenarios: one query workload over a document corpus, answered by RAG, long-context
or hybrid deployments (or a multi-turn chat workload served by plain LLM deployments).

    corpus:   documents with a length distribution and a popularity (uniform or Zipf)
    queries:  arrivals, question and output lengths, where the evidence sits in the document
    deployments:
      kind: rag           system + top_k x chunk + question, after embed -> search -> (rerank)
      kind: long_context  system + document + question (refused, or map-reduce, past the context)
      kind: hybrid        RAG first; a fraction falls back to long context (Self-Route)
      kind: llm           plain serving of conversations (history grows turn by turn)
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from simulator.specs.paths import HardwareRef
from simulator.workloads.rag import retrieval_defaults
from simulator.specs.scenario import (MAX_DESCRIPTION_CHARS, MAX_HORIZON_S, MAX_NAME_CHARS, MAX_PRICE_USD, MAX_TOKENS,
                                Arrivals, DeploymentSpec, LengthDist, SLOSpec, _Strict)

_R = retrieval_defaults()["defaults"]


class CorpusSpec(_Strict):
    num_documents: int = Field(ge=1, le=100_000_000)
    document_tokens: LengthDist
    popularity: Literal["uniform", "zipf"] = "zipf"
    zipf_exponent: float = Field(default=1.0, gt=0, le=5)
    chunk_tokens: int = Field(default=512, ge=16, le=32768)
    updates_per_month_fraction: float = Field(default=0.0, ge=0, le=100, description="share re-embedded monthly")


class QueriesSpec(_Strict):
    num_requests: int | None = Field(default=None, ge=1, le=10_000_000)
    horizon_s: float | None = Field(default=None, gt=0, le=MAX_HORIZON_S)
    arrival: Arrivals
    question_tokens: LengthDist
    output_tokens: LengthDist
    evidence_position: Literal["uniform", "start", "middle", "end"] = "uniform"

    @model_validator(mode="after")
    def _count(self):
        if self.num_requests is None and self.horizon_s is None:
            raise ValueError("set num_requests or horizon_s")
        return self


class ConversationsSpec(_Strict):
    num_sessions: int = Field(ge=1, le=1_000_000)
    arrival: Arrivals = Field(description="session starts")
    turns: LengthDist
    user_tokens: LengthDist
    output_tokens: LengthDist
    think_time_s: float = Field(default=20.0, ge=0, le=MAX_HORIZON_S,
                                description="pause between an answer and the next turn")
    system_prompt_tokens: int = Field(default=500, ge=0, le=MAX_TOKENS)


class ApiPricing(_Strict):
    input_usd_per_million: float = Field(ge=0, le=MAX_PRICE_USD)
    cached_input_usd_per_million: float | None = Field(default=None, ge=0, le=MAX_PRICE_USD)
    output_usd_per_million: float = Field(ge=0, le=MAX_PRICE_USD)


class LLMSpec(DeploymentSpec):
    name: str = Field(default="llm", min_length=1, max_length=MAX_NAME_CHARS)


class EmbeddingSpec(_Strict):
    params_m: float = Field(default=_R["embedding_params_m"], gt=0, le=1e7)
    hardware: HardwareRef = "l4"
    replicas: int = Field(default=1, ge=1, le=10_000)
    api_usd_per_million_tokens: float | None = Field(default=None, ge=0, le=MAX_PRICE_USD,
                                                     description="use an API instead of GPUs")


class VectorSearchSpec(_Strict):
    index: Literal["flat", "hnsw", "ivf", "diskann"] = "hnsw"
    nodes: int = Field(default=1, ge=1, le=10_000)
    node_usd_per_hour: float = Field(default=_R["node_usd_per_hour"], ge=0, le=MAX_PRICE_USD)
    recall_target: float = Field(default=0.95, gt=0, lt=1)
    dim: int = Field(default=1024, ge=1, le=65536)


class RerankSpec(_Strict):
    candidates: int = Field(default=50, ge=1, le=10_000)
    candidate_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS,
                                         description="defaults to the corpus chunk size")
    params_m: float = Field(default=_R["rerank_params_m"], gt=0, le=1e7)
    hardware: HardwareRef = "l4"
    replicas: int = Field(default=1, ge=1, le=10_000)


class RetrievalSpec(_Strict):
    top_k: int = Field(default=8, ge=1, le=1000)
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    vector_search: VectorSearchSpec = Field(default_factory=VectorSearchSpec)
    rerank: RerankSpec | None = None


class _Deployment(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    llm: LLMSpec
    system_prompt_tokens: int = Field(default=200, ge=0, le=1_000_000)
    api_pricing: ApiPricing | None = Field(default=None, description="price the same tokens at an API's rates")


class LLMDeployment(_Deployment):
    kind: Literal["llm"]


class RagDeployment(_Deployment):
    kind: Literal["rag"]
    retrieval: RetrievalSpec = Field(default_factory=RetrievalSpec)


class LongContextDeployment(_Deployment):
    kind: Literal["long_context"]
    on_overflow: Literal["refuse", "map_reduce"] = "refuse"
    map_output_tokens: int = Field(default=256, ge=1, le=100_000)


class HybridDeployment(_Deployment):
    kind: Literal["hybrid"]
    retrieval: RetrievalSpec = Field(default_factory=RetrievalSpec)
    fallback_fraction: float | None = Field(default=None, ge=0, le=1,
                                            description="default: 1 - recall@k (retrieval confidence)")
    routing_quality: float | None = Field(default=None, ge=0, le=1,
                                          description="0 random fallback choice .. 1 perfect; default in quality.yaml")
    unanswerable_output_tokens: int = Field(default=10, ge=1, le=MAX_TOKENS)
    on_overflow: Literal["refuse", "map_reduce"] = "refuse"
    map_output_tokens: int = Field(default=256, ge=1, le=100_000)


ComparisonDeployment = Annotated[Union[LLMDeployment, RagDeployment, LongContextDeployment, HybridDeployment],
                                 Field(discriminator="kind")]


class QualityOverrides(_Strict):
    closed_book_accuracy: float | None = Field(default=None, ge=0, le=1)
    oracle_accuracy: float | None = Field(default=None, ge=0, le=1)
    recall_at_k: list[tuple[int, float]] | None = None
    reader_lengths: list[int] | None = None
    reader_scores: list[float] | None = None


class ComparisonSLO(SLOSpec):
    target_attainment: float = Field(default=0.95, gt=0, le=1, description="share of queries that must meet it")


class ComparisonSpec(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    max_sim_time_s: float | None = Field(default=None, gt=0, le=MAX_HORIZON_S)
    corpus: CorpusSpec | None = None
    queries: QueriesSpec | None = None
    conversations: ConversationsSpec | None = None
    slo: ComparisonSLO = Field(default_factory=ComparisonSLO)
    quality: QualityOverrides | None = None
    deployments: list[ComparisonDeployment] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self):
        if (self.queries is None) == (self.conversations is None):
            raise ValueError("set exactly one of queries or conversations")
        if self.queries is not None and self.corpus is None:
            raise ValueError("queries need a corpus")
        for d in self.deployments:
            if d.kind != "llm" and self.queries is None:
                raise ValueError(f"deployment {d.name}: kind {d.kind} needs queries over a corpus")
            if d.kind == "llm" and self.conversations is None:
                raise ValueError(f"deployment {d.name}: kind llm serves conversations")
        names = [d.name for d in self.deployments]
        if len(set(names)) != len(names):
            raise ValueError(f"deployment names must be unique, got {names}")
        return self
