"""The serving engine's spec: `engine.policy` and its knobs, under each engine's own names (vLLM's shared
names, TensorRT-LLM's and SGLang's beside them), with the defaults of `catalog/engine_defaults.yaml`."""

from __future__ import annotations

import functools
from typing import Literal

import yaml
from pydantic import Field, model_validator

from simulator.catalog import CATALOG_DIR
from simulator.specs.base import MAX_TOKENS, _Strict


@functools.lru_cache(maxsize=1)
def engine_defaults() -> dict:
    """Defaults and reserve terms from `catalog/engine_defaults.yaml` (each with its source)."""
    return yaml.safe_load((CATALOG_DIR / "engine_defaults.yaml").read_text())


_ENGINE = engine_defaults()["engine"]


TRTLLM_NAMES = {"max_batch_size": "max_num_seqs", "max_num_tokens": "max_num_batched_tokens",
                "tokens_per_block": "block_size", "enable_chunked_context": "enable_chunked_prefill",
                "enable_block_reuse": "enable_prefix_caching"}     # TensorRT-LLM's knob -> the shared field
TRTLLM_ONLY = ("free_gpu_memory_fraction", "capacity_scheduler_policy", "max_attention_window", "backend")
SGLANG_NAMES = {"max_running_requests": "max_num_seqs", "chunked_prefill_size": "max_num_batched_tokens",
                "page_size": "block_size"}                        # SGLang's knob -> the shared field
SGLANG_ONLY = ("mem_fraction_static", "max_prefill_tokens")
SGLANG_AUTO = ("max_num_seqs", "max_num_batched_tokens")    # unset: sized from the GPU and the KV pool at resolve
VLLM_ONLY = ("gpu_memory_utilization",)


class EngineSpec(_Strict):
    """The serving engine: `policy` names whose scheduler and memory rule (vLLM v1 by default); the shared
    knobs keep vLLM's names, and each engine's own knobs are accepted under its names beside them."""
    policy: Literal["vllm", "trtllm", "sglang"] = Field(default="vllm",
                                                        description="vllm (v1), trtllm (TensorRT-LLM) or sglang")
    max_num_seqs: int | None = Field(default=_ENGINE["max_num_seqs"], ge=1, le=65536,
                                     description="null only under sglang: its rule from the KV pool")
    max_num_batched_tokens: int | None = Field(default=_ENGINE["max_num_batched_tokens"], ge=1, le=10_000_000,
                                               description="null only under sglang: its rule from the GPU")
    enable_chunked_prefill: bool = _ENGINE["enable_chunked_prefill"]
    enable_prefix_caching: bool = _ENGINE["enable_prefix_caching"]
    block_size: int = Field(default=_ENGINE["block_size"], ge=1, le=4096)
    gpu_memory_utilization: float | None = Field(default=_ENGINE["gpu_memory_utilization"], gt=0, le=1,
                                                 description="vllm: share of the device's memory the engine may use")
    free_gpu_memory_fraction: float | None = Field(default=None, gt=0, le=1, description="trtllm: share of the "
                                                   "memory free after weights and buffers given to the KV cache")
    capacity_scheduler_policy: Literal["GUARANTEED_NO_EVICT", "MAX_UTILIZATION"] | None = Field(
        default=None, description="trtllm: reserve each request's lifetime at admission, or evict by recompute")
    version: str | None = Field(default=None, pattern=r"^\d{1,3}\.\d{1,3}(\.[0-9a-z]{1,8})?$",
                                description="vllm: the version whose memory profile applies (default in "
                                            "engine_defaults.yaml), e.g. 0.19 or 0.15.1")
    mem_fraction_static: float | None = Field(default=None, gt=0, lt=1, description="sglang: share of the memory "
                                              "free before weights load that weights and the KV pool may take; "
                                              "unset, SGLang's rule for the GPU and TP")
    max_prefill_tokens: int | None = Field(default=None, ge=1, le=10_000_000,
                                           description="sglang: prompt tokens per prefill batch")
    backend: Literal["pytorch", "tensorrt"] | None = Field(
        default=None, description="trtllm: the runtime, PyTorch (the default from TensorRT-LLM 1.0) or a built "
        "TensorRT engine (the C++ executor); they differ in host time per step (serving_overhead.yaml)")
    max_attention_window: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS, description="trtllm: tokens every (non-chunked) layer keeps and attends "
        "to; unset, each keeps its whole context, a model's sliding window included (KvCacheConfig default)")

    @model_validator(mode="before")
    @classmethod
    def _engine_names(cls, data):
        """TensorRT-LLM's names onto the shared fields, its defaults where unset; another engine's knob is an error."""
        if not isinstance(data, dict):
            return data
        policy = data.get("policy", "vllm")
        if policy == "sglang":
            return _sglang_names(data)
        foreign = [k for k in (*SGLANG_NAMES, *SGLANG_ONLY, "disable_radix_cache") if data.get(k) is not None]
        if foreign:
            raise ValueError(f"{foreign[0]} is an SGLang knob: set policy: sglang, or use vLLM's names")
        auto = [k for k in SGLANG_AUTO if k in data and data[k] is None]
        if auto:
            raise ValueError(f"{auto[0]} must be a number (null means SGLang's own rule: policy: sglang)")
        if policy != "trtllm":
            foreign = [k for k in (*TRTLLM_NAMES, *TRTLLM_ONLY) if data.get(k) is not None]
            if foreign:
                raise ValueError(f"{foreign[0]} is a TensorRT-LLM knob: set policy: trtllm, or use vLLM's names")
            if "gpu_memory_utilization" in data and data["gpu_memory_utilization"] is None:
                raise ValueError("gpu_memory_utilization must be a number in (0, 1] for vllm")
            if data.get("version") is None:
                data = {**data, "version": engine_defaults()["vllm_memory"]["default_version"]}
            return data
        if data.get("version") is not None:
            raise ValueError("version selects vLLM's memory profile; it is not modelled for TensorRT-LLM")
        foreign = [k for k in VLLM_ONLY if data.get(k) is not None]
        if foreign:
            raise ValueError(f"{foreign[0]} is vLLM's; TensorRT-LLM sizes its KV cache with free_gpu_memory_fraction")
        data, defaults = _own_names(data, TRTLLM_NAMES, "TensorRT-LLM"), engine_defaults()["trtllm"]
        for theirs, ours in TRTLLM_NAMES.items():
            data.setdefault(ours, defaults[theirs])
        for knob in TRTLLM_ONLY:
            if data.get(knob) is None:
                data[knob] = defaults[knob]
        data["gpu_memory_utilization"] = None
        return data


