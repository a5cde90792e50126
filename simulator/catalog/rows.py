"""Pydantic schemas of catalog rows (models, hardware, achieved-rate curves) and their conversion."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.costs.hardware import EfficiencyCurves, HardwareProfile
from simulator.costs.model import AttentionKind, ModelSpec, WindowKind


class ModelRow(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)   # an infinite price or bandwidth is a typo
    name: str
    display_name: str = ""
    num_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    params_total_b: float = Field(gt=0)
    params_active_b: float = Field(gt=0)
    max_context_tokens: int = Field(gt=0)
    attention: AttentionKind = AttentionKind.GQA
    local_window_tokens: int | None = Field(default=None, gt=0)
    local_kind: WindowKind = WindowKind.SLIDING
    global_every: int = Field(default=0, ge=0)
    kv_lora_rank: int | None = Field(default=None, gt=0)
    qk_rope_head_dim: int | None = Field(default=None, gt=0)
    qk_nope_head_dim: int | None = Field(default=None, gt=0)
    v_head_dim: int | None = Field(default=None, gt=0)
    num_experts: int = Field(default=0, ge=0)
    experts_per_token: int = Field(default=0, ge=0)
    tie_word_embeddings: bool = False
    verified: bool = False
    source: str

    def to_spec(self) -> ModelSpec:
        data = self.model_dump(exclude={"params_total_b", "params_active_b"})
        return ModelSpec(params_total=self.params_total_b * 1e9, params_active=self.params_active_b * 1e9, **data)


class CurvesRow(BaseModel):
    """Achieved-rate curves in a profile file; fields left out come from the catalog defaults."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)   # an infinite price or bandwidth is a typo
    matmul_efficiency_max: float | None = Field(default=None, gt=0, le=1)
    matmul_half_saturation_tokens: float | None = Field(default=None, ge=0)
    attention_efficiency_max: float | None = Field(default=None, gt=0, le=1)
    attention_half_saturation_tokens: float | None = Field(default=None, ge=0)
    bandwidth_efficiency: float | None = Field(default=None, gt=0, le=1)
    decode_bandwidth_efficiency: float | None = Field(default=None, gt=0, le=1)
    kernel_launch_s: float | None = Field(default=None, ge=0)
    iteration_overhead_s: float | None = Field(default=None, ge=0)
    allreduce_latency_s: float | None = Field(default=None, ge=0)
    interconnect_efficiency: float | None = Field(default=None, gt=0, le=1)
    allreduce_step_latency_s: float | None = Field(default=None, ge=0)
    matmul_tile: int | None = Field(default=None, ge=0)
    fp4_matmul_efficiency_max: float | None = Field(default=None, gt=0, le=1)


class HardwareDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)   # an infinite price or bandwidth is a typo
    matmul_efficiency_max: float = Field(gt=0, le=1)
    matmul_half_saturation_tokens: float = Field(ge=0)
    attention_efficiency_max: float = Field(gt=0, le=1)
    attention_half_saturation_tokens: float = Field(ge=0)
    bandwidth_efficiency: float = Field(gt=0, le=1)
    decode_bandwidth_efficiency: float = Field(gt=0, le=1)
    kernel_launch_s: float = Field(ge=0)
    iteration_overhead_s: float = Field(ge=0)
    allreduce_latency_s: float = Field(ge=0)
    interconnect_efficiency: float = Field(gt=0, le=1)
    allreduce_step_latency_s: float = Field(ge=0)
    matmul_tile: int = Field(ge=0)
    fp4_matmul_efficiency_max: float | None = Field(default=None, gt=0, le=1)   # None: as 16-bit GEMMs
    fp32_fraction_of_bf16_when_unknown: float = Field(gt=0, le=1)
    pcie_allreduce_latency_s: float = Field(ge=0)
    pcie_interconnect_efficiency: float = Field(gt=0, le=1)
    pcie_allreduce_step_latency_s: float = Field(ge=0)
    internode_gb_s: float = Field(gt=0)
    gpus_per_node: int = Field(ge=1)
    host_link_gb_s: float = Field(gt=0)
    host_memory_gb_per_gpu: float = Field(ge=0)
    reserved_price_ratio: float = Field(gt=0, le=1)
    spot_price_ratio: float = Field(gt=0, le=1)
    source: str

    def curves(self, overrides: CurvesRow | None, interconnect_kind: str = "fabric") -> EfficiencyCurves:
        """The row's curves: these defaults (all-reduce terms by link kind), then the row's own overrides."""
        values = {f: getattr(self, f) for f in CurvesRow.model_fields}
        if interconnect_kind == "pcie":
            values.update(allreduce_latency_s=self.pcie_allreduce_latency_s,
                          interconnect_efficiency=self.pcie_interconnect_efficiency,
                          allreduce_step_latency_s=self.pcie_allreduce_step_latency_s)
        if overrides is not None:
            values.update(overrides.model_dump(exclude_none=True))
        return EfficiencyCurves(**values)


