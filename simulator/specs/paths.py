"""One path policy for every value that may name a file: models, hardware profiles, traces, lengths.

A scenario names files in a few fields (marked once in the schema with `x-ctxplan-path`):

    kind      fields (e.g.)                                   a catalog name?   a file?
    model     deployments[0].model, deployments[0].llm.model   yes               config.json / model YAML
    hardware  ...hardware, prefill_pool.hardware, rerank...    yes (or upload)   profile YAML
    file      workload.arrival.path, *.path (empirical)        no                CSV

`PathPolicy.cli(base_dir)` lets files be read: a relative path resolves against the scenario's
folder first, then the current directory; absolute paths are allowed. `PathPolicy.service(names)`
opens nothing: a value must be a catalog name (or, for hardware, one of `names`, the uploaded
profiles). `path_values(spec)` walks a validated spec by the schema markers, so a field added later
with a marker is checked without anyone listing it; `check_service_paths` refuses the first bad one.

Every user-named file is opened by `read_user_text`/`read_text_file` here: a directory, a file that
is not UTF-8 and a missing file are one-line `InputError`s, and no error ever quotes the file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from simulator.errors import InputError

PATH_MARKER = "x-ctxplan-path"


class PathKind(str, Enum):
    MODEL = "model"
    HARDWARE = "hardware"
    FILE = "file"


def _marked(kind: PathKind, description: str) -> Any:
    return Field(description=description, json_schema_extra={PATH_MARKER: kind.value})


ModelRef = Annotated[str, _marked(PathKind.MODEL, "catalog name, config.json (or a folder holding one) or "
                                                  "model YAML path")]
HardwareRef = Annotated[str, _marked(PathKind.HARDWARE, "catalog name or profile YAML path")]
OptionalHardwareRef = Annotated[str | None, _marked(PathKind.HARDWARE, "catalog name or profile YAML path")]
FileRef = Annotated[str, _marked(PathKind.FILE, "CSV file path")]

_SAFE_TOKEN = re.compile(r"[\w.+\- ]{1,40}")


def safe_token(text: object) -> str | None:
    """`text` if it is short and plain (a column name, a number), else None: error messages quote only these."""
    text = str(text)
    return text if _SAFE_TOKEN.fullmatch(text) and ":" not in text else None


def looks_like_path(value: str) -> bool:
    return "/" in value or "\\" in value or value.endswith((".yaml", ".yml", ".json", ".csv")) \
        or value.startswith(("~", "."))


# ----- the policy ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PathPolicy:
    """Whether files may be opened, and where relative paths resolve.

    allow_files=False (the service): nothing is opened; `extra_hardware` names (uploaded
    profiles) are accepted beside the catalog. allow_files=True (the CLI): relative paths try
    `base_dir` (the scenario's folder) first, then the current directory.
    """
    allow_files: bool = True
    base_dir: Path | None = None
    extra_hardware: frozenset[str] = frozenset()

    @classmethod
    def cli(cls, base_dir: Path | str | None = None) -> "PathPolicy":
        return cls(True, Path(base_dir) if base_dir is not None else None)

    @classmethod
    def service(cls, extra_hardware: Iterable[str] = ()) -> "PathPolicy":
        return cls(False, None, frozenset(extra_hardware))

    def check(self, value: str, field: str, kind: PathKind | str) -> None:
        """Refuse `value` under this policy (only the service refuses: a value that is no known name)."""
        if self.allow_files:
            return
        kind = PathKind(kind)
        known = _known_names(kind, self.extra_hardware)
        if value in known or value.strip().lower() in known:
            return
        allowed = {PathKind.MODEL: "a catalog model name",
                   PathKind.HARDWARE: "a catalog name or an uploaded profile",
                   PathKind.FILE: "inline values (files cannot be read by the service)"}[kind]
        if kind is PathKind.FILE or looks_like_path(value) or not value.strip():
            raise InputError("server-side file paths are not accepted", field=field, value=value, allowed=allowed)
        import difflib
        close = difflib.get_close_matches(value.strip().lower(), sorted(known), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"unknown {kind.value}{hint}", field=field, value=value, allowed=allowed)

    def locate(self, value: str, field: str, kind: PathKind | str) -> Path:
        """The file `value` names: existing, not a directory (a model folder means its config.json)."""
        kind = PathKind(kind)
        if not self.allow_files:
            raise InputError("server-side file paths are not accepted", field=field, value=value,
                             allowed="a catalog name or an uploaded profile" if kind is not PathKind.FILE
                             else "inline values (files cannot be read by the service)")
        try:
            path = Path(value).expanduser()
        except RuntimeError:                       # "~nosuchuser/x"
            path = Path(value)
        if not path.is_absolute() and self.base_dir is not None \
                and path_state(self.base_dir / path) in ("file", "dir"):
            path = self.base_dir / path
        return existing_file(path, field, kind)


def as_policy(base_dir: "Path | str | PathPolicy | None") -> PathPolicy:
    """Callers pass a scenario folder (CLI) or a policy; both mean a policy here."""
    return base_dir if isinstance(base_dir, PathPolicy) else PathPolicy.cli(base_dir)


def _known_names(kind: PathKind, extra_hardware: frozenset[str]) -> set[str]:
    from simulator.catalog import hardware_names, model_names
    if kind is PathKind.MODEL:
        return set(model_names())
    if kind is PathKind.HARDWARE:
        return set(hardware_names()) | set(extra_hardware)
    return set()


# ----- reading ------------------------------------------------------------------------------

def path_state(path: Path) -> str:
    """'file', 'dir', 'missing', or why it cannot be looked at (a name too long, no permission): never raises."""
    try:
        if path.is_dir():
            return "dir"
        return "file" if path.exists() else "missing"
    except (OSError, ValueError) as exc:        # ENAMETOOLONG, EACCES, a NUL byte in the name
        return getattr(exc, "strerror", None) or "invalid path"


def _name(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 200 else text[:100] + "..." + text[-40:]


def existing_file(path: Path, field: str | None, kind: PathKind | str = PathKind.FILE) -> Path:
    """`path` if it is a readable regular file; a Hugging Face model folder means its config.json."""
    kind = PathKind(kind)
    state = path_state(path)
    if state == "dir":
        if kind is PathKind.MODEL and path_state(path / "config.json") == "file":
            return path / "config.json"
        allowed = {PathKind.MODEL: "a config.json, a folder holding one, or a model YAML",
                   PathKind.HARDWARE: "a profile YAML file", PathKind.FILE: "a CSV file"}[kind]
        raise InputError("is a directory", field=field, allowed=allowed, file=_name(path))
    if state == "missing":
        raise InputError("file not found", field=field, file=_name(path))
    if state != "file":
        raise InputError(f"cannot open: {state}", field=field, file=_name(path))
    return path


def read_text_file(path: Path, field: str | None = None, max_bytes: int | None = None) -> str:
    """The UTF-8 text of `path`; a missing, unreadable, oversized or binary file is one `InputError` line."""
    if path_state(path) == "dir":
        raise InputError("is a directory", field=field, allowed="a file", file=_name(path))
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1 if max_bytes is not None else -1)
    except FileNotFoundError:
        raise InputError("file not found", field=field, file=_name(path)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read file: {getattr(exc, 'strerror', None) or type(exc).__name__}", field=field,
                         file=_name(path)) from None
    if max_bytes is not None and len(raw) > max_bytes:
        raise InputError(f"larger than {max_bytes:,} bytes", field=field, file=_name(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", field=field, file=_name(path)) from None


def read_user_text(value: str, field: str, kind: PathKind | str, policy: PathPolicy) -> tuple[Path, str]:
    """Locate `value` under `policy` and read it: the one way a user-named file is opened."""
    path = policy.locate(value, field, kind)
    return path, read_text_file(path, field)


def read_csv_text(text: str, path: Path):
    """A pandas frame of CSV `text`; a parse error names the file and the problem, never a line of it."""
    import pandas as pd
    try:
        return pd.read_csv(io.StringIO(text))
    except pd.errors.EmptyDataError:
        raise InputError("malformed CSV: no columns", file=str(path)) from None
    except (pd.errors.ParserError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        found = re.search(r"line \d+", message)
        raise InputError(f"malformed CSV{' at ' + found.group(0) if found else ''}", file=str(path)) from None


def describe_columns(columns: Iterable[object]) -> str:
    """Column names for an error message: plain ones by name, the rest only counted."""
    columns = list(columns)
    plain = [c for c in map(safe_token, columns) if c is not None][:20]
    hidden = len(columns) - len(plain)
    return ", ".join(plain) + (f"{' and ' if plain else ''}{hidden} other column(s)" if hidden else "")


# ----- schema markers -----------------------------------------------------------------------

def field_kind(model: type[BaseModel], name: str) -> PathKind | None:
    extra = model.model_fields[name].json_schema_extra
    return PathKind(extra[PATH_MARKER]) if isinstance(extra, dict) and PATH_MARKER in extra else None


def _walk(node: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            value = getattr(node, name)
            dotted = f"{where}.{name}" if where else name
            kind = field_kind(type(node), name)
            if kind is not None:
                if isinstance(value, str):
                    yield dotted, kind.value, value
            else:
                yield from _walk(value, dotted)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            yield from _walk(item, f"{where}[{index}]")
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _walk(item, f"{where}.{key}" if where else str(key))


def path_values(spec: BaseModel) -> list[tuple[str, str, str]]:
    """(dotted field, kind, value) for every path-bearing field set in a validated spec, found by the markers."""
    return list(_walk(spec, ""))


def path_errors(spec: BaseModel, policy: PathPolicy) -> list[InputError]:
    """One `InputError` per path-bearing value `policy` refuses, in field order."""
    errors = []
    for field, kind, value in path_values(spec):
        try:
            policy.check(value, field, kind)
        except InputError as exc:
            errors.append(exc)
    return errors


def check_paths(spec: BaseModel, policy: PathPolicy) -> None:
    errors = path_errors(spec, policy)
    if errors:
        raise errors[0]


def check_service_paths(spec: BaseModel, extra_hardware: Iterable[str] = ()) -> None:
    """The service's rule: every path-bearing value is a catalog name (hardware: or an uploaded profile)."""
    check_paths(spec, PathPolicy.service(extra_hardware))


def check_service_value(value: str, field: str, kind: PathKind | str, extra_hardware: Iterable[str] = ()) -> None:
    """The same rule for one value outside a spec (a plan's candidate hardware, a swept value)."""
    PathPolicy.service(extra_hardware).check(value, field, kind)
