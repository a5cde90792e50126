"""A chosen configuration as the commands that deploy it: `vllm serve` and a Kubernetes Deployment.

Flags follow vLLM's engine arguments (vllm/engine/arg_utils.py `EngineArgs.add_cli_args`, v0.11:
`--tensor-parallel-size`, `--max-num-seqs`, `--max-num-batched-tokens`, `--gpu-memory-utilization`,
`--kv-cache-dtype {auto,fp8}`, `--enable-prefix-caching`, `--dtype`, `--quantization fp8`,
`--max-model-len`, `--pipeline-parallel-size`). `--max-model-len` is the smaller of the model's context
and what one replica's KV cache holds (vLLM refuses to start when one sequence cannot fit). The image is vLLM's OpenAI-compatible server (`vllm/vllm-openai`), which takes
the same arguments after the model; GPUs are requested as `nvidia.com/gpu` (NVIDIA device plugin).
The model id is the Hugging Face repository named in the catalog row's source, else the name given.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from simulator.results.plan_types import PlanEmit

IMAGE = "vllm/vllm-openai:latest"     # pin a tag in production
_KV_DTYPE = {"bf16": "auto", "fp16": "auto", "fp8": "fp8"}
_WEIGHT_DTYPE = {"bf16": ["--dtype", "bfloat16"], "fp16": ["--dtype", "float16"], "fp8": ["--quantization", "fp8"]}
# dtypes vLLM takes from the checkpoint rather than a flag: what to serve
_CHECKPOINT = {"fp4": "an NVFP4 checkpoint (NVIDIA ModelOpt; vLLM detects modelopt_fp4 from it)"}


@dataclass(frozen=True, slots=True)
class Deployable:
    model_id: str
    tensor_parallel: int
    replicas: int
    max_num_seqs: int
    max_num_batched_tokens: int
    gpu_memory_utilization: float
    kv_cache_dtype: str
    weight_dtype: str
    enable_prefix_caching: bool
    max_model_len: int
    pipeline_parallel: int = 1
    context_parallel: int = 1

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.context_parallel


def model_id(name: str, source: str | None) -> str:
    """The Hugging Face repository of a catalog model (`source: "HF org/repo/config.json; ..."`)."""
    match = re.search(r"HF ([\w.-]+/[\w.-]+)/config\.json", source or "")
    return match.group(1) if match else name


def vllm_args(d: Deployable) -> list[str]:
    args = [d.model_id, "--tensor-parallel-size", str(d.tensor_parallel),
            *(["--pipeline-parallel-size", str(d.pipeline_parallel)] if d.pipeline_parallel > 1 else []),
            "--max-num-seqs", str(d.max_num_seqs),
            "--max-num-batched-tokens", str(d.max_num_batched_tokens),
            "--gpu-memory-utilization", f"{d.gpu_memory_utilization:g}", "--max-model-len", str(d.max_model_len),
            *_WEIGHT_DTYPE.get(d.weight_dtype, [])]
    if d.kv_cache_dtype in _KV_DTYPE:
        args += ["--kv-cache-dtype", _KV_DTYPE[d.kv_cache_dtype]]
    args.append("--enable-prefix-caching" if d.enable_prefix_caching else "--no-enable-prefix-caching")
    return args


def vllm_command(d: Deployable) -> str:
    """One replica's `vllm serve` command line (run `replicas` of them behind a load balancer)."""
    return "vllm serve " + " ".join(shlex.quote(a) for a in vllm_args(d)) + "".join(f"  # {n}" for n in notes(d))


def notes(d: Deployable) -> list[str]:
    """What the command cannot say: settings vLLM has no flag for."""
    out = []
    if d.kv_cache_dtype not in _KV_DTYPE:
        out.append(f"kv_cache_dtype {d.kv_cache_dtype}: vLLM has no such KV cache dtype")
    if d.weight_dtype not in _WEIGHT_DTYPE:
        checkpoint = _CHECKPOINT.get(d.weight_dtype, "a checkpoint quantized to it (e.g. AWQ or GPTQ)")
        out.append(f"weight_dtype {d.weight_dtype}: serve {checkpoint}")
    if d.context_parallel > 1:
        out.append(f"context_parallel {d.context_parallel}: vLLM serve has no context-parallel flag")
    return out


def kubernetes_manifest(d: Deployable, name: str) -> str:
    """A minimal Deployment: `replicas` pods of the vLLM server, each with `tensor_parallel` GPUs."""
    label = re.sub(r"[^a-z0-9-]", "-", name.lower())[:63].strip("-") or "ctxplan"     # RFC 1123 label
    args = "\n".join(f"            - {json.dumps(a)}" for a in vllm_args(d))     # strings, as Kubernetes wants
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {label}
spec:
  replicas: {d.replicas}
  selector:
    matchLabels: {{app: {label}}}
  template:
    metadata:
      labels: {{app: {label}}}
    spec:
      containers:
        - name: vllm
          image: {IMAGE}
          args:
{args}
          ports:
            - containerPort: 8000
          resources:
            limits:
              nvidia.com/gpu: {d.tensor_parallel * d.pipeline_parallel}
          volumeMounts:
            - {{name: shm, mountPath: /dev/shm}}
      volumes:
        - name: shm
          emptyDir: {{medium: Memory}}
"""


def emit_for(doc: dict, base_dir, config, replicas: int) -> PlanEmit:
    """`vllm serve` and a Kubernetes Deployment for a plan's `config` (a `planner.Config`) at `replicas`."""
    from simulator.catalog import model_rows
    from simulator.specs.deployment import resolve_deployment
    from simulator.planning.planner import point_doc
    from simulator.specs.scenario import ScenarioSpec
    spec = ScenarioSpec.model_validate(point_doc(doc, config, replicas, 1.0, 0, None)).deployments[0]
    if spec.engine.policy != "vllm":
        from simulator.errors import InputError
        raise InputError("emit writes vLLM launch commands; this plan's engine is another", field="engine.policy",
                         value=spec.engine.policy, allowed="vllm")
    resolved = resolve_deployment(spec, "deployment", base_dir)
    rows = {r.name: r for r in model_rows()}
    row = rows.get(str(spec.model).lower())
    kv_tokens = resolved.setup.num_kv_blocks * spec.engine.block_size    # what one replica's KV cache holds
    deployable = Deployable(model_id(row.name if row else str(spec.model), getattr(row, "source", None)),
                            config.tensor_parallel, replicas, config.max_num_seqs, config.max_num_batched_tokens,
                            spec.engine.gpu_memory_utilization, spec.kv_cache_dtype, spec.weight_dtype,
                            spec.engine.enable_prefix_caching, min(resolved.model.max_context_tokens, kv_tokens),
                            spec.pipeline_parallel, spec.context_parallel)
    return PlanEmit(vllm_command=vllm_command(deployable), kubernetes_manifest=kubernetes_manifest(
        deployable, f"{resolved.model.name}-{resolved.hardware.name}"))
