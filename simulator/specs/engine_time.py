"""Time outside the GPU, as each engine spends it (catalog/serving_overhead.yaml, with its sources).

    per request:  serving_overhead_s = request_s + tokenize_s_per_token x prompt tokens
                  (arrival at the server to the scheduler, and the first chunk's way back: in TTFT and e2e)
    per step:     host_step_s + host_step_s_per_sequence x sequences, added to the GPU's time, unless the
                  engine overlaps its host work with the GPU (vLLM's async scheduling from its overlap version,
                  TensorRT-LLM's and SGLang's overlap schedulers): then a step takes the longer of the two
    decode steps: a CUDA graph for the next captured batch size up (the padded rows are computed)

Pure functions of an engine spec (with every knob a number: `specs.deployment.concrete_engine`).
"""

from __future__ import annotations

import dataclasses
import functools

import yaml

from simulator.catalog import CATALOG_DIR
from simulator.costs.costmodel import IterationCostParams
from simulator.costs.memory import version_key
from simulator.specs.engine_spec import EngineSpec


@functools.lru_cache(maxsize=1)
def serving_overhead() -> dict:
    return yaml.safe_load((CATALOG_DIR / "serving_overhead.yaml").read_text())


def _terms(engine: EngineSpec) -> dict:
    """The engine's terms, with its backend's step costs where it has backends (TensorRT-LLM)."""
    terms = serving_overhead()[engine.policy]
    backends = terms.get("backends")
    return {**terms, **backends[engine.backend]} if backends else terms


def overlapped(engine: EngineSpec) -> bool:
    """The engine runs its host work beside the GPU's step (a step then takes the longer of the two)."""
    terms = _terms(engine)
    if "overlap_from_version" in terms:
        return version_key(engine.version) >= version_key(terms["overlap_from_version"])
    return bool(terms["overlapped"])


def request_overhead(engine: EngineSpec) -> tuple[float, float]:
    """(seconds per request, seconds per prompt token) outside the engine's steps."""
    terms = _terms(engine)
    return float(terms["request_s"]), float(terms["tokenize_s_per_token"])


def graph_sizes(engine: EngineSpec) -> tuple[int, ...]:
    """The decode batch sizes the engine captures CUDA graphs for, ascending (vLLM caps them at
    min(2 x max_num_seqs, 512): vllm/config/compilation.py)."""
    spec = _terms(engine)["graph_sizes"]
    sizes = set(spec["explicit"])
    for start, stop, step in spec["ranges"]:
        sizes.update(range(start, stop, step))
    if engine.policy == "vllm":
        cap = min(2 * engine.max_num_seqs, 512)
        sizes = {s for s in sizes if s <= cap}
    return tuple(sorted(sizes))


def with_engine_time(cost: IterationCostParams, engine: EngineSpec) -> IterationCostParams:
    """`cost` with the engine's host time per step (added, or as the step's floor where it overlaps) and its
    CUDA-graph sizes."""
    terms = _terms(engine)
    return dataclasses.replace(cost, host_step_s=float(terms["step_s"]),
                               host_step_s_per_sequence=float(terms["step_s_per_sequence"]),
                               host_overlapped=overlapped(engine), graph_sizes=graph_sizes(engine))
