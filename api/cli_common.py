"""What every `ctxplan` command shares: the Typer app, consoles, output formats, error handling.

Every error a user can cause ends as one line on stderr, `error: ...`, and exit code 2:
`user_errors` turns ctxplan's `CtxplanError`s raised inside a command into that line, and
`run_app` (the console script's runner) does the same for click's option-parsing errors, adding
the command's help hint. Anything else is a bug: `run_app` prints one `internal error` line that
says how to get the traceback (`CTXPLAN_DEBUG=1`) and exits 1, so it is never mistaken for a
rejected input.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated, get_args

import typer
import yaml
from rich.console import Console

from simulator.costs import costmodel
from simulator.specs import scenario as scenario_schema
from simulator.errors import CtxplanError, InputError

try:                                   # typer >= 0.23 vendors click; older ones use the click package
    from typer._click import exceptions as click_errors
except ImportError:                    # pragma: no cover
    from click import exceptions as click_errors

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Cost and capacity planner for serving long-context LLMs.")


def _print_version(value: bool) -> None:
    if value:
        from simulator import __version__        # the installed package's metadata (importlib.metadata)
        print(f"ctxplan {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                                   help="print the version and exit")] = False) -> None:
    pass                                          # the app's own help text stays the one given to typer.Typer


stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 220)   # pipes and files get wide tables
stderr = Console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


# the choices of scenario files (simulator.specs.scenario.KVDtype / WeightDtype, costmodel.AttentionImpl),
# as enums typer can show
AttentionImpl = Enum("AttentionImpl", {name: name for name in costmodel.ATTENTION_IMPLS}, type=str)
KVDtype = Enum("KVDtype", {name: name for name in get_args(scenario_schema.KVDtype)}, type=str)
WeightDtype = Enum("WeightDtype", {name: name for name in get_args(scenario_schema.WeightDtype)}, type=str)


def comma_list(values: list[str] | None) -> list[str]:
    """A repeatable list option's values, each also split at commas: `--hardware a,b` and
    `--hardware a --hardware b` give the same list (empty items dropped)."""
    return [item.strip() for value in values or () for item in value.split(",") if item.strip()]


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


DEBUG_VARIABLE = "CTXPLAN_DEBUG"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _usage_line(exc: click_errors.UsageError, command, argv: list[str]) -> str:
    message = _one_line(exc.format_message()).rstrip(".").replace(": Value error, ", ": ")
    message = message[:1].lower() + message[1:]
    return f"error: {message} (see '{_command_path(exc, command, argv)} --help')"


def _command_path(exc: click_errors.UsageError, command, argv: list[str]) -> str:
    """The command the error belongs to; errors raised while splitting the options (`--tp` with no
    value) carry no context, so then it is the subcommand the arguments name."""
    if exc.ctx is not None:
        return exc.ctx.command_path
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return f"ctxplan {first}" if first in getattr(command, "commands", {}) else "ctxplan"


def _plain_flags(command) -> None:
    """Show flags (`--exact`, `--capacity / --no-capacity`, `--help`) without a `<bool>` value in the help:
    they take none. typer's rich help prints an option's metavar in place of its type, so flags get ""."""
    context = typer.Context(command, **command.context_settings)
    for param in command.get_params(context):          # the help option too (created here and kept)
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _plain_flags(sub)


def run_app(typer_app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run `typer_app` as the `ctxplan` script does and return its exit code (2: bad input, 1: internal error)."""
    command = typer.main.get_command(typer_app)
    _plain_flags(command)
    try:
        result = command.main(args=argv, prog_name="ctxplan", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help())
        return 0
    except click_errors.UsageError as exc:          # unknown option, bad value, missing argument, bad choice
        print(_usage_line(exc, command, sys.argv[1:] if argv is None else argv), file=sys.stderr)
        return 2
    except click_errors.ClickException as exc:
        print(f"error: {_one_line(exc.format_message())}", file=sys.stderr)
        return exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 1
    except BrokenPipeError:                  # stdout closed early (`ctxplan models | head -1`): quietly stop
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())     # so the exit flush cannot fail again
        return 1
    except Exception as exc:                 # a bug: say so in one line, never as a rejected input
        if os.environ.get(DEBUG_VARIABLE):
            raise
        detail = _one_line(str(exc))[:200]
        print(f"error: internal error ({type(exc).__name__}{': ' + detail if detail else ''}); "
              f"rerun with {DEBUG_VARIABLE}=1 for the traceback", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def finite(low: float | None = None, *, above: bool = False):
    """A typer option callback that refuses NaN, infinities and values below `low` (at `low` too when `above`)."""
    allowed = "a finite number" + ("" if low is None else f" {'>' if above else '>='} {low:g}")

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value) or (low is not None and (value <= low if above else value < low)):
            raise typer.BadParameter(f"got {value!r}; allowed: {allowed}")
        return value
    return check


def output_dir(path: Path, option: str = "--out") -> Path:
    """`path` created as a folder we can write to, or a one-line `InputError` naming the option."""
    try:
        if path.exists() and not path.is_dir():
            raise InputError("is a file; give a folder", field=option, value=str(path))
        path.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=path, prefix=".ctxplan-write-check.").close()
    except OSError as exc:
        raise InputError(f"cannot write a folder there ({exc.strerror or exc})", field=option,
                         value=str(path)) from None
    return path


def output_file(path: Path, option: str) -> Path:
    """`path` as a file we can create (its folder is made), or a one-line `InputError` naming the option."""
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise InputError(f"cannot write there ({exc.strerror or exc})", field=option, value=str(path)) from None
    if is_dir:
        raise InputError("is a folder; give a file name", field=option, value=str(path))
    output_dir(path.parent, option)
    return path


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


