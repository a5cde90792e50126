"""The one timing function, following triton's `do_bench` protocol.

1. One call and a synchronize first (absorbs compilation, autotuning and lazy initialisation).
2. Estimate the time of one call from a few calls, then size warmup and repetitions by a time
   budget (not a fixed count), within [min_reps, max_reps].
3. Before every repetition zero a buffer larger than the last-level cache, so each call starts
   cold (weights and KV come from DRAM/HBM, as in serving). On CUDA record events around each call
   and synchronize once at the end; on CPU time each call with `time.perf_counter` (synchronous).
4. Report the median with the 20th and 80th percentiles and the sample count.

`bench_cuda_graph` captures the function in a CUDA graph and times replays, for launch-bound
decode kernels where the launch floor would otherwise dominate.

Needs only torch and numpy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

L2_FLUSH_BYTES = 256 * 1024 * 1024   # larger than the L2 of every current GPU (B200: 126 MB)
CPU_FLUSH_BYTES = 64 * 1024 * 1024   # larger than the last-level cache a CPU thread pool shares (typ. 32 MB)
CPU_MAX_REPS = 30                    # cache flushes dominate CPU timing time; 30 samples give a stable median


@dataclass(frozen=True)
class Timing:
    median_s: float
    p20_s: float
    p80_s: float
    num_samples: int
    statistic: str = "median"


def _summarise(samples: list[float]) -> Timing:
    data = np.asarray(samples, dtype=float)
    p20, median, p80 = np.percentile(data, [20, 50, 80])
    return Timing(float(median), float(p20), float(p80), int(data.size))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(fn: Callable[[], object], device: torch.device | str, budget_s: float = 0.1, warmup_s: float = 0.02,
          min_reps: int = 3, max_reps: int = 1000) -> Timing:
    """Time `fn` on `device` within about `budget_s` seconds of repetitions."""
    device = torch.device(device)
    fn()
    _sync(device)
    start = time.perf_counter()
    probes = 0
    while probes < 3 or time.perf_counter() - start < 1e-3:
        fn()
        probes += 1
        if probes >= 100:
            break
    _sync(device)
    per_call = max((time.perf_counter() - start) / probes, 1e-7)
    for _ in range(int(min(max_reps, warmup_s / per_call))):
        fn()
    reps = int(max(min_reps, min(max_reps, budget_s / per_call)))
    if device.type == "cuda":
        return _bench_cuda(fn, device, reps)
    reps = min(reps, max(min_reps, CPU_MAX_REPS))
    flush = torch.empty(CPU_FLUSH_BYTES // 4, dtype=torch.int32)
    samples = []
    for _ in range(reps):
        flush.zero_()
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return _summarise(samples)


def _bench_cuda(fn: Callable[[], object], device: torch.device, reps: int) -> Timing:
    flush = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device=device)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        flush.zero_()
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize(device)
    return _summarise([s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends)])


def bench_cuda_graph(fn: Callable[[], object], device: torch.device | str, budget_s: float = 0.1,
                     calls_per_graph: int = 10) -> Timing:
    """Time `fn` replayed from a CUDA graph of `calls_per_graph` calls; reports seconds per call."""
    device = torch.device(device)
    if device.type != "cuda":
        raise RuntimeError("CUDA graphs need a CUDA device")
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls_per_graph):
            fn()
    timing = bench(graph.replay, device, budget_s=budget_s)
    scale = 1.0 / calls_per_graph
    return Timing(timing.median_s * scale, timing.p20_s * scale, timing.p80_s * scale, timing.num_samples,
                  "median (CUDA graph replay)")
