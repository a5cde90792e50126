"""Typed result of `simulator.results.estimate.estimate`: memory, fit, latency and cost of one request shape.

`Estimate` is what `ctxplan estimate --format json` prints and what POST /v1/estimate answers
(`api.response_models.EstimateResponse` is this class). Frozen and closed like every result
(`simulator.results.types`); field order is the JSON's key order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.results.types import Frozen
from simulator.costs.costmodel import AttentionImpl
from simulator.specs.scenario import KVDtype, WeightDtype


FitLimitName = Literal["context", "weights", "kv_cache", "score_matrix"]     # simulator.results.estimate.FitLimit
_REPLICA = ("summed over the replica's num_gpus GPUs (the model's KV; copies of KV heads replicated where tp "
            "exceeds their count, and MLA's latent on every TP rank, count once each)")


class AttentionImplEstimate(Frozen):
    """One attention implementation on this layout: its prefill time and its memory fit (the context aside)."""
    prefill_time_s: float
    score_matrix_bytes_per_gpu: int = Field(description="the score matrix one prefill chunk materialises for one "
                                            "layer on one GPU: chunk x prompt tokens (0 for flash)")
    fits: bool = Field(description="memory holds one sequence with this implementation: weights, the whole "
                       "sequence's KV and the score matrix")
    limited_by: FitLimitName | None = Field(description="the first memory limit met (weights, then kv_cache, then "
                                            "score_matrix); null when it fits")
    reason: str = Field(description="'fits', or the limit in words")


class AttentionImpls(Frozen):
    """Each attention implementation's prefill on the same shape (`costmodel.ATTENTION_IMPLS`)."""
    flash: AttentionImplEstimate
    naive: AttentionImplEstimate


class GpuLayout(Frozen):
    tensor_parallel: int
    context_parallel: int
    pipeline_parallel: int
    num_gpus: int


class Estimate(Frozen):
    """`simulator.results.estimate.estimate`: the JSON `ctxplan estimate --format json` prints.

    Token scopes: `kv_cache_bytes*` count the prompt, `sequence_kv_cache_bytes*` the prompt plus the output;
    `*_per_gpu` fields are one GPU's share, the others sum the replica (num_gpus = tp x cp x pp GPUs).
    """
    model: str
    hardware: str
    hardware_provenance: str = Field(default="datasheet default", description="where the hardware profile's "
                                     "numbers come from (datasheet default, calibration, or a user's file)")
    tensor_parallel: int
    context_parallel: int
    pipeline_parallel: int
    expert_parallel: int
    num_gpus: int = Field(description="GPUs of one replica: tensor_parallel x context_parallel x pipeline_parallel")
    attention_impl: AttentionImpl
    weight_dtype: WeightDtype
    kv_cache_dtype: KVDtype
    prompt_tokens: int
    output_tokens: int
    max_context_tokens: int = Field(description="the model's context; prompt + output past it do not fit")
    weights_bytes: int = Field(description="the whole model's weights, every expert")
    weights_bytes_per_gpu: int = Field(description="one GPU's weights: weights_bytes / (tp x pp)")
    kv_cache_bytes_per_token: int = Field(description=f"KV of one token before any window cap, {_REPLICA}")
    kv_cache_bytes: int = Field(description=f"KV of the prompt, {_REPLICA}")
    kv_cache_bytes_per_gpu: int = Field(description="KV of the prompt on one GPU: kv_cache_bytes / num_gpus")
    sequence_kv_cache_bytes: int = Field(description=f"KV of the whole sequence (prompt + output), {_REPLICA}")
    sequence_kv_cache_bytes_per_gpu: int = Field(description="KV of the whole sequence (prompt + output) on one "
                                                 "GPU: sequence_kv_cache_bytes / num_gpus")
    kv_cache_bytes_peak: int = Field(description="KV blocks the whole sequence (prompt + output) occupies, in "
                                     f"whole blocks, {_REPLICA}")
    memory_bytes_per_gpu: int = Field(description="one GPU's weights + activation reserve + the whole sequence's "
                                      "KV (sequence_kv_cache_bytes_per_gpu); no naive score matrix")
    kv_cache_capacity_bytes: int = Field(description="the KV pool left after weights and reserve, summed over "
                                         "the replica")
    kv_cache_capacity_tokens: int = Field(description="tokens the KV pool holds")
    max_concurrent_sequences: int = Field(description="sequences of this shape the KV pool holds at once; 0 when "
                                          "memory does not hold one (a memory figure: the context aside)")
    exceeds_context: bool = Field(description="prompt + output exceed max_context_tokens")
    fits_in_memory: bool = Field(description="this layout's memory holds one sequence (weights, its KV, and the "
                                 "score matrix of the chosen attention)")
    fits: bool = Field(description="fits_in_memory and not exceeds_context")
    limited_by: FitLimitName | None = Field(description="what stops it: the context, else the first memory limit "
                                            "(weights, kv_cache, score_matrix); null when it fits")
    fit_reason: str = Field(description="'fits', or every limit met, in words")
    min_num_gpus: int | None = Field(description="the fewest GPUs whose memory holds the sequence, whether or not "
                                     "it exceeds the context (num_gpus when this layout's does); null when no "
                                     "layout up to the limits does")
    needs: GpuLayout | None = Field(description="the smallest layout whose memory holds the sequence; null when "
                                    "this one's does")
    prefill_time_s: float = Field(description="the engine's prefill on an idle replica (the chosen attention)")
    serving_overhead_s: float = Field(description="outside the engine: the server, the tokenizer and the first "
                                      "chunk's way back (catalog/serving_overhead.yaml)")
    ttft_s: float = Field(description="TTFT on an idle replica: serving_overhead_s + prefill_time_s")
    ring_communication_s: float = Field(description="KV shards passed around the context-parallel ring")
    attention: AttentionImpls
    decode_time_per_token_s: float = Field(description="one decode step of this sequence alone, at the mean "
                                           "context")
    e2e_latency_s: float
    decode_batch_size: int = Field(description="min(max_concurrent_sequences, max_num_seqs), at least 1")
    decode_step_time_at_batch_s: float
    throughput_output_tokens_per_s: float = Field(description="output tokens per second of the replica at "
                                                  "decode_batch_size")
    price_usd_per_gpu_hour: float
    cost_per_query_usd: float
    cost_per_million_output_tokens_usd: float
    model_notes: list[str] = Field(description="assumptions made reading the model (an imported config.json)")
    hardware_notes: list[str] = Field(default_factory=list, description="what the device means for these numbers "
                                      "(a CPU profile is a test device, not a serving target)")
