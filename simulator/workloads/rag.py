"""RAG pipeline stages before the LLM: query embedding, vector search, optional reranking.

Each stage is a pool of identical servers working FCFS; a query's service time is a pure function
of its shape. Because stages come before the LLM and do not depend on it, their completion times
are computed exactly in arrival order (a multi-server FCFS queue), and the LLM call reaches the
router when the last stage ends:

    query --> [embed: replicas] --> [search: nodes x concurrency] --> [rerank: replicas] --> LLM

Service times (defaults in `catalog/retrieval.yaml`):
    embed   overhead + 2 x params x question_tokens / (bf16 peak x efficiency)
    search  HNSW / IVF / DiskANN: base latency scaled by corpus size (log or sqrt) and by
            ((1 - 0.95) / (1 - recall)) ** exponent; flat: vectors x dim x 4 B / scan bandwidth
    rerank  overhead + 2 x params x candidates x candidate_tokens / (bf16 peak x efficiency)
"""

from __future__ import annotations

import functools
import heapq
import math

import numpy as np
import yaml

from simulator.catalog import CATALOG_DIR
from simulator.costs.hardware import HardwareProfile


@functools.lru_cache(maxsize=1)
def retrieval_defaults() -> dict:
    return yaml.safe_load((CATALOG_DIR / "retrieval.yaml").read_text())


def encoder_time_s(params: float, tokens: float, hardware: HardwareProfile, stage: str) -> float:
    """Forward pass of an encoder (embedding or cross-encoder) over `tokens` tokens."""
    defaults = retrieval_defaults()[stage]
    return defaults["overhead_s"] + 2.0 * params * tokens / (hardware.bf16_flops_per_s * defaults["efficiency"])


def search_time_s(index: str, num_vectors: int, dim: int, recall_target: float) -> float:
    """One query's vector-search latency on one node."""
    defaults = retrieval_defaults()["vector_search"]
    if index == "flat":
        return num_vectors * dim * defaults["bytes_per_dimension"] / defaults["flat"]["scan_bytes_per_s"]
    spec = defaults[index]
    ratio = max(num_vectors, 2) / spec["base_vectors"]
    if spec["growth"] == "log":
        scale = math.log(max(num_vectors, 2)) / math.log(spec["base_vectors"])
    else:
        scale = math.sqrt(ratio)
    recall_factor = ((1 - 0.95) / max(1e-6, 1 - recall_target)) ** defaults["recall_exponent"]
    return spec["base_latency_s"] * scale * recall_factor


def fcfs_completion_times(ready_s: np.ndarray, service_s: np.ndarray, servers: int) -> np.ndarray:
    """Completion times of jobs served FCFS (in the order given) by `servers` identical servers."""
    free = [0.0] * servers
    heapq.heapify(free)
    done = np.empty(len(ready_s))
    for i, (ready, service) in enumerate(zip(ready_s.tolist(), service_s.tolist())):
        start = max(ready, heapq.heappop(free))
        done[i] = start + service
        heapq.heappush(free, done[i])
    return done


def pipeline_ready_times(arrival_s: np.ndarray, stages: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Time each query leaves the last stage; stages are (service seconds per query, servers)."""
    order = np.argsort(arrival_s, kind="stable")
    ready = arrival_s[order].astype(float)
    for service_s, servers in stages:
        ready = fcfs_completion_times(ready, service_s[order], servers)
        resort = np.argsort(ready, kind="stable")      # later stages serve in order of readiness
        ready, order = ready[resort], order[resort]
    result = np.empty_like(ready)
    result[order] = ready
    return result
