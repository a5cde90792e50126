"""The one timing function, following triton's `do_bench` protocol.

1. One call and a synchronize first (absorbs compilation, autotuning and lazy initialisation).
2. Estimate the time of one call from a few calls, then size warmup and repetitions by a time
   budget (not a fixed count), within [min_reps, max_reps].
3. Before every repetition zero a buffer larger than the last-level cache, so each call starts
   cold (weights and KV come from DRAM/HBM, as in serving). On CUDA record events around each call
   and synchronize once at the end; on CPU time each call (synchronous) with `time.perf_counter`,
   or with the thread's CPU time (`cpu_clock="thread"`, below).
4. Report the median with the 20th and 80th percentiles and the sample count. On CUDA the median
   is the statistic; on a CPU the minimum (below). `Timing.statistic` names it.

CPUs: a CPU profile is a test device (it checks the tool end to end; it is not a serving target),
usually timed on a machine shared with other work, and a busy machine only adds time. So:
- one intra-op thread (`cpu_threads`). With several, a parallel region waits for its slowest
  thread, and a worker that slept through the cache flush waits a scheduler slice to wake up: on
  2 cores with two busy neighbours a 0.5 ms matmul timed at 15-20 ms in every repetition;
- the time that thread spent on a core (`time.thread_time`, `cpu_clock="thread"`), not the wall
  time: a neighbour that takes the core away stops that clock. At a load average of 9 on 2 cores a
  step of the engine check took 570-850 ms of wall time and 385-430 ms of CPU time. What the
  clock still sees is sharing of caches, memory bandwidth and SMT siblings;
- the minimum over repetitions, the least disturbed (on an idle machine within a few percent of
  the median).
Calibration and the engine check both time this way, so they are compared like with like.

`bench_cuda_graph` captures the function in a CUDA graph and times replays, for launch-bound
decode kernels where the launch floor would otherwise dominate.

Needs only torch and numpy.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

L2_FLUSH_BYTES = 256 * 1024 * 1024   # larger than the L2 of every current GPU (B200: 126 MB)
CPU_FLUSH_BYTES = 64 * 1024 * 1024   # larger than the last-level cache a CPU thread pool shares (typ. 32 MB)
CPU_MAX_REPS = 30                    # cache flushes dominate CPU timing time; 30 samples give a stable median
CPU_NUM_THREADS = 1                  # intra-op threads of every CPU timing (module docstring)


@dataclass(frozen=True)
class Timing:
    median_s: float
    p20_s: float
    p80_s: float
    num_samples: int
    statistic: str = "median"        # which of the numbers `measured_s` is: "median..." or "min..."
    min_s: float = 0.0

    @property
    def measured_s(self) -> float:
        return self.min_s if self.statistic.startswith("min") else self.median_s


def _summarise(samples: list[float], statistic: str = "median") -> Timing:
    data = np.asarray(samples, dtype=float)
    p20, median, p80 = np.percentile(data, [20, 50, 80])
    return Timing(float(median), float(p20), float(p80), int(data.size), statistic, float(data.min()))


@contextlib.contextmanager
def cpu_threads(device: torch.device | str) -> Iterator[None]:
    """Within the block, CPU work runs on CPU_NUM_THREADS intra-op threads (unchanged on a GPU)."""
    if torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(CPU_NUM_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(fn: Callable[[], object], device: torch.device | str, budget_s: float = 0.1, warmup_s: float = 0.02,
          min_reps: int = 3, max_reps: int = 1000, cpu_clock: str = "wall") -> Timing:
    """Time `fn` on `device` within about `budget_s` seconds of repetitions.

    cpu_clock (CPU only): "wall", or "thread" for the calling thread's CPU time, which counts all the
    work only when torch runs on one intra-op thread (inside `cpu_threads`)."""
    device = torch.device(device)
    if cpu_clock not in ("wall", "thread"):
        raise ValueError(f"cpu_clock must be 'wall' or 'thread', got {cpu_clock!r}")
    if device.type == "cpu" and cpu_clock == "thread" and torch.get_num_threads() != 1:
        raise RuntimeError(f"thread CPU time misses the work of the other {torch.get_num_threads() - 1} torch "
                           "threads; time inside kernels.timing.cpu_threads()")
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
    clock = time.thread_time if cpu_clock == "thread" else time.perf_counter
    flush = torch.empty(CPU_FLUSH_BYTES // 4, dtype=torch.int32)
    samples = []
    for _ in range(reps):
        flush.zero_()
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return _summarise(samples, "min thread CPU time" if cpu_clock == "thread" else "min wall time")


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
                  "median (CUDA graph replay)", timing.min_s * scale)
