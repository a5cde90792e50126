"""A pydantic `ValidationError` from a file a user wrote, as one `InputError` line, most specific error first.

A typo in a key makes pydantic report two errors at the same place, and the one that names the typo is
not the first:

    workload.arrival.poisson.rate_per_s: Field required
    workload.arrival.poisson.rate_per_sec: Extra inputs are not permitted

The line says instead `workload.arrival.poisson: unknown field 'rate_per_sec'; did you mean
'rate_per_s'?` and leaves out the missing field the suggestion accounts for. Unknown fields come first,
then wrong values, then missing fields; further errors follow on the same line after "; ".

The suggestions need the fields the model allows at the error's location. A `ValidationError` carries
only the model's name (`title`), so the model is given by the caller or found by that name among the
simulator's pydantic models; the location is then followed through the field annotations (lists by
index, mappings by key, a tagged union by the tag pydantic puts in the location).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from simulator.errors import InputError, closest_names
from simulator.specs.paths import safe_token

MAX_LISTED_ERRORS = 3          # errors spelled out on the line; the rest are counted
MAX_LISTED_FIELDS = 12         # an unknown field with no close match lists the allowed ones up to this many


def validation_error_to_input_error(exc: ValidationError, file: str | None, prefix: str = "",
                                    show_text: bool = True, model: type[BaseModel] | None = None) -> InputError:
    """`exc` as one `InputError`: its first (most specific) error sets field and value, the rest follow.

    show_text=False quotes a string value or key only when it is a short plain token (data read from a
    file a user named, which may be any file on the machine).
    """
    model = model or _model_named(exc.title)
    errors = [_Phrase.of(err, prefix, show_text) for err in exc.errors()]
    unknown = [e for e in errors if e.kind == "extra_forbidden"]
    missing = [e for e in errors if e.kind == "missing"]
    for err in unknown:
        siblings = [m.name for m in missing if m.parent == err.parent]
        known = known_fields(model, err.parent) if model is not None else []
        err.message, meant = _unknown_field(err.name, known or siblings, show_text)
        missing = [m for m in missing if not (m.parent == err.parent and m.name == meant)]
    others = [e for e in errors if e.kind not in ("extra_forbidden", "missing")]
    first, *rest = unknown + others + missing
    phrases = [str(err.as_error()) for err in rest[:MAX_LISTED_ERRORS - 1]]
    if len(rest) > len(phrases):
        phrases.append(f"and {len(rest) - len(phrases)} more error(s)")
    return first.as_error(file, also=tuple(phrases))


@dataclass(slots=True)
class _Phrase:
    """One pydantic error on its way to a phrase: an unknown field is located at its parent."""
    kind: str
    parent: tuple                 # the location of the mapping that holds the field
    name: str | int
    field: str | None
    message: str
    value: Any

    @classmethod
    def of(cls, err: dict, prefix: str, show_text: bool) -> "_Phrase":
        loc = tuple(err["loc"]) or ("",)
        parent, name = loc[:-1], loc[-1]
        if err["type"] == "extra_forbidden":
            return cls(err["type"], parent, name, _dotted(prefix, parent, show_text), "unknown field", None)
        value = err.get("input")
        shown = value if isinstance(value, (int, float, str, bool)) or value is None else None
        if not show_text and isinstance(shown, str):
            shown = safe_token(shown)
        return cls(err["type"], parent, name, _dotted(prefix, loc, show_text), err["msg"], shown)

    def as_error(self, file: str | None = None, also: tuple[str, ...] = ()) -> InputError:
        return InputError(self.message, field=self.field, value=self.value, file=file, also=also)


def _dotted(prefix: str, loc: tuple, show_text: bool) -> str | None:
    field = ""
    for part in (prefix, *loc):
        if not show_text and isinstance(part, str) and part and safe_token(part) is None:
            part = "<key>"            # a mapping key read from the file
        if isinstance(part, int):
            field += f"[{part}]"
        elif part != "":
            field += f".{part}" if field else str(part)
    return field or None


def _unknown_field(name: str | int, known: list, show_text: bool) -> tuple[str, str | None]:
    """(`unknown field 'X'; did you mean 'Y'?`, Y), or the allowed fields and None when none is close."""
    name = str(name)
    if not show_text and safe_token(name) is None:
        return "unknown field <key>", None
    close = closest_names(name, [str(k) for k in known], n=1)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?", close[0]
    if known and len(known) <= MAX_LISTED_FIELDS:
        return f"unknown field {name!r}; allowed: {', '.join(map(str, known))}", None
    return f"unknown field {name!r}", None


# ----- the fields allowed at a location ----------------------------------------------------------

def known_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a file may write at `loc` (a pydantic error location) inside `model`; [] when unknown."""
    annotations: list[Any] = [model]
    for part in loc:
        annotations = [step for annotation in annotations for step in _step(annotation, part)]
    names = {info.alias or name for annotation in annotations for member in _members(annotation)
             if _is_model(member) for name, info in member.model_fields.items()}
    return sorted(names)


def _members(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: `Annotated` and `Optional` unwrapped, unions flattened."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _step(annotation: Any, part: str | int) -> list[Any]:
    """The annotations one location part leads to from `annotation`."""
    found = []
    members = _members(annotation)
    for member in members:
        origin = get_origin(member)
        args = get_args(member)
        if _is_model(member) and isinstance(part, str):
            info = member.model_fields.get(part) or next(
                (i for i in member.model_fields.values() if i.alias == part), None)
            if info is not None:
                found.append(info.annotation)
        elif isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
            found.append(args[1])
        elif isinstance(part, int) and origin is not None and args:
            found.append(args[0])                   # list[X], tuple[X, ...], Sequence[X]
    if found:
        return found
    # a union's tag (or member class name) in the location names the member, not a field
    return [m for m in members if _is_model(m) and (m.__name__ == part or part in _literal_values(m))]


def _literal_values(model: type[BaseModel]) -> set:
    return {value for info in model.model_fields.values() if get_origin(info.annotation) is Literal
            for value in get_args(info.annotation)}


def _model_named(title: str) -> type[BaseModel] | None:
    """The simulator's pydantic model class called `title`, if exactly one is loaded."""
    found, pending = [], list(BaseModel.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__name__ == title and cls.__module__.startswith("simulator."):
            found.append(cls)
    return found[0] if len(set(found)) == 1 else None
