"""`run(scenario) -> Result`: generate the workload once, simulate every deployment on it, summarise.

Pure apart from the seeded RNG: writes nothing. The CLI, the API and sweeps call it and render
its result; none of them re-implements a metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulator import __version__
from simulator.results import metrics
from simulator.workloads import generate as workload
from simulator.engine.cluster import simulate
from simulator.specs.deployment import ResolvedDeployment, resolve_deployment
from simulator.errors import InputError
from simulator.results.types import ClosedLoopWindow, ServingMetrics, SimulatedDeployment, SimulationResult
from simulator.specs.scenario import ConstantLength, ScenarioSpec
from simulator.specs.engine_spec import engine_defaults


@dataclass(frozen=True, slots=True)
class DeploymentResult:
    """One deployment's run: its typed summary, and the frames behind it (records, timeline)."""
    name: str
    resolved: ResolvedDeployment
    summary: ServingMetrics
    records: pd.DataFrame
    timeline: pd.DataFrame | None = None     # engine steps over time (run(..., trace=True))

    def to_model(self) -> SimulatedDeployment:
        r = self.resolved
        return SimulatedDeployment(
            name=self.name, model=r.model.name, hardware=r.hardware.name, hardware_provenance=r.hardware.provenance,
            replicas=r.spec.replicas,
            tensor_parallel=r.spec.tensor_parallel, context_parallel=r.spec.context_parallel,
            pipeline_parallel=r.spec.pipeline_parallel, layout=layout(r.spec), num_gpus=r.num_gpus,
            num_kv_blocks_per_replica=r.plan.num_kv_blocks,
            kv_cache_capacity_tokens_per_replica=r.plan.num_kv_blocks * r.spec.engine.block_size,
            notes=list(r.notes), metrics=self.summary)

    def to_json_dict(self) -> dict:
        return self.to_model().to_json_dict()


def timeline_frame(timeline) -> pd.DataFrame:
    """Engine steps of every replica: time, KV-cache usage, waiting and running requests."""
    frames = [pd.DataFrame(steps, columns=["time_s", "kv_usage", "waiting", "running"]).assign(replica=index)
              for index, steps in enumerate(timeline or [])]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["time_s", "kv_usage", "waiting", "running", "replica"])


def layout(spec) -> str:
    """'4x1' (replicas x GPUs each), with the parallel degrees and a prefill pool when there are any."""
    degrees = [f"{name}{value}" for name, value in (("tp", spec.tensor_parallel), ("cp", spec.context_parallel),
                                                    ("pp", spec.pipeline_parallel)) if value > 1]
    per_replica = spec.tensor_parallel * spec.context_parallel * spec.pipeline_parallel
    text = f"{spec.replicas}x{per_replica}" + (f" ({' '.join(degrees)})" if len(degrees) > 1 else "")
    if spec.prefill_pool is not None:
        pool = spec.prefill_pool
        text = f"{pool.replicas}x{pool.tensor_parallel} prefill + {text} decode"
    return text


@dataclass(frozen=True, slots=True)
class Result:
    scenario: str
    seed: int
    num_requests: int
    deployments: list[DeploymentResult]

    def to_model(self) -> SimulationResult:
        """What `ctxplan run --format json` prints and a simulation job returns."""
        return SimulationResult(ctxplan_version=__version__, scenario=self.scenario, seed=self.seed,
                                deployments=[d.to_model() for d in self.deployments])

    def to_json_dict(self) -> dict:
        return self.to_model().to_json_dict()


def _check_fixed_lengths(spec: ScenarioSpec, resolved: ResolvedDeployment, field: str) -> None:
    """A fixed length that can never fit the model's context is a mistake, not a clipping case."""
    context = resolved.model.max_context_tokens
    longest_prefix = max((p.tokens for p in spec.workload.shared_prefixes), default=0)
    prompt, output = spec.workload.prompt_tokens, spec.workload.output_tokens
    if isinstance(prompt, ConstantLength) and prompt.value + longest_prefix >= context:
        raise InputError(f"fixed prompt length is past {resolved.model.name}'s context of {context} tokens "
                         f"(used by {field})", field="workload.prompt_tokens.value", value=prompt.value,
                         allowed=f"1..{context - 1 - longest_prefix}")
    if isinstance(output, ConstantLength) and output.value >= context:
        raise InputError(f"fixed output length is past {resolved.model.name}'s context of {context} tokens",
                         field="workload.output_tokens.value", value=output.value, allowed=f"1..{context - 1}")


def _closed_loop(records: pd.DataFrame, loop) -> ClosedLoopWindow | None:
    return None if loop is None else metrics.closed_loop_window(records, loop.users, loop.think_time_s)


def run(spec: ScenarioSpec, base_dir: Path | None = None, seed: int | None = None,
        hardware_override: str | None = None,
        progress: Callable[[int, int, int], None] | None = None, exact: bool = False, trace: bool = False) -> Result:
    """Simulate every deployment of `spec` on one generated workload.

    progress(deployment_index, requests_done, requests_total) is called as requests finish.
    exact=True steps every engine iteration instead of skipping ahead over decode-only stretches.
    """
    seed = spec.seed if seed is None else seed
    resolved = [resolve_deployment(d, f"deployments[{i}]", base_dir, hardware_override)
                for i, d in enumerate(spec.deployments)]
    for i, r in enumerate(resolved):
        _check_fixed_lengths(spec, r, f"deployments[{i}]")
    generated = workload.generate(spec.workload, np.random.default_rng(seed), base_dir)
    stability = engine_defaults()["stability"]
    results = []
    for index, r in enumerate(resolved):
        requests, num_clipped = workload.requests_for_model(generated, r.model.max_context_tokens)
        callback = (lambda done, total, i=index: progress(i, done, total)) if progress else None
        output = simulate(requests, r.setup, r.spec.replicas, r.spec.router, spec.max_sim_time_s, callback, exact,
                          r.prefill, trace, workload.closed_loop_graph(requests, generated.closed_loop))
        records = metrics.records_frame(output)
        summary = metrics.summarize(records, output, num_gpus=r.num_gpus,
                                    price_usd_per_gpu_hour=r.price_usd_per_gpu_hour,
                                    slo_ttft_s=spec.slo.ttft_s, slo_tpot_s=spec.slo.tpot_s,
                                    num_clipped=num_clipped, stability=stability,
                                    closed_loop=_closed_loop(records, generated.closed_loop))
        results.append(DeploymentResult(r.spec.name, r, summary, records,
                                        timeline_frame(output.timeline) if trace else None))
    return Result(scenario=spec.name, seed=seed, num_requests=len(generated), deployments=results)
