"""Workload generation: arrival times, prompt and output lengths, shared prefixes, trace replay.

All randomness comes from the one `numpy.random.Generator` passed in, drawn in a fixed order
(arrivals, prompt lengths, output lengths, prefix choice), so a scenario and seed give the same
requests on every run and for every deployment of a scenario.

Arrival processes: Poisson (exponential gaps), gamma (gaps with shape 1/cv^2, so cv > 1 is
burstier than Poisson), constant, trace replay from CSV in either
`arrival_time_s,prompt_tokens,output_tokens` or the Azure LLM inference trace columns
`TIMESTAMP,ContextTokens,GeneratedTokens`; `all_at_once` (every request at time 0) and the closed
loop `concurrency` (N users, each sending its next request a think time after its previous one
finished: `closed_loop_graph` chains them, and the cluster releases each when its parent is done).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.errors import InputError
from simulator.specs.paths import (PathKind, PathPolicy, as_policy, describe_columns, read_csv_text, read_text_file,
                             safe_token)
from simulator.engine.dependencies import CallGraph
from simulator.engine.request import Request
from simulator.specs.scenario import (COUNTED_ARRIVALS, MAX_REQUESTS, MAX_TOKENS, ConcurrencyArrivals,
                                      ConstantArrivals, ConstantLength, EmpiricalLength, GammaArrivals,
                                      LognormalLength, NormalLength, PoissonArrivals, TraceArrivals, UniformLength,
                                      WorkloadSpec)

NATIVE_COLUMNS = ("arrival_time_s", "prompt_tokens", "output_tokens")
AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True, slots=True)
class Workload:
    """Requests as arrays, independent of any model; `requests_for_model` clips and builds objects."""
    arrival_time_s: np.ndarray      # float64, sorted
    prompt_tokens: np.ndarray       # int64, tokens after the shared prefix
    output_tokens: np.ndarray       # int64, >= 1
    prefix_index: np.ndarray        # int64, -1 for none
    prefix_tokens: tuple[int, ...]  # per prefix index
    closed_loop: ConcurrencyArrivals | None = None   # users and think time; arrival times are then placeholders

    def __len__(self) -> int:
        return len(self.arrival_time_s)


def resolve_path(path: str, base_dir: Path | PathPolicy | None, field: str = "path") -> Path:
    """The CSV file `path` names, under the path policy (`base_dir`: the scenario's folder, or a policy)."""
    return as_policy(base_dir).locate(path, field, PathKind.FILE)


def read_trace(path: Path) -> pd.DataFrame:
    """A trace as `arrival_time_s, prompt_tokens, output_tokens`, times from 0, sorted."""
    if not path.exists():
        raise InputError("trace file not found", file=str(path))
    frame = read_csv_text(read_text_file(path), path)
    columns = set(frame.columns)
    if set(NATIVE_COLUMNS) <= columns:
        times = frame["arrival_time_s"]
        prompt, output = frame["prompt_tokens"], frame["output_tokens"]
        time_field = "arrival_time_s"
    elif set(AZURE_COLUMNS) <= columns:
        raw = frame["TIMESTAMP"]
        numeric = pd.to_numeric(raw, errors="coerce")
        if numeric.notna().all():
            times = numeric
        else:
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
            _check_column(parsed.notna(), raw, path, "TIMESTAMP", "a date-time or seconds")
            times = (parsed - parsed.min()).dt.total_seconds()
        prompt, output = frame["ContextTokens"], frame["GeneratedTokens"]
        time_field = "TIMESTAMP"
    else:
        raise InputError(f"missing columns; found {describe_columns(frame.columns)}", field="columns",
                         allowed=f"{','.join(NATIVE_COLUMNS)} or {','.join(AZURE_COLUMNS)}", file=str(path))
    times = pd.to_numeric(times, errors="coerce")
    _check_column(times.notna() & (times >= 0), frame[time_field], path, time_field, "a number >= 0")
    result = pd.DataFrame({"arrival_time_s": times.astype("float64")})
    for name, column, low in (("prompt_tokens", prompt, 1), ("output_tokens", output, 1)):
        values = pd.to_numeric(column, errors="coerce")
        _check_column(values.notna() & (values >= low) & (values == values.round()), column, path,
                      column.name, f"an integer >= {low}")
        result[name] = values.astype("int64")
    if result.empty:
        raise InputError("trace has no rows", file=str(path))
    result = result.sort_values("arrival_time_s", kind="stable").reset_index(drop=True)
    result["arrival_time_s"] -= result["arrival_time_s"].iloc[0]
    return result


def _check_column(ok: pd.Series, raw: pd.Series, path: Path, field: str, allowed: str) -> None:
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        raise InputError(f"bad value on line {row + 2}", field=safe_token(field) or "column",
                         value=safe_token(raw.iloc[row]), allowed=allowed, file=str(path))


def arrival_times(spec, rng: np.random.Generator, num: int | None, horizon_s: float | None) -> np.ndarray:
    rate = spec.rate_per_s
    if num is None:   # enough gaps to pass the horizon with overwhelming probability, then cut
        num = arrivals_to_draw(spec, horizon_s)
        if rate * horizon_s > MAX_REQUESTS:
            raise InputError(f"rate_per_s x horizon_s means about {rate * horizon_s:,.0f} arrivals",
                             field="horizon_s", value=horizon_s, allowed=f"at most {MAX_REQUESTS:,} requests")
    if isinstance(spec, PoissonArrivals):
        gaps = rng.exponential(1.0 / rate, size=num)
    elif isinstance(spec, GammaArrivals):
        shape = 1.0 / spec.cv ** 2
        gaps = rng.gamma(shape, 1.0 / (rate * shape), size=num)
    elif isinstance(spec, ConstantArrivals):
        gaps = np.full(num, 1.0 / rate)
    else:
        raise AssertionError(spec)
    times = np.cumsum(gaps) - gaps[0]          # first request at t=0
    return times


def arrivals_to_draw(spec, horizon_s: float) -> int:
    """Gaps drawn to pass `horizon_s` with overwhelming probability: rate*T + 10*sqrt(rate*T) + 10 (x (1+cv)
    for gamma); also the upper bound of requests a horizon-limited workload can hold."""
    expected = spec.rate_per_s * horizon_s
    num = expected + 10 * np.sqrt(expected) + 10
    if isinstance(spec, GammaArrivals):
        num *= 1 + spec.cv
    return int(min(num, 2.0 ** 62))


def sample_lengths(spec, rng: np.random.Generator, size: int, base_dir: Path | PathPolicy | None,
                   field: str = "path") -> np.ndarray:
    """`size` token counts from a length distribution, rounded and clipped to [min, max] (and MAX_TOKENS,
    so an extreme tail cannot overflow int64)."""
    if isinstance(spec, ConstantLength):
        values = np.full(size, float(spec.value))
    elif isinstance(spec, UniformLength):
        values = rng.integers(spec.low, spec.high + 1, size=size).astype(float)
    elif isinstance(spec, NormalLength):
        values = rng.normal(spec.mean, spec.std, size=size)
    elif isinstance(spec, LognormalLength):
        values = np.exp(rng.normal(np.log(spec.median), spec.sigma, size=size))
    elif isinstance(spec, EmpiricalLength):
        path = resolve_path(spec.path, base_dir, field)
        frame = read_csv_text(read_text_file(path, field), path)
        if spec.column not in frame.columns:
            raise InputError("column not in file", field="column", value=spec.column,
                             allowed=describe_columns(frame.columns), file=str(path))
        column = pd.to_numeric(frame[spec.column], errors="coerce")
        _check_column(column.notna() & (column >= 1), frame[spec.column], path, spec.column, "a number >= 1")
        values = rng.choice(column.to_numpy(dtype=float), size=size, replace=True)
    else:
        raise AssertionError(spec)
    high = min(spec.max, MAX_TOKENS) if spec.max is not None else MAX_TOKENS
    values = np.nan_to_num(values, nan=float(spec.min), posinf=float(high), neginf=float(spec.min))
    return np.clip(np.rint(values), spec.min, high).astype(np.int64)


def generate(spec: WorkloadSpec, rng: np.random.Generator, base_dir: Path | PathPolicy | None = None) -> Workload:
    if isinstance(spec.arrival, TraceArrivals):
        trace = read_trace(resolve_path(spec.arrival.path, base_dir, "workload.arrival.path"))
        times = trace["arrival_time_s"].to_numpy() / spec.arrival.time_scale
        keep = np.ones(len(times), dtype=bool)
        if spec.horizon_s is not None:
            keep &= times <= spec.horizon_s
        if spec.num_requests is not None:
            keep &= np.arange(len(times)) < spec.num_requests
        times = times[keep]
        prompt = trace["prompt_tokens"].to_numpy()[keep]
        output = trace["output_tokens"].to_numpy()[keep]
    elif isinstance(spec.arrival, COUNTED_ARRIVALS):
        times = np.zeros(spec.num_requests)       # closed loop: each user's later requests are released by it
        prompt = sample_lengths(spec.prompt_tokens, rng, len(times), base_dir, "workload.prompt_tokens.path")
        output = sample_lengths(spec.output_tokens, rng, len(times), base_dir, "workload.output_tokens.path")
    else:
        times = arrival_times(spec.arrival, rng, spec.num_requests, spec.horizon_s)
        if spec.horizon_s is not None:
            times = times[times <= spec.horizon_s]
        prompt = sample_lengths(spec.prompt_tokens, rng, len(times), base_dir, "workload.prompt_tokens.path")
        output = sample_lengths(spec.output_tokens, rng, len(times), base_dir, "workload.output_tokens.path")
    prefix_index = np.full(len(times), -1, dtype=np.int64)
    if spec.shared_prefixes:
        cumulative = np.cumsum([p.probability for p in spec.shared_prefixes])
        draws = rng.random(len(times))
        chosen = np.searchsorted(cumulative, draws, side="right")
        prefix_index = np.where(chosen < len(cumulative), chosen, -1).astype(np.int64)
    closed = spec.arrival if isinstance(spec.arrival, ConcurrencyArrivals) else None
    return Workload(times.astype(np.float64), prompt.astype(np.int64), output.astype(np.int64), prefix_index,
                    tuple(p.tokens for p in spec.shared_prefixes), closed)


def closed_loop_graph(requests: list[Request], loop: ConcurrencyArrivals | None) -> CallGraph:
    """The closed loop as dependencies: request i of the list is user i mod N's (i // N)-th request,
    released `think_time_s` after that user's previous one (i - N) finished, its latencies timed from
    then. No loop: an empty graph."""
    graph = CallGraph()
    if loop is None:
        return graph
    users = loop.users
    for index in range(users, len(requests)):
        child = requests[index]
        graph.add(requests[index - users], [child])
        graph.set_release(child, loop.think_time_s, latency_from_release=True)
    return graph


def requests_for_model(workload: Workload, max_context_tokens: int) -> tuple[list[Request], int]:
    """Request objects with prompt + output clipped to the model's context; returns (requests, num_clipped)."""
    prefix_len = np.array(workload.prefix_tokens + (0,), dtype=np.int64)[workload.prefix_index]
    prompt = prefix_len + workload.prompt_tokens
    output = workload.output_tokens
    over = prompt + output > max_context_tokens
    clipped_prompt = np.where(over, np.minimum(prompt, max_context_tokens - 1), prompt)
    clipped_output = np.where(over, np.minimum(output, max_context_tokens - clipped_prompt), output)
    requests = [
        Request(request_id=i, arrival_time_s=float(t), num_prompt_tokens=int(p), max_output_tokens=int(o),
                prefix_id=int(k), prefix_tokens=int(min(n, p)))
        for i, (t, p, o, k, n) in enumerate(zip(workload.arrival_time_s.tolist(), clipped_prompt.tolist(),
                                                 clipped_output.tolist(), workload.prefix_index.tolist(),
                                                 prefix_len.tolist()))
    ]
    return requests, int(over.sum())
