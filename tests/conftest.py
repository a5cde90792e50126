"""Shared test helpers: hand-sized cost parameters and tiny scenarios."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from simulator.engine.cluster import ReplicaSetup
from simulator.costs.costmodel import IterationCostParams
from simulator.costs.model import LayerGroup, WindowKind
from simulator.engine.scheduler import SchedulerConfig


def simple_cost(overhead_s: float = 0.1, per_token_s: float = 0.01) -> IterationCostParams:
    """Cost parameters where a step takes exactly overhead + tokens x per_token (nothing else)."""
    return IterationCostParams(
        layer_groups=(LayerGroup(1, WindowKind.GLOBAL, None),),
        linear_flops_per_token=1.0, lm_head_flops_per_sample=0.0, dense_weight_bytes=0.0, expert_bytes=0.0,
        num_experts=0, experts_per_token=0, attention_flops_per_pair=0.0, kv_bytes_per_token_per_layer=0.0,
        matmul_peak_flops_per_s=1.0 / per_token_s, attention_peak_flops_per_s=1.0,
        achieved_bandwidth_bytes_per_s=1.0, achieved_decode_bandwidth_bytes_per_s=1.0,
        matmul_efficiency_max=1.0, matmul_half_saturation_tokens=0.0,
        attention_efficiency_max=1.0, attention_half_saturation_tokens=0.0, iteration_overhead_s=overhead_s,
        allreduce_bytes_per_token=0.0, allreduces_per_iteration=0, allreduce_latency_s=0.0,
        allreduce_bandwidth_bytes_per_s=math.inf, tp=1)


def simple_setup(num_blocks: int = 100, block_size: int = 4, max_num_batched_tokens: int = 8,
                 max_num_seqs: int = 16, chunked: bool = True, caching: bool = False,
                 **cost_kwargs) -> ReplicaSetup:
    config = SchedulerConfig(max_num_seqs=max_num_seqs, max_num_batched_tokens=max_num_batched_tokens,
                             enable_chunked_prefill=chunked, enable_prefix_caching=caching, block_size=block_size)
    return ReplicaSetup(scheduler=config, num_kv_blocks=num_blocks,
                        blocks_for_tokens=lambda n: -(-n // block_size), cost=simple_cost(**cost_kwargs))


@pytest.fixture
def chat_scenario() -> dict:
    """A small chat scenario as a plain dict (tests change fields, then validate)."""
    return {
        "name": "test-chat",
        "seed": 7,
        "workload": {
            "num_requests": 400,
            "arrival": {"process": "poisson", "rate_per_s": 4.0},
            "prompt_tokens": {"dist": "lognormal", "median": 600, "sigma": 0.6, "max": 8000},
            "output_tokens": {"dist": "lognormal", "median": 120, "sigma": 0.5, "max": 1000},
            "shared_prefixes": [{"id": "sys", "tokens": 256, "probability": 0.5}],
        },
        "slo": {"ttft_s": 1.0, "tpot_s": 0.1},
        "deployments": [{"name": "h100", "model": "llama-3.1-8b", "hardware": "h100-sxm"}],
    }


__all__ = ["simple_cost", "simple_setup", "replace"]


# PostgreSQL: `postgres_url` (a fresh database per test) and `store_url` (["sqlite", "postgresql"]).
from postgres import postgres_server, postgres_url, store_url  # noqa: E402,F401

