"""Microbenchmarks: time attention, matmul and copy kernels with torch and write a measurement CSV.

Run on the machine to calibrate (needs only torch and numpy, not the rest of ctxplan):

    python -m kernels.microbench --device auto --out DIR [--quick] [--max-seconds 280]

writes DIR/measurements.csv in the schema of `simulator/specs/measurements.py`. Shapes come from
`kernels/shapes.json` (the projection shapes of catalog models, kept in sync by a test).
`measured_s` is the statistic its `statistic` column names: the median on GPUs; on CPUs the
minimum CPU time of the one thread they run on (kernels/timing.py says why).

Grids (full / --quick; bf16 on GPUs, fp32 on CPUs):
- matmul: each model's QKV, output, gate+up and down projections (and MoE expert MLPs), split by
  tensor-parallel degree, over token counts m;
- attention_prefill: SDPA, causal (bottom-right aligned when a chunk follows cached context),
  over chunk length, cached context and the models' head layouts (GQA through `enable_gqa`);
- attention_decode: one query per sequence over batch size and KV length, plus mixed-length
  batches timed as one SDPA call per sequence (priced per sequence, as the engine prices them);
- memcpy: device copies over buffer size; allreduce only under torchrun with several GPUs.

Past `--max-seconds` each family stops after its current shape, but every family keeps its first
MIN_ROWS_PER_FAMILY (smallest) shapes, so a tight budget on a busy machine shortens the grid and
never drops a family the fit needs.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kernels.timing import Timing, cpu_threads
from kernels.timing import bench as bench_any_clock

SHAPES_FILE = Path(__file__).with_name("shapes.json")
FIELDS = ("op", "m", "n", "k", "batch_size", "num_q_heads", "num_kv_heads", "head_dim", "q_len", "kv_len",
          "causal", "bytes", "num_gpus", "dtype", "measured_s", "p20_s", "p80_s", "device", "torch_version",
          "backend", "kv_lens", "statistic")
MIN_ROWS_PER_FAMILY = 2    # one row to fit and one to hold out (kernels.fit.split_rows), whatever the budget
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def bench(fn, device: torch.device, budget_s: float) -> Timing:
    """Every kernel of the grid: on a CPU the thread's CPU time, on one thread (kernels/timing.py)."""
    return bench_any_clock(fn, device, budget_s=budget_s, cpu_clock="thread")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"cpu: {line.split(':', 1)[1].strip()} x{torch.get_num_threads()} threads"
    except OSError:
        pass
    return f"cpu: {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def matmul_shapes(quick: bool, device: torch.device) -> list[tuple[int, int, int]]:
    models = json.loads(SHAPES_FILE.read_text())["models"]
    if device.type == "cpu":
        names, tps = ["ctxplan-tiny", "llama-3.1-8b"], [4, 8]
        tokens = [1, 2, 4, 8, 16, 32, 64, 128, 256] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    else:
        names = ["llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b", "mixtral-8x7b"] if not quick else ["llama-3.1-8b"]
        tps = [1, 2, 4, 8] if not quick else [1, 4]
        tokens = [1, 4, 16, 64, 256, 1024, 4096, 8192] if not quick else [1, 16, 256, 4096]
    shapes = []
    for name in names:
        spec = models[name]
        hidden, q, kv, d, inter = (spec[k] for k in ("hidden", "q_heads", "kv_heads", "head_dim", "intermediate"))
        for tp in tps if name != "ctxplan-tiny" else [1]:
            kv_tp = max(1, kv // tp)
            projections = [((q // tp + 2 * kv_tp) * d, hidden), (hidden, q * d // tp),
                           (2 * inter // tp, hidden), (hidden, inter // tp)]
            for m in tokens:
                shapes.extend((m, n, k) for n, k in projections)
    return sorted(set(shapes))


def attention_layouts(quick: bool, device: torch.device) -> list[tuple[int, int, int]]:
    if device.type == "cpu":
        return [(16, 4, 64), (8, 2, 128)] if quick else [(16, 4, 64), (8, 2, 128), (4, 4, 128)]
    layouts = [(32, 8, 128), (8, 1, 128), (16, 8, 256), (64, 8, 128)]
    return layouts[:2] if quick else layouts


def _sdpa_backend(device: torch.device):
    """A context manager factory per backend name, in preference order, for the current device."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:   # torch < 2.3
        return [("sdpa", None)]
    if device.type == "cpu":
        return [("sdpa:cpu", None)]
    return [(f"sdpa:{b.name.lower()}", lambda b=b: sdpa_kernel(b)) for b in
            (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION,
             SDPBackend.MATH)]


def _attention_fn(q, k, v, mask, causal_square: bool, backend_ctx):
    kwargs = {"enable_gqa": True} if q.shape[1] != k.shape[1] else {}

    def run():
        if backend_ctx is None:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal_square, **kwargs)
        with backend_ctx():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal_square, **kwargs)
    return run


def time_attention(device, dtype, batch, hq, hkv, d, q_len, kv_len, causal, budget_s):
    """Time one SDPA call; returns (timing, backend name)."""
    q = torch.randn(batch, hq, q_len, d, device=device, dtype=dtype)
    k = torch.randn(batch, hkv, kv_len, d, device=device, dtype=dtype)
    v = torch.randn_like(k)
    mask, square = None, False
    if causal and q_len == kv_len:
        square = True
    elif causal:
        from torch.nn.attention.bias import causal_lower_right
        mask = causal_lower_right(q_len, kv_len)
    last_error = None
    for name, ctx in _sdpa_backend(device):
        fn = _attention_fn(q, k, v, mask, square, ctx)
        try:
            fn()
        except RuntimeError as exc:   # backend cannot run this shape or dtype: try the next one
            last_error = exc
            continue
        return bench(fn, device, budget_s=budget_s), name
    raise RuntimeError(f"no SDPA backend ran: {last_error}")


def time_decode_mixed(device, dtype, lengths, hq, hkv, d, budget_s):
    qs = [torch.randn(1, hq, 1, d, device=device, dtype=dtype) for _ in lengths]
    ks = [torch.randn(1, hkv, n, d, device=device, dtype=dtype) for n in lengths]
    kwargs = {"enable_gqa": True} if hq != hkv else {}

    def run():
        for q, k in zip(qs, ks):
            F.scaled_dot_product_attention(q, k, k, **kwargs)
    return bench(run, device, budget_s=budget_s)


class Recorder:
    def __init__(self, device: torch.device, dtype_name: str, budget_s: float, deadline: float) -> None:
        self.device, self.dtype_name, self.budget_s, self.deadline = device, dtype_name, budget_s, deadline
        self.rows: list[dict] = []
        self.rows_per_op: dict[str, int] = {}     # op -> rows timed so far
        self.meta = {"device": device_name(device), "torch_version": str(torch.__version__)}

    def out_of_time(self, op: str) -> bool:
        """Past the deadline, once `op` has MIN_ROWS_PER_FAMILY rows: a short budget trims a family, never drops it."""
        return time.perf_counter() > self.deadline and self.rows_per_op.get(op, 0) >= MIN_ROWS_PER_FAMILY

    def add(self, op: str, timing, **shape) -> None:
        row = {"op": op, "dtype": self.dtype_name, "measured_s": f"{timing.measured_s:.9g}",
               "p20_s": f"{timing.p20_s:.9g}", "p80_s": f"{timing.p80_s:.9g}", "statistic": timing.statistic,
               **self.meta, **shape}
        self.rows.append(row)
        self.rows_per_op[op] = self.rows_per_op.get(op, 0) + 1
        if len(self.rows) % 25 == 0:
            print(f"  {len(self.rows)} kernels timed", file=sys.stderr, flush=True)


def run_grid(device: torch.device, quick: bool, budget_s: float, max_seconds: float) -> list[dict]:
    with cpu_threads(device):     # one thread on a CPU (kernels/timing.py says why)
        return _run_grid(device, quick, budget_s, max_seconds)


def _run_grid(device: torch.device, quick: bool, budget_s: float, max_seconds: float) -> list[dict]:
    dtype_name = "fp32" if device.type == "cpu" else "bf16"
    dtype = DTYPES[dtype_name]
    rec = Recorder(device, dtype_name, budget_s, time.perf_counter() + max_seconds)
    rng = np.random.default_rng(0)

    size = 1 << 20
    for mib in ([16, 32, 64, 128, 256] if device.type == "cpu" else [1, 4, 16, 64, 256, 1024]):
        if rec.out_of_time("memcpy"):
            break
        src = torch.empty(mib * size // 4, dtype=torch.float32, device=device).fill_(1.0)
        dst = torch.empty_like(src)
        rec.add("memcpy", bench(lambda: dst.copy_(src), device, budget_s=budget_s), bytes=mib * size,
                backend="copy_")

    for m, n, k in matmul_shapes(quick, device):
        if rec.out_of_time("matmul"):
            break
        a = torch.randn(m, k, device=device, dtype=dtype)
        b = torch.randn(k, n, device=device, dtype=dtype)
        rec.add("matmul", bench(lambda: torch.mm(a, b), device, budget_s=budget_s), m=m, n=n, k=k, backend="mm")

    cpu = device.type == "cpu"
    chunks = [32, 64, 128, 256, 512, 1024] if cpu else ([256, 1024, 4096] if quick else
                                                     [128, 512, 1024, 2048, 4096, 8192])
    contexts = [0, 512, 2048] if cpu else ([0, 8192] if quick else [0, 2048, 16384])
    for hq, hkv, d in attention_layouts(quick, device):
        for q_len in chunks:
            for context in contexts:
                if rec.out_of_time("attention_prefill"):
                    break
                timing, backend = time_attention(device, dtype, 1, hq, hkv, d, q_len, context + q_len, True,
                                                 budget_s)
                rec.add("attention_prefill", timing, batch_size=1, num_q_heads=hq, num_kv_heads=hkv, head_dim=d,
                        q_len=q_len, kv_len=context + q_len, causal=True, backend=backend)

    batches = [1, 4, 16, 32] if cpu else [1, 8, 32, 128]
    kv_lengths = [128, 512, 2048] if cpu else ([1024, 16384] if quick else [512, 2048, 8192, 32768])
    for hq, hkv, d in attention_layouts(quick, device):
        for batch in batches:
            for kv_len in kv_lengths:
                if rec.out_of_time("attention_decode") or (cpu and batch * kv_len > 32 * 2048):
                    continue
                timing, backend = time_attention(device, dtype, batch, hq, hkv, d, 1, kv_len, False, budget_s)
                rec.add("attention_decode", timing, batch_size=batch, num_q_heads=hq, num_kv_heads=hkv,
                        head_dim=d, q_len=1, kv_len=kv_len, causal=False, backend=backend)
        for batch in ([4, 16] if cpu else [8, 32]):
            if rec.out_of_time("attention_decode"):
                break
            lengths = np.clip(rng.lognormal(np.log(kv_lengths[-1] / 4), 1.0, size=batch), 16,
                              kv_lengths[-1] * 2).astype(int).tolist()
            timing = time_decode_mixed(device, dtype, lengths, hq, hkv, d, budget_s)
            rec.add("attention_decode", timing, batch_size=batch, num_q_heads=hq, num_kv_heads=hkv, head_dim=d,
                    q_len=1, kv_len=int(round(sum(lengths) / batch)), causal=False, backend="sdpa-per-sequence",
                    kv_lens=";".join(map(str, lengths)))

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and torch.distributed.is_available():
        rec.rows.extend(allreduce_rows(device, rec, budget_s))
    return rec.rows


def allreduce_rows(device: torch.device, rec: Recorder, budget_s: float) -> list[dict]:
    """All-reduce over message size; only under torchrun with several GPUs (rank 0 keeps the rows)."""
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    world = dist.get_world_size()
    rows = []
    for mib in [1, 16, 64, 256]:
        buffer = torch.ones(mib * (1 << 20) // 2, dtype=torch.bfloat16, device=device)
        # wall time: a collective waits for the other ranks, which no CPU clock of this thread counts
        timing = bench_any_clock(lambda: dist.all_reduce(buffer), device, budget_s=budget_s)
        rows.append({"op": "allreduce", "dtype": "bf16", "measured_s": f"{timing.measured_s:.9g}",
                     "p20_s": f"{timing.p20_s:.9g}", "p80_s": f"{timing.p80_s:.9g}", "statistic": timing.statistic,
                     **rec.meta,
                     "bytes": mib * (1 << 20), "num_gpus": world, "backend": "nccl"})
    return rows if dist.get_rank() == 0 else []


def write_rows(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA device")
    return torch.device(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time kernels and write measurements.csv")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="small grid (CPU: under 2 minutes)")
    parser.add_argument("--out", required=True, type=Path, help="folder for measurements.csv")
    parser.add_argument("--budget-s", type=float, default=None, help="timing budget per kernel")
    parser.add_argument("--max-seconds", type=float, default=280, help="stop adding kernels after this")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    budget = args.budget_s if args.budget_s is not None else (0.05 if device.type == "cpu" else 0.03)
    start = time.perf_counter()
    rows = run_grid(device, args.quick, budget, args.max_seconds)
    write_rows(rows, args.out / "measurements.csv")
    print(f"wrote {len(rows)} rows to {args.out / 'measurements.csv'} in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