def _own_names(data: dict, names: dict[str, str], engine: str) -> dict:
    """A copy of `data` with an engine's own knob names moved onto the shared fields (both at once: an error)."""
    data = dict(data)
    for theirs, ours in names.items():
        if theirs in data and ours in data:
            raise ValueError(f"set {theirs} ({engine}'s name) or {ours}, not both")
        if theirs in data:
            data[ours] = data.pop(theirs)
    return data


def _sglang_names(data: dict) -> dict:
    """SGLang's names onto the shared fields; its fixed defaults where unset (GPU-dependent ones at resolve)."""
    foreign = [k for k in (*VLLM_ONLY, *TRTLLM_NAMES, *TRTLLM_ONLY, "version") if data.get(k) is not None]
    if foreign and foreign[0] == "backend":
        raise ValueError("backend is a TensorRT-LLM knob (its runtime): set policy: trtllm")
    if foreign:
        raise ValueError(f"{foreign[0]} is not an SGLang knob (SGLang sizes its KV pool with mem_fraction_static)")
    data, defaults = _own_names(data, SGLANG_NAMES, "SGLang"), engine_defaults()["sglang"]
    for ours in SGLANG_AUTO:
        data.setdefault(ours, None)          # unset: SGLang's rule, applied when the deployment is resolved
    if "disable_radix_cache" in data:
        if "enable_prefix_caching" in data:
            raise ValueError("set disable_radix_cache (SGLang's name) or enable_prefix_caching, not both")
        data["enable_prefix_caching"] = not data.pop("disable_radix_cache")
    data.setdefault("block_size", defaults["page_size"])
    data.setdefault("enable_chunked_prefill", True)
    data.setdefault("enable_prefix_caching", not defaults["disable_radix_cache"])
    if data.get("max_prefill_tokens") is None:
        data["max_prefill_tokens"] = defaults["max_prefill_tokens"]
    data["gpu_memory_utilization"] = None
    return data
