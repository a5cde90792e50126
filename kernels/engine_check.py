"""End-to-end check: a tiny real engine in torch against the simulator's prediction.

The engine serves a handful of requests that arrive over time with a random-weight transformer
(`ctxplan-tiny` in kernels/shapes.json: RMSNorm, GQA attention through SDPA, gated MLP; RoPE is
left out, its cost is negligible) and a real per-request KV cache. Batching decisions come from
the simulator's own `Scheduler` and `KVCacheManager` (same token budget, chunked prefill and
decode-first order), so both sides run the same policy and differ only in where a step's time
comes from: measured here (see below), the cost model there.

    real:       clock += measured forward time of each scheduled batch
    predicted:  simulator.engine.cluster.simulate() with the calibrated profile

Compared: every iteration (the cost model priced on the exact batch that ran), and per request
TTFT and end-to-end latency (the real run against an independent simulated run).

A busy machine only adds time, so the engine times itself as the calibration times kernels
(kernels/timing.py): on a CPU, one thread and its CPU time (a neighbour that takes the core away
stops that clock), and each step run STEP_REPEATS times (the KV writes land on the same slots, so
a repeat changes nothing) with the fastest kept, the one least disturbed. The report says how busy
the machine was next to the errors: the load average before and after, and the thread's CPU time
against the wall time of the timed steps (100%: no neighbour took the core away while it ran).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kernels.timing import cpu_threads
from simulator.costs import costmodel
from simulator.engine.cluster import ReplicaSetup, RouterPolicy, simulate
from simulator.engine.step import global_only_layers, step_time_s
from simulator.costs.hardware import HardwareProfile
from simulator.engine.kv.manager import KVCacheManager
from simulator.costs.model import AttentionKind, ModelSpec
from simulator.engine.request import Request, Status
from simulator.engine.scheduler import Scheduler, SchedulerConfig

SHAPE = json.loads(Path(__file__).with_name("shapes.json").read_text())["models"]["ctxplan-tiny"]
SCHEDULER = SchedulerConfig(max_num_seqs=8, max_num_batched_tokens=256, enable_chunked_prefill=True,
                            enable_prefix_caching=False, block_size=16)
NUM_BLOCKS = 4096
STEP_REPEATS = 3          # runs of each engine step; the fastest is kept (CPU time varies by a few %)


def tiny_model_spec() -> ModelSpec:
    s = SHAPE
    attention = s["hidden"] * (s["q_heads"] + 2 * s["kv_heads"]) * s["head_dim"] + s["q_heads"] * s["head_dim"] * s["hidden"]
    params = s["layers"] * (attention + 3 * s["hidden"] * s["intermediate"]) + 2 * s["vocab"] * s["hidden"]
    return ModelSpec(name="ctxplan-tiny", num_layers=s["layers"], hidden_size=s["hidden"],
                     num_attention_heads=s["q_heads"], num_kv_heads=s["kv_heads"], head_dim=s["head_dim"],
                     intermediate_size=s["intermediate"], vocab_size=s["vocab"], params_total=float(params),
                     params_active=float(params), max_context_tokens=8192, attention=AttentionKind.GQA,
                     source="kernels/shapes.json (random weights)")


def workload(seed: int = 0, num_requests: int = 8) -> list[Request]:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(0.15, size=num_requests)) - 0.0
    prompts = rng.integers(32, 700, size=num_requests)
    outputs = rng.integers(8, 40, size=num_requests)
    return [Request(request_id=i, arrival_time_s=float(a), num_prompt_tokens=int(p), max_output_tokens=int(o))
            for i, (a, p, o) in enumerate(zip(arrivals, prompts, outputs))]


class TinyModel:
    def __init__(self, device: torch.device, dtype: torch.dtype, seed: int = 0) -> None:
        s = SHAPE
        gen = torch.Generator().manual_seed(seed)

        def weight(*shape):
            return (torch.randn(*shape, generator=gen) / shape[0] ** 0.5).to(device=device, dtype=dtype)
        self.s, self.device, self.dtype = s, device, dtype
        qkv = (s["q_heads"] + 2 * s["kv_heads"]) * s["head_dim"]
        self.layers = [(weight(s["hidden"], qkv), weight(s["q_heads"] * s["head_dim"], s["hidden"]),
                        weight(s["hidden"], 2 * s["intermediate"]), weight(s["intermediate"], s["hidden"]))
                       for _ in range(s["layers"])]
        self.embed = weight(s["vocab"], s["hidden"])
        self.lm_head = weight(s["hidden"], s["vocab"])
        self.caches: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def allocate(self, request_id: int, max_tokens: int) -> None:
        s = self.s
        self.caches[request_id] = [
            (torch.zeros(1, s["kv_heads"], max_tokens, s["head_dim"], device=self.device, dtype=self.dtype),
             torch.zeros(1, s["kv_heads"], max_tokens, s["head_dim"], device=self.device, dtype=self.dtype))
            for _ in range(s["layers"])]

    def release(self, request_id: int) -> None:
        self.caches.pop(request_id, None)

    @torch.inference_mode()
    def forward(self, chunks: list[tuple[int, int, int, bool]]) -> None:
        """chunks: (request_id, context_tokens, new_tokens, samples) for every scheduled sequence."""
        s = self.s
        hq, hkv, d = s["q_heads"], s["kv_heads"], s["head_dim"]
        total = sum(n for _, _, n, _ in chunks)
        tokens = torch.randint(0, s["vocab"], (total,), device=self.device)
        x = self.embed[tokens]
        for layer, (w_qkv, w_o, w_gu, w_down) in enumerate(self.layers):
            qkv = F.rms_norm(x, (s["hidden"],)) @ w_qkv
            outputs, offset = [], 0
            for request_id, context, new, _ in chunks:
                part = qkv[offset:offset + new]
                offset += new
                q = part[:, :hq * d].view(new, hq, d).transpose(0, 1).unsqueeze(0)
                k = part[:, hq * d:(hq + hkv) * d].view(new, hkv, d).transpose(0, 1).unsqueeze(0)
                v = part[:, (hq + hkv) * d:].view(new, hkv, d).transpose(0, 1).unsqueeze(0)
                cache_k, cache_v = self.caches[request_id][layer]
                cache_k[:, :, context:context + new] = k
                cache_v[:, :, context:context + new] = v
                keys, values = cache_k[:, :, :context + new], cache_v[:, :, :context + new]
                if new == 1:
                    out = F.scaled_dot_product_attention(q, keys, values, enable_gqa=True)
                elif context == 0:
                    out = F.scaled_dot_product_attention(q, keys, values, is_causal=True, enable_gqa=True)
                else:
                    from torch.nn.attention.bias import causal_lower_right
                    out = F.scaled_dot_product_attention(q, keys, values, attn_mask=causal_lower_right(new, context + new),
                                                         enable_gqa=True)
                outputs.append(out.squeeze(0).transpose(0, 1).reshape(new, hq * d))
            x = x + torch.cat(outputs) @ w_o
            gate, up = (F.rms_norm(x, (s["hidden"],)) @ w_gu).chunk(2, dim=-1)
            x = x + (F.silu(gate) * up) @ w_down
        ends = np.cumsum([n for _, _, n, _ in chunks]) - 1
        last = [int(e) for e, (_, _, _, samples) in zip(ends, chunks) if samples]
        if last:
            (F.rms_norm(x[last], (s["hidden"],)) @ self.lm_head).argmax(dim=-1)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


@dataclass(slots=True)
class StepTimer:
    """Runs a step `repeats` times and keeps the fastest by `clock`; sums thread CPU and wall time of all
    runs and of the kept ones. On a CPU the clock is the thread's CPU time, which counts all the work
    only on one torch thread (inside kernels.timing.cpu_threads); on a GPU the wall time (the step
    synchronizes)."""
    device_type: str
    repeats: int = STEP_REPEATS
    wall_s: float = 0.0
    cpu_s: float = 0.0
    kept_wall_s: float = 0.0
    kept_cpu_s: float = 0.0

    def fastest_s(self, fn) -> float:
        if self.device_type == "cpu" and torch.get_num_threads() != 1:
            raise RuntimeError("a step's thread CPU time misses the other torch threads; time inside cpu_threads()")
        best, best_wall, best_cpu = math.inf, 0.0, 0.0
        for _ in range(self.repeats):
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            fn()
            wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
            self.wall_s += wall
            self.cpu_s += cpu
            value = cpu if self.device_type == "cpu" else wall
            if value < best:
                best, best_wall, best_cpu = value, wall, cpu
        self.kept_wall_s += best_wall
        self.kept_cpu_s += best_cpu
        return best

    @property
    def statistic(self) -> str:
        clock = "thread CPU time" if self.device_type == "cpu" else "wall time"
        return f"fastest of {self.repeats} runs of each step ({clock})"


@dataclass
class RealRun:
    requests: list[Request]
    iteration_measured_s: list[float]
    iteration_predicted_s: list[float]


def run_real(model: TinyModel, requests: list[Request], profile_cost, timer: StepTimer | None = None) -> RealRun:
    """Serve `requests` on the tiny model with a virtual clock advanced by measured step times."""
    timer = timer or StepTimer(model.device.type)
    scheduler = Scheduler(SCHEDULER, KVCacheManager(NUM_BLOCKS, SCHEDULER.block_size, False))
    pending = sorted(requests, key=lambda r: r.arrival_time_s)
    clock, measured, predicted = 0.0, [], []
    while pending or scheduler.has_work():
        while pending and pending[0].arrival_time_s <= clock:
            request = pending.pop(0)
            model.allocate(request.request_id, request.total_tokens)
            scheduler.add_request(request)
        if not scheduler.has_work():
            clock = pending[0].arrival_time_s
            continue
        batch = scheduler.schedule()
        chunks = [(r.request_id, r.num_computed_tokens, n, r.num_computed_tokens + n >= r.num_tokens)
                  for r, n in zip(batch.requests, batch.num_new)]
        predicted.append(step_time_s(profile_cost, batch, global_only_layers(profile_cost)))
        step = timer.fastest_s(lambda: model.forward(chunks))
        measured.append(step)
        for request in batch.requests:
            if request.first_scheduled_s < 0:
                request.first_scheduled_s = clock
        clock += step
        for request in scheduler.update(batch, clock):
            model.release(request.request_id)
    return RealRun(requests, measured, predicted)


def _fresh(requests: list[Request]) -> list[Request]:
    return [Request(request_id=r.request_id, arrival_time_s=r.arrival_time_s, num_prompt_tokens=r.num_prompt_tokens,
                    max_output_tokens=r.max_output_tokens) for r in requests]


def _stats(errors: list[float]) -> dict:
    data = np.asarray(errors, dtype=float)
    return {"n": int(data.size), "median_abs_pct_error": float(np.median(data)),
            "p90_abs_pct_error": float(np.percentile(data, 90))}


def dtype_for(device: torch.device) -> tuple[str, torch.dtype]:
    return ("fp32", torch.float32) if device.type == "cpu" else ("bf16", torch.bfloat16)


def machine_load(timer: StepTimer, load_before: float) -> dict:
    """How busy the machine was while the steps were timed (read next to the errors)."""
    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average_1m_before": load_before, "load_average_1m_after": os.getloadavg()[0],
            "step_repeats": timer.repeats, "statistic": timer.statistic,
            # share of the timed steps' wall time the thread was on a core (meaningful on a CPU, one thread)
            "cpu_per_wall_all_runs": timer.cpu_s / timer.wall_s if timer.wall_s else None,
            "cpu_per_wall_kept_runs": timer.kept_cpu_s / timer.kept_wall_s if timer.kept_wall_s else None,
            "cpu_time_meaningful": timer.device_type == "cpu"}


def engine_check(profile: HardwareProfile, device: torch.device, seed: int = 0,
                 repeats: int = STEP_REPEATS) -> dict:
    with cpu_threads(device):
        return _engine_check(profile, device, seed, repeats)


def _engine_check(profile: HardwareProfile, device: torch.device, seed: int, repeats: int) -> dict:
    load_before = os.getloadavg()[0]
    dtype_name, dtype = dtype_for(device)
    spec = tiny_model_spec()
    cost = costmodel.iteration_cost_params(spec, profile, 1, dtype_name, dtype_name)
    model = TinyModel(device, dtype, seed)
    model.allocate(-1, 128)
    for _ in range(3):      # warm-up of every attention path: allocator, kernels, lazy imports, thread pool
        model.forward([(-1, 0, 32, False)])
        model.forward([(-1, 32, 32, False)])
        model.forward([(-1, 64, 1, True)])
    model.release(-1)
    timer = StepTimer(device.type, repeats)
    real = run_real(model, workload(seed), cost, timer)
    simulated = _fresh(real.requests)
    simulate(simulated, ReplicaSetup(SCHEDULER, NUM_BLOCKS, lambda n: -(-n // SCHEDULER.block_size), cost), 1,
             RouterPolicy.ROUND_ROBIN)
    iteration = [abs(p - m) / m * 100 for p, m in zip(real.iteration_predicted_s, real.iteration_measured_s)]
    ttft, e2e = [], []
    for measured, predicted in zip(real.requests, simulated):
        assert measured.status is Status.FINISHED and predicted.status is Status.FINISHED
        m_ttft, p_ttft = measured.first_token_s - measured.arrival_time_s, predicted.first_token_s - predicted.arrival_time_s
        m_e2e, p_e2e = measured.finish_s - measured.arrival_time_s, predicted.finish_s - predicted.arrival_time_s
        ttft.append(abs(p_ttft - m_ttft) / m_ttft * 100)
        e2e.append(abs(p_e2e - m_e2e) / m_e2e * 100)
    return {
        "hardware": profile.name,
        "device": str(device),
        "model": spec.name,
        "num_requests": len(real.requests),
        "num_iterations": len(real.iteration_measured_s),
        "measured_total_s": float(sum(real.iteration_measured_s)),
        "predicted_total_s": float(sum(real.iteration_predicted_s)),
        "overall": _stats(iteration + ttft + e2e),
        "by_metric": {"iteration": _stats(iteration), "ttft": _stats(ttft), "e2e": _stats(e2e)},
        "machine": machine_load(timer, load_before),
    }


def measure_iteration_overhead_s(profile: HardwareProfile, device: torch.device, reps: int = 20) -> float:
    """Fixed cost of one engine step: a 1-token decode on the tiny model minus its predicted kernel time.

    The fastest of `reps` steps, the statistic of the engine check's steps and of CPU kernel timings."""
    with cpu_threads(device):
        dtype_name, dtype = dtype_for(device)
        model = TinyModel(device, dtype)
        model.allocate(0, 64)
        model.forward([(0, 0, 16, True)])
        step_s = StepTimer(device.type, reps).fastest_s(lambda: model.forward([(0, 16, 1, True)]))
    no_overhead = dataclasses.replace(profile, curves=dataclasses.replace(profile.curves, iteration_overhead_s=0.0))
    cost = costmodel.iteration_cost_params(tiny_model_spec(), no_overhead, 1, dtype_name, dtype_name)
    predicted = costmodel.iteration_time_s(cost, [], 1, costmodel.decode_attended_tokens(cost, 16), 1)
    return max(0.0, step_s - predicted)
