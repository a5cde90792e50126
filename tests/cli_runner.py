"""Run the `ctxplan` console entry point in-process and capture what a user would see."""

import contextlib
import io
from dataclasses import dataclass

from api.cli import app
from api.cli_common import run_app


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def ctxplan(*args) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_app(app, [str(a) for a in args])
    return Outcome(code, out.getvalue(), err.getvalue())


def small_scenario(name: str) -> dict:
    """A 20-request serving scenario that runs in well under a second."""
    return {
        "name": name, "seed": 7,
        "workload": {"num_requests": 20, "arrival": {"process": "poisson", "rate_per_s": 4.0},
                     "prompt_tokens": {"dist": "lognormal", "median": 600, "sigma": 0.6, "max": 8000},
                     "output_tokens": {"dist": "lognormal", "median": 120, "sigma": 0.5, "max": 1000}},
        "slo": {"ttft_s": 1.0, "tpot_s": 0.1},
        "deployments": [{"name": "h100", "model": "llama-3.1-8b", "hardware": "h100-sxm"}],
    }
