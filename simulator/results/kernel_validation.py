"""Measured versus predicted kernel times: error statistics per op family and overall.

Errors are absolute percentage errors |predicted - measured| / measured x 100. Rows whose op
the model does not price are counted in `unpriced`, never silently dropped.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from simulator.costs.hardware import HardwareProfile
from simulator.costs.kernel_model import predict_s
from simulator.specs.measurements import PRICED_OPS, MeasurementRow


def _error_stats(errors: list[float]) -> dict:
    if not errors:
        return {"n": 0, "median_abs_pct_error": None, "p90_abs_pct_error": None}
    data = np.asarray(errors)
    return {"n": int(data.size), "median_abs_pct_error": float(np.median(data)),
            "p90_abs_pct_error": float(np.percentile(data, 90))}


def validate_rows(profile: HardwareProfile, rows: list[MeasurementRow], num_worst: int = 5) -> dict:
    by_op: dict[str, list[float]] = {}
    unpriced: Counter = Counter()
    scored = []
    for index, row in enumerate(rows):
        predicted = predict_s(row, profile)
        if predicted is None:
            unpriced[row.op] += 1
            continue
        error = abs(predicted - row.measured_s) / row.measured_s * 100.0
        by_op.setdefault(row.op, []).append(error)
        scored.append((error, index, row, predicted))
    scored.sort(key=lambda item: (-item[0], item[1]))
    worst = [{"row": index + 1, "op": row.op, "shape": _shape(row), "dtype": row.dtype,
              "measured_s": row.measured_s, "predicted_s": predicted, "abs_pct_error": error}
             for error, index, row, predicted in scored[:num_worst]]
    all_errors = [e for errors in by_op.values() for e in errors]
    return {
        "hardware": profile.name,
        "overall": _error_stats(all_errors),
        "by_op": {op: _error_stats(by_op[op]) for op in PRICED_OPS if op in by_op},
        "unpriced": dict(sorted(unpriced.items())),
        "num_unpriced": sum(unpriced.values()),
        "worst_rows": worst,
    }


def _shape(row: MeasurementRow) -> str:
    if row.op == "matmul":
        return f"m={row.m} n={row.n} k={row.k}"
    if row.op.startswith("attention"):
        q = row.q_len if row.op == "attention_prefill" else 1
        return (f"b={row.batch_size} hq={row.num_q_heads} hkv={row.num_kv_heads} d={row.head_dim} "
                f"q={q} kv={row.kv_len}")
    if row.op == "allreduce":
        return f"bytes={row.bytes:.0f} gpus={row.num_gpus}"
    return f"bytes={row.bytes:.0f}" if row.bytes else ""
