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
