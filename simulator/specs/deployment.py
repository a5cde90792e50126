"""Resolve a deployment spec into a model, a hardware profile and a sized KV-cache pool.

The memory per GPU is `simulator.costs.memory` (each engine's rule). A deployment whose weights
leave no room for a single block does not fit; `fit_check` says why and `min_tensor_parallel`
finds the smallest TP degree that fits the given sequence length.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from simulator.costs import costmodel, memory
from simulator.costs.memory import MemoryPlan, blocks_for_tokens_fn, fit_check, full_blocks_for_tokens_fn
from simulator.catalog import resolve_hardware, resolve_model
from simulator.engine.cluster import PrefillPool, ReplicaSetup
from simulator.errors import InputError
from simulator.costs.hardware import HardwareProfile
from simulator.costs.model import ModelSpec, WindowKind
from simulator.specs.scenario import DeploymentSpec
from simulator.specs.engine_spec import EngineSpec, engine_defaults
from simulator.specs.engine_time import request_overhead, with_engine_time
from simulator.specs.parallel import check_degrees, valid_tp  # noqa: F401  (valid_tp: re-exported)
from simulator.engine.policy import policy_for
from simulator.engine.scheduler import SchedulerConfig

MAX_TENSOR_PARALLEL = 64


def memory_plan(model: ModelSpec, hardware: HardwareProfile, tp: int, weight_dtype: str, kv_dtype: str,
                engine: EngineSpec, cp: int = 1, pp: int = 1) -> MemoryPlan:
    """The memory plan of tp x cp x pp GPUs under this engine's limits (reserve from engine_defaults.yaml)."""
    if engine.policy == "sglang":
        engine = sglang_engine(engine, hardware, tp, pp)
        return memory.memory_plan(model, hardware, tp, weight_dtype, kv_dtype, block_size=engine.block_size,
                                  reserve_bytes_per_gpu=0.0, mem_fraction_static=engine.mem_fraction_static,
                                  startup_bytes_per_gpu=engine_defaults()["sglang"]["startup_bytes"], cp=cp, pp=pp)
    defaults = engine_defaults()
    if engine.policy == "vllm":
        reserve = memory.vllm_reserve_bytes(model, tp, engine.max_num_batched_tokens, engine.max_num_seqs,
                                               hardware.sm_count, engine.version, defaults["vllm_memory"],
                                               defaults["memory_reserve"])
    else:
        reserve = costmodel.activation_reserve_bytes(model, tp, engine.max_num_batched_tokens, engine.max_num_seqs,
                                                     defaults["memory_reserve"])
    return memory.memory_plan(model, hardware, tp, weight_dtype, kv_dtype, block_size=engine.block_size,
                              reserve_bytes_per_gpu=reserve, gpu_memory_utilization=engine.gpu_memory_utilization,
                              free_gpu_memory_fraction=engine.free_gpu_memory_fraction, cp=cp, pp=pp)


def concrete_engine(engine: EngineSpec, model: ModelSpec, hardware: HardwareProfile, tp: int, pp: int,
                    plan: MemoryPlan) -> EngineSpec:
    """The engine with every knob a number: SGLang's unset ones by its rules (others are already)."""
    if engine.policy != "sglang":
        return engine
    return sglang_engine(engine, hardware, tp, pp, plan.num_kv_blocks * plan.block_size, model.max_context_tokens)


