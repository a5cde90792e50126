"""What every `ctxplan` command shares: the Typer app, consoles, output formats, error handling."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import get_args

import typer
import yaml
from rich.console import Console

from simulator import scenario as scenario_schema
from simulator.errors import CtxplanError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Cost and capacity planner for serving long-context LLMs.")
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 220)   # pipes and files get wide tables
stderr = Console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


# the dtype choices of scenario files (simulator.scenario.KVDtype / WeightDtype), as enums typer can show
AttentionImpl = Enum("AttentionImpl", {name: name for name in ("flash", "naive")}, type=str)
KVDtype = Enum("KVDtype", {name: name for name in get_args(scenario_schema.KVDtype)}, type=str)
WeightDtype = Enum("WeightDtype", {name: name for name in get_args(scenario_schema.WeightDtype)}, type=str)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code=2)


def user_errors(func):
    """Turn ctxplan's input errors into one line on stderr and exit code 2."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CtxplanError as exc:
            _fail(str(exc))
    return wrapper


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


class _LazyProgress:
    """A progress bar on stderr that appears only once a run has taken more than a second."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.start = time.perf_counter()
        self.progress = None
        self.tasks: dict[int, int] = {}
        self.last_refresh = 0.0

    def __call__(self, index: int, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last_refresh < 0.1 and done < total:
            return
        self.last_refresh = now
        if self.progress is None:
            if now - self.start < 1.0:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=stderr, transient=True, auto_refresh=False)
            self.progress.start()
        if index not in self.tasks:
            self.tasks[index] = self.progress.add_task(self.names[index], total=total)
        self.progress.update(self.tasks[index], completed=done, refresh=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _write_outputs(out_dir: Path, result, spec_dict: dict) -> None:
    """records (Parquet and CSV), summary.json and the resolved scenario; each file replaced atomically."""
    import pandas as pd
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    for deployment in result.deployments:
        frame = deployment.records.copy()
        frame.insert(0, "deployment", deployment.name)
        frames.append(frame)
    records = pd.concat(frames, ignore_index=True)

    def atomic(name: str, write) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, out_dir / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    atomic("records.parquet", lambda p: records.to_parquet(p, index=False))
    atomic("records.csv", lambda p: records.to_csv(p, index=False))
    atomic("summary.json", lambda p: Path(p).write_text(json.dumps(result.to_json_dict(), indent=2) + "\n"))
    atomic("scenario.resolved.yaml", lambda p: Path(p).write_text(yaml.safe_dump(spec_dict, sort_keys=False)))


