"""Kernel measurement files: the schema shared by `ctxplan calibrate` output and user-supplied data.

One row per timed kernel. `op` is one of `matmul`, `attention_prefill`, `attention_decode`,
`memcpy`, `allreduce` (other ops load and are reported as unpriced). Shape columns an op does not
use may be absent or empty; unknown extra columns are ignored; metadata columns (`device`,
`torch_version`, `backend`) and the spread (`p20_s`, `p80_s`) are optional.

    op                 shape columns it needs
    matmul             m, n, k                       (C[m,n] = A[m,k] @ B[k,n])
    attention_prefill  batch_size, num_q_heads, num_kv_heads, head_dim, q_len, kv_len, causal
    attention_decode   batch_size, num_q_heads, num_kv_heads, head_dim, kv_len  (q_len = 1)
                       (optional kv_lens "a;b;c" for a batch of mixed lengths; kv_len is then their mean)
    memcpy             bytes                         (size of the buffer copied)
    allreduce          bytes, num_gpus
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.errors import InputError

PRICED_OPS = ("matmul", "attention_prefill", "attention_decode", "memcpy", "allreduce")
REQUIRED_COLUMNS = {
    "matmul": ("m", "n", "k"),
    "attention_prefill": ("batch_size", "num_q_heads", "num_kv_heads", "head_dim", "q_len", "kv_len"),
    "attention_decode": ("batch_size", "num_q_heads", "num_kv_heads", "head_dim", "kv_len"),
    "memcpy": ("bytes",),
    "allreduce": ("bytes", "num_gpus"),
}
COLUMNS = ("op", "m", "n", "k", "batch_size", "num_q_heads", "num_kv_heads", "head_dim", "q_len", "kv_len",
           "causal", "bytes", "num_gpus", "dtype", "measured_s", "p20_s", "p80_s", "device", "torch_version",
           "backend", "kv_lens")


class MeasurementRow(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)
    op: str = Field(min_length=1)
    m: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1)
    k: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    num_q_heads: int | None = Field(default=None, ge=1)
    num_kv_heads: int | None = Field(default=None, ge=1)
    head_dim: int | None = Field(default=None, ge=1)
    q_len: int | None = Field(default=None, ge=1)
    kv_len: int | None = Field(default=None, ge=1)
    causal: bool | None = None
    bytes: float | None = Field(default=None, gt=0)
    num_gpus: int | None = Field(default=None, ge=1)
    dtype: Literal["fp32", "bf16", "fp16", "fp8"]
    measured_s: float = Field(gt=0)
    p20_s: float | None = Field(default=None, gt=0)
    p80_s: float | None = Field(default=None, gt=0)
    device: str | None = None
    torch_version: str | None = None
    backend: str | None = None
    kv_lens: str | None = None

    @model_validator(mode="after")
    def _shape_present(self):
        for column in REQUIRED_COLUMNS.get(self.op, ()):
            if getattr(self, column) is None:
                raise ValueError(f"op {self.op} needs column {column}")
        if self.op == "attention_prefill" and self.q_len > self.kv_len:
            raise ValueError(f"q_len ({self.q_len}) must be <= kv_len ({self.kv_len}): kv_len counts the new tokens")
        return self

    def decode_lengths(self) -> list[int]:
        """KV length of every sequence of a decode batch."""
        if self.kv_lens:
            return [int(x) for x in str(self.kv_lens).split(";") if x.strip()]
        return [self.kv_len] * self.batch_size


def _clean(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def load_measurements(path: str | Path) -> list[MeasurementRow]:
    """Read a CSV or Parquet measurement file; errors name the file, line and column."""
    from simulator.specs.paths import PathKind, PathPolicy, read_csv_text, read_text_file
    path = PathPolicy.cli().locate(str(path), "measurements", PathKind.FILE)
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read measurements: {type(exc).__name__}", file=str(path)) from None
    else:
        frame = read_csv_text(read_text_file(path), path)
    for column in ("op", "dtype", "measured_s"):
        if column not in frame.columns:
            raise InputError("missing column", field=column, file=str(path))
    rows = []
    for index, record in enumerate(frame.to_dict(orient="records")):
        data = {key: _clean(value) for key, value in record.items() if key in COLUMNS}
        if isinstance(data.get("causal"), str):
            data["causal"] = data["causal"].strip().lower() in ("true", "1", "yes")
        try:
            rows.append(MeasurementRow.model_validate(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or None
            raise InputError(f"line {index + 2}: {err['msg']}", field=field, file=str(path),
                             value=err.get("input") if field else None) from None
    if not rows:
        raise InputError("no measurement rows", file=str(path))
    return rows


def rows_to_frame(rows: list[MeasurementRow]) -> pd.DataFrame:
    return pd.DataFrame([r.model_dump() for r in rows], columns=list(COLUMNS))