def sglang_engine(engine: EngineSpec, hardware: HardwareProfile, tp: int, pp: int,
                  pool_tokens: int | None = None, context_tokens: int | None = None) -> EngineSpec:
    """SGLang's knobs that depend on the GPU (chunked_prefill_size, mem_fraction_static) and, given the KV
    pool, on it (max_running_requests), filled where the scenario left them unset (engine_defaults.yaml)."""
    rules = engine_defaults()["sglang"]
    gpu_mib = hardware.memory_bytes / 2 ** 20
    _, chunk, graphs_small, graphs_large = next(row for row in rules["by_gpu_memory_mib"] if gpu_mib < row[0])
    update: dict = {}
    if engine.max_num_batched_tokens is None:
        update["max_num_batched_tokens"] = chunk
    chunk = update.get("max_num_batched_tokens", engine.max_num_batched_tokens)
    if engine.mem_fraction_static is None:
        reserved = (rules["reserve_base_mib"] + rules["reserve_per_chunk_token_mib"]
                    * max(chunk, rules["reserve_min_chunk_tokens"])
                    + rules["reserve_per_graph_batch_mib"] * (graphs_small if tp < 4 else graphs_large)
                    + rules["reserve_per_gpu_of_group_mib"] * tp * pp)
        if gpu_mib > 60 * 1024:
            reserved = max(reserved, rules["reserve_floor_mib_above_60gib"])
        update["mem_fraction_static"] = round((gpu_mib - reserved) / gpu_mib, 3)
    if pool_tokens is not None and engine.max_num_seqs is None:
        pool = rules["request_pool"]
        requests = min(max(int(pool_tokens / context_tokens * pool["per_context"]), pool["min"]), pool["max"])
        update["max_num_seqs"] = max(1, min(pool_tokens // rules["max_running_requests_per_pool_half"], requests))
    return engine.model_copy(update=update) if update else engine


def min_tensor_parallel(model: ModelSpec, hardware: HardwareProfile, weight_dtype: str, kv_dtype: str,
                        engine: EngineSpec, num_tokens: int) -> int | None:
    """Smallest power-of-two TP degree (dividing the head count) at which one sequence fits."""
    tp = 1
    while tp <= MAX_TENSOR_PARALLEL:
        if valid_tp(model, tp):
            plan = memory_plan(model, hardware, tp, weight_dtype, kv_dtype, engine)
            needed = blocks_for_tokens_fn(model, kv_dtype, tp, engine.block_size)(num_tokens)
            if fit_check(plan, needed) is None:
                return tp
        tp *= 2
    return None


@dataclass(frozen=True, slots=True)
class ResolvedDeployment:
    spec: DeploymentSpec
    model: ModelSpec
    hardware: HardwareProfile
    plan: MemoryPlan
    setup: ReplicaSetup
    num_gpus: int
    price_usd_per_gpu_hour: float
    notes: tuple[str, ...]
    prefill: PrefillPool | None = None


def resolve_deployment(spec: DeploymentSpec, field: str, base_dir: Path | None = None,
                       hardware_override: str | None = None) -> ResolvedDeployment:
    model, window_note = engine_view(resolve_model(spec.model, field=f"{field}.model", base_dir=base_dir),
                                     spec.engine)
    hardware = resolve_hardware(hardware_override or spec.hardware, field=f"{field}.hardware", base_dir=base_dir)
    tp, engine = spec.tensor_parallel, spec.engine
    cp, pp = spec.context_parallel, spec.pipeline_parallel
    check_degrees(model, tp, pp, spec.expert_parallel, lambda degree: f"{field}.{degree.value}")
    plan = memory_plan(model, hardware, tp, spec.weight_dtype, spec.kv_cache_dtype, engine, cp, pp)
    engine = concrete_engine(engine, model, hardware, tp, pp, plan)
    reason = fit_check(plan, 1)
    if reason is not None:
        needed = min_tensor_parallel(model, hardware, spec.weight_dtype, spec.kv_cache_dtype, engine,
                                     engine.block_size)
        allowed = f">= {needed}" if needed else "none fits this hardware; use a larger GPU or smaller dtypes"
        raise InputError(f"{model.name} does not fit on {hardware.name}: {reason}",
                         field=f"{field}.tensor_parallel", value=tp, allowed=allowed)
    notes = list(device_notes(hardware)) + ([window_note] if window_note else [])
    caching = engine.enable_prefix_caching
    if caching and model.has_local_layers and not any(g.window_tokens is None for g in model.layer_groups()):
        caching = False
        notes.append("prefix caching disabled: every layer is windowed, so cached blocks do not map back to "
                     "prompt tokens in this model")
    scheduler = SchedulerConfig(max_num_seqs=engine.max_num_seqs,
                                max_num_batched_tokens=engine.max_num_batched_tokens * cp,   # budget per rank
                                enable_chunked_prefill=engine.enable_chunked_prefill,
                                enable_prefix_caching=caching, block_size=engine.block_size,
                                swap=spec.preemption_mode == "swap", host_kv_blocks=_host_kv_blocks(hardware, plan),
                                host_offload=spec.kv_offload and caching,
                                **_naive_scores(model, spec, plan))
    overhead_s, tokenize_s = request_overhead(engine)
    setup = ReplicaSetup(scheduler=scheduler, num_kv_blocks=plan.num_kv_blocks,
                         policy=policy_for(engine.policy, engine.capacity_scheduler_policy, engine.max_prefill_tokens,
                                           engine_defaults()["sglang"]["new_token_ratio"]),
                         blocks_for_tokens=blocks_for_tokens_fn(model, spec.kv_cache_dtype, tp, engine.block_size),
                         full_blocks_for_tokens=full_blocks_for_tokens_fn(model, spec.kv_cache_dtype, tp,
                                                                          engine.block_size),
                         cost=with_engine_time(costmodel.iteration_cost_params(
                             model, hardware, tp, spec.weight_dtype, spec.kv_cache_dtype, cp, pp,
                             spec.expert_parallel, spec.attention_impl), engine),
                         request_overhead_s=overhead_s, tokenize_s_per_token=tokenize_s)
    price = (spec.price_per_gpu_hour_usd if spec.price_per_gpu_hour_usd is not None
             else hardware.price_usd_per_gpu_hour(spec.pricing))
    if spec.kv_offload or spec.preemption_mode == "swap":
        notes.extend(_host_tier_notes(setup.cost, spec, engine, caching))
    num_gpus = spec.replicas * tp * cp * pp
    prefill = None
    if spec.prefill_pool is not None:
        pool = spec.prefill_pool
        side = resolve_deployment(spec.model_copy(update={
            "name": f"{spec.name}-prefill", "hardware": pool.hardware or spec.hardware, "replicas": pool.replicas,
            "tensor_parallel": pool.tensor_parallel, "expert_parallel": 1, "prefill_pool": None}),
            f"{field}.prefill_pool", base_dir)
        link = (pool.transfer_gb_s * 1e9 if pool.transfer_gb_s is not None
                else min(hardware.internode_bytes_per_s, side.hardware.internode_bytes_per_s))
        prefill = PrefillPool(setup=side.setup, num_replicas=pool.replicas,
                              kv_bytes_per_token=costmodel.kv_bytes_per_token(model, spec.kv_cache_dtype),
                              transfer_bytes_per_s=link * min(pool.tensor_parallel, tp))
        price = (price * num_gpus + side.price_usd_per_gpu_hour * side.num_gpus) / (num_gpus + side.num_gpus)
        num_gpus += side.num_gpus
        notes.extend(n for n in device_notes(side.hardware) if n not in notes)
        notes.append(f"disaggregated: {pool.replicas} prefill replica(s) of {side.hardware.name} x{pool.tensor_parallel}, "
                     f"KV sent at {link * min(pool.tensor_parallel, tp) / 1e9:,.0f} GB/s")
    return ResolvedDeployment(spec=spec, model=model, hardware=hardware, plan=plan, setup=setup,
                              num_gpus=num_gpus, price_usd_per_gpu_hour=price, notes=tuple(notes), prefill=prefill)


def engine_view(model: ModelSpec, engine: EngineSpec) -> tuple[ModelSpec, str | None]:
    """The model's attention windows as the engine applies them, and a note when they differ from the model's.

    TensorRT-LLM applies `max_attention_window` (KvCacheConfig) to every layer; unset, every layer keeps its
    whole context, so a sliding-window model (Mistral-7B-v0.1's 4096) is served with full attention and a full
    KV cache (sources in catalog/engine_defaults.yaml). Chunked local layers (Llama-4) are left as they are.
    vLLM uses the model's own windows."""
    if engine.policy != "trtllm" or model.local_kind is WindowKind.CHUNKED and model.has_local_layers:
        return model, None
    window = engine.max_attention_window
    if window is None:
        if not model.has_local_layers:
            return model, None
        return (replace(model, local_window_tokens=None, global_every=0),
                f"trtllm: {model.name}'s {model.local_window_tokens}-token sliding window is not used "
                "(max_attention_window unset: every layer keeps its whole context, TensorRT-LLM's default)")
    return (replace(model, local_window_tokens=window, local_kind=WindowKind.SLIDING, global_every=0),
            f"trtllm: every layer attends to the last {window} tokens (max_attention_window)")


def device_notes(hardware: HardwareProfile) -> tuple[str, ...]:
    """What the device itself means for the results: a CPU-calibrated profile is a test device, not a target."""
    if hardware.device_kind != "cpu":
        return ()
    return (f"hardware {hardware.name} is a CPU (ctxplan calibrate --device cpu): a test device for checking "
            "ctxplan, not a serving target; its times are a CPU's, far slower than any accelerator's, and its price "
            f"is ${hardware.on_demand_usd_per_gpu_hour:g}/h unless you set one",)


def _host_kv_blocks(hardware: HardwareProfile, plan: MemoryPlan) -> int:
    """Blocks of a replica that fit the host-memory tier (every GPU offloads its share)."""
    return int(hardware.host_memory_bytes // plan.block_bytes_per_gpu) if plan.block_bytes_per_gpu else 0


def _host_tier_notes(cost, spec: DeploymentSpec, engine: EngineSpec, caching: bool) -> list[str]:
    """Say when the host link makes a reload slower than computing the same tokens again."""
    notes = []
    if spec.kv_offload and not caching:
        notes.append("kv_offload has no effect: prefix caching is off for this deployment")
    chunk = engine.max_num_batched_tokens
    prefill_s_per_token = costmodel.iteration_time_s(cost, [(chunk, chunk)], 0, 0, 0) / chunk
    reload_s_per_token = costmodel.transfer_time_s(cost, 1, cost.host_link_bytes_per_s)
    if reload_s_per_token > prefill_s_per_token:
        notes.append(f"host link ({cost.host_link_bytes_per_s / 1e9:,.1f} GB/s) moves KV slower than prefill computes "
                     f"it ({reload_s_per_token * 1e6:,.1f} vs {prefill_s_per_token * 1e6:,.1f} us per token): "
                     "swapping or reloading from host memory will cost more than recomputing")
    return notes


def _naive_scores(model: ModelSpec, spec: DeploymentSpec, plan: MemoryPlan) -> dict:
    """Naive attention: requests whose score matrix cannot fit the memory left beside the weights are refused."""
    if spec.attention_impl != "naive":
        return {}
    per_pair = model.num_attention_heads / spec.tensor_parallel / spec.context_parallel * costmodel.NAIVE_SCORE_BYTES
    return {"score_bytes_per_query_key": per_pair, "score_bytes_limit": max(0.0, plan.kv_capacity_bytes_per_gpu)}