class HardwareRow(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)   # an infinite price or bandwidth is a typo
    name: str
    display_name: str = ""
    vendor: str = ""
    memory_gb: float = Field(gt=0)
    memory_reported_gib: float | None = Field(default=None, gt=0, description="total memory the driver reports "
                                              "(torch.cuda.mem_get_info), GiB; what engines size against. Default: "
                                              "memory_gb x 1e9 bytes")
    memory_reported_source: str = ""
    memory_bandwidth_tb_s: float = Field(gt=0)
    bf16_dense_tflops: float = Field(gt=0)
    fp8_dense_tflops: float | None = Field(default=None, gt=0)
    fp4_dense_tflops: float | None = Field(default=None, gt=0, description="dense FP4 (NVFP4) tensor rate; "
                                           "none: fp4 weights compute at the bf16 rate (W4A16)")
    fp32_tflops: float | None = Field(default=None, gt=0, description="FP32 (non-tensor) rate; CPU profiles use it")
    exp_tera_per_s: float | None = Field(default=None, gt=0, description="exponentials per second of the special "
                                         "function units, 1e12/s (softmax); attention runs no faster than this "
                                         "x 4 x head_dim FLOP/s; none: no such bound")
    sm_count: int = Field(gt=0)
    l2_mb: float = Field(ge=0)
    interconnect_gb_s: float = Field(gt=0)
    interconnect_kind: Literal["fabric", "pcie"] = Field(default="fabric", description="fabric: a GPU-to-GPU link "
                                                         "(NVLink/NVSwitch, xGMI, ICI); pcie: GPUs talk over PCIe")
    internode_gb_s: float | None = Field(default=None, gt=0, description="scale-out link per GPU, GB/s")
    gpus_per_node: int | None = Field(default=None, ge=1, description="GPUs on one interconnect domain")
    host_link_gb_s: float | None = Field(default=None, gt=0, description="GPU-host link per direction, GB/s")
    host_memory_gb_per_gpu: float | None = Field(default=None, ge=0, description="host memory for KV offload")
    on_demand_usd_per_gpu_hour: float = Field(ge=0)
    reserved_usd_per_gpu_hour: float | None = Field(default=None, ge=0)
    spot_usd_per_gpu_hour: float | None = Field(default=None, ge=0)
    efficiency: CurvesRow | None = None
    verified: bool = False
    source: str
    device_kind: Literal["gpu", "cpu"] = Field(default="gpu", description="cpu: calibrated on a CPU (a test device)")

    def to_profile(self, defaults: HardwareDefaults) -> HardwareProfile:
        return HardwareProfile(
            name=self.name, display_name=self.display_name, vendor=self.vendor,
            memory_bytes=(self.memory_reported_gib * 2**30 if self.memory_reported_gib is not None
                          else self.memory_gb * 1e9),
            memory_bandwidth_bytes_per_s=self.memory_bandwidth_tb_s * 1e12,
            bf16_flops_per_s=self.bf16_dense_tflops * 1e12,
            fp8_flops_per_s=self.fp8_dense_tflops * 1e12 if self.fp8_dense_tflops else None,
            fp4_flops_per_s=self.fp4_dense_tflops * 1e12 if self.fp4_dense_tflops else None,
            exp_per_s=self.exp_tera_per_s * 1e12 if self.exp_tera_per_s else None,
            fp32_flops_per_s=(self.fp32_tflops * 1e12 if self.fp32_tflops
                              else self.bf16_dense_tflops * 1e12 * defaults.fp32_fraction_of_bf16_when_unknown),
            sm_count=self.sm_count, l2_bytes=self.l2_mb * 1e6,
            interconnect_bytes_per_s=self.interconnect_gb_s * 1e9,
            internode_bytes_per_s=(self.internode_gb_s or defaults.internode_gb_s) * 1e9,
            gpus_per_node=self.gpus_per_node or defaults.gpus_per_node,
            host_link_bytes_per_s=(self.host_link_gb_s or defaults.host_link_gb_s) * 1e9,
            host_memory_bytes=(self.host_memory_gb_per_gpu if self.host_memory_gb_per_gpu is not None
                               else defaults.host_memory_gb_per_gpu) * 1e9,
            on_demand_usd_per_gpu_hour=self.on_demand_usd_per_gpu_hour,
            reserved_usd_per_gpu_hour=(self.reserved_usd_per_gpu_hour if self.reserved_usd_per_gpu_hour is not None
                                       else self.on_demand_usd_per_gpu_hour * defaults.reserved_price_ratio),
            spot_usd_per_gpu_hour=(self.spot_usd_per_gpu_hour if self.spot_usd_per_gpu_hour is not None
                                   else self.on_demand_usd_per_gpu_hour * defaults.spot_price_ratio),
            curves=defaults.curves(self.efficiency, self.interconnect_kind),
            source=self.source, verified=self.verified, device_kind=self.device_kind,
        )
