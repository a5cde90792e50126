"""Model and hardware catalogs: data files with sources, their loaders, and name-or-path resolution.

`resolve_model("llama-3.1-8b")` returns the catalog entry; `resolve_model("./config.json")` imports a
Hugging Face config; `resolve_model("./my-model.yaml")` reads one entry in the catalog's format.
`resolve_hardware` does the same for accelerators (a YAML file may name a `base:` catalog entry and
override any field, which is how calibrated profiles are stored).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.errors import InputError, unknown_name_error
from simulator.hardware import EfficiencyCurves, HardwareProfile
from simulator.model import AttentionKind, ModelSpec, WindowKind

CATALOG_DIR = Path(__file__).resolve().parent


class ModelRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
    model_config = ConfigDict(extra="forbid")
    matmul_efficiency_max: float = Field(gt=0, le=1)
    matmul_half_saturation_tokens: float = Field(ge=0)
    attention_efficiency_max: float = Field(gt=0, le=1)
    attention_half_saturation_tokens: float = Field(ge=0)
    bandwidth_efficiency: float = Field(gt=0, le=1)
    iteration_overhead_s: float = Field(ge=0)
    allreduce_latency_s: float = Field(ge=0)
    interconnect_efficiency: float = Field(gt=0, le=1)


class HardwareDefaults(CurvesRow):
    reserved_price_ratio: float = Field(gt=0, le=1)
    spot_price_ratio: float = Field(gt=0, le=1)
    source: str


class HardwareRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    display_name: str = ""
    vendor: str = ""
    memory_gb: float = Field(gt=0)
    memory_bandwidth_tb_s: float = Field(gt=0)
    bf16_dense_tflops: float = Field(gt=0)
    fp8_dense_tflops: float | None = Field(default=None, gt=0)
    sm_count: int = Field(gt=0)
    l2_mb: float = Field(ge=0)
    interconnect_gb_s: float = Field(gt=0)
    on_demand_usd_per_gpu_hour: float = Field(ge=0)
    reserved_usd_per_gpu_hour: float | None = Field(default=None, ge=0)
    spot_usd_per_gpu_hour: float | None = Field(default=None, ge=0)
    efficiency: CurvesRow | None = None
    verified: bool = False
    source: str

    def to_profile(self, defaults: HardwareDefaults) -> HardwareProfile:
        curves = self.efficiency or defaults
        return HardwareProfile(
            name=self.name, display_name=self.display_name, vendor=self.vendor,
            memory_bytes=self.memory_gb * 1e9,
            memory_bandwidth_bytes_per_s=self.memory_bandwidth_tb_s * 1e12,
            bf16_flops_per_s=self.bf16_dense_tflops * 1e12,
            fp8_flops_per_s=self.fp8_dense_tflops * 1e12 if self.fp8_dense_tflops else None,
            sm_count=self.sm_count, l2_bytes=self.l2_mb * 1e6,
            interconnect_bytes_per_s=self.interconnect_gb_s * 1e9,
            on_demand_usd_per_gpu_hour=self.on_demand_usd_per_gpu_hour,
            reserved_usd_per_gpu_hour=(self.reserved_usd_per_gpu_hour if self.reserved_usd_per_gpu_hour is not None
                                       else self.on_demand_usd_per_gpu_hour * defaults.reserved_price_ratio),
            spot_usd_per_gpu_hour=(self.spot_usd_per_gpu_hour if self.spot_usd_per_gpu_hour is not None
                                   else self.on_demand_usd_per_gpu_hour * defaults.spot_price_ratio),
            curves=EfficiencyCurves(**{f: getattr(curves, f) for f in CurvesRow.model_fields}),
            source=self.source, verified=self.verified,
        )


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InputError(f"{where}malformed YAML: {getattr(exc, 'problem', exc)}", file=str(path)) from None


def validation_error_to_input_error(exc: ValidationError, file: str | None, prefix: str = "") -> InputError:
    """First pydantic error as one `InputError` line: dotted field path, value, and the rule."""
    err = exc.errors()[0]
    field = ""
    for part in (prefix, *err["loc"]):
        if isinstance(part, int):
            field += f"[{part}]"
        elif part != "":
            field += f".{part}" if field else str(part)
    value = err.get("input")
    show_value = value if isinstance(value, (int, float, str, bool)) or value is None else None
    message = err["msg"]
    extra = f" (and {exc.error_count() - 1} more error(s))" if exc.error_count() > 1 else ""
    return InputError(message + extra, field=field or None, value=show_value, file=file)


@functools.lru_cache(maxsize=1)
def _model_rows() -> dict[str, ModelRow]:
    data = _read_yaml(CATALOG_DIR / "models.yaml")
    return {row["name"]: ModelRow.model_validate(row) for row in data["models"]}


@functools.lru_cache(maxsize=1)
def _hardware_catalog() -> tuple[HardwareDefaults, dict[str, HardwareRow]]:
    data = _read_yaml(CATALOG_DIR / "hardware.yaml")
    defaults = HardwareDefaults.model_validate(data["defaults"])
    return defaults, {row["name"]: HardwareRow.model_validate(row) for row in data["hardware"]}


def model_names() -> list[str]:
    return list(_model_rows())


def hardware_names() -> list[str]:
    return list(_hardware_catalog()[1])


def model_rows() -> list[ModelRow]:
    return list(_model_rows().values())


def hardware_rows() -> list[HardwareRow]:
    return list(_hardware_catalog()[1].values())


def hardware_defaults() -> HardwareDefaults:
    return _hardware_catalog()[0]


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.endswith((".yaml", ".yml", ".json"))


def resolve_model(name_or_path: str, field: str = "model", base_dir: Path | None = None) -> ModelSpec:
    """A catalog model by name, or a model file: Hugging Face config.json or a catalog-format YAML entry."""
    rows = _model_rows()
    key = name_or_path.strip().lower()
    if key in rows:
        return rows[key].to_spec()
    if not _looks_like_path(name_or_path):
        raise unknown_name_error("model", name_or_path, rows, field)
    path = _resolve_path(name_or_path, base_dir)
    if path.suffix == ".json":
        from simulator.catalog.hf_config import model_from_hf_config
        try:
            config = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError("file not found", field=field, file=str(path)) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON at line {exc.lineno}: {exc.msg}", file=str(path)) from None
        return model_from_hf_config(config, name=path.parent.name or path.stem, file=str(path))
    data = _read_yaml(path)
    data = data.get("model", data) if isinstance(data, dict) else data
    try:
        return ModelRow.model_validate(data).to_spec()
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path)) from None
    except ValueError as exc:
        raise InputError(str(exc), file=str(path)) from None


def resolve_hardware(name_or_path: str, field: str = "hardware", base_dir: Path | None = None) -> HardwareProfile:
    """A catalog accelerator by name, or a profile YAML (optionally `base: NAME` plus overrides)."""
    defaults, rows = _hardware_catalog()
    key = name_or_path.strip().lower()
    if key in rows:
        return rows[key].to_profile(defaults)
    if not _looks_like_path(name_or_path):
        raise unknown_name_error("hardware", name_or_path, rows, field)
    path = _resolve_path(name_or_path, base_dir)
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise InputError("a hardware profile must be a YAML mapping", file=str(path))
    data = dict(data.get("hardware", data))
    base = data.pop("base", None)
    if base is not None:
        if str(base).lower() not in rows:
            raise unknown_name_error("hardware", str(base), rows, "base").in_file(str(path))
        merged = rows[str(base).lower()].model_dump(exclude_none=True)
        merged.update(data)
        data = merged
    data.setdefault("name", path.stem)
    data.setdefault("source", f"profile file {path.name}")
    for ignored in ("calibration", "fit", "measurements"):
        data.pop(ignored, None)   # calibration metadata written beside the profile fields
    try:
        return HardwareRow.model_validate(data).to_profile(defaults)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path)) from None


def _resolve_path(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None and not path.exists():
        candidate = base_dir / path
        if candidate.exists():
            return candidate
    return path
