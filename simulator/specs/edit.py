"""One scenario editor: `edit(spec, "workload.arrival.rate_per_s", 2.0)` is a copy with one field set.

It works on validated specs (pydantic models: each model on the path is copied with
`model_copy(update=...)`, which does not re-validate, so a caller that needs validation validates
the result) and on scenario documents (dicts and lists as read from YAML: the containers on the
path are copied, the rest is shared, so the input is never changed). A list item is addressed by
its index or by its `name` (`deployments.rag-8b.replicas`). A dict path may name a block the file
left out (it is created); a model path may not (a missing field is an input error naming it).

Used by sweeps (`planning.sweep`), the planner's points, compare's capacity probes, crossover and
reports, so that "change one field of a scenario" is written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from simulator.errors import InputError


REMOVE = object()
"""The value that removes a key from a document (`edit(doc, "workload.horizon_s", REMOVE)`); a validated
spec's fields cannot be removed, only set (to None where the field allows it)."""


def edit(target: Any, path: str, value: Any) -> Any:
    """A copy of `target` with the field at dotted `path` set to `value` (or removed: `REMOVE`)."""
    parts = path.split(".")
    if not path or any(not part for part in parts):
        raise InputError("empty part in a field path", field="path", value=path, allowed="names joined by dots")
    return _edit(target, parts, 0, value)


def edit_many(target: Any, values: Mapping[str, Any]) -> Any:
    """`edit` for several paths, applied in order."""
    for path, value in values.items():
        target = edit(target, path, value)
    return target


def _edit(node: Any, parts: list[str], depth: int, value: Any) -> Any:
    part, last = parts[depth], depth == len(parts) - 1
    where = ".".join(parts[:depth + 1])
    if isinstance(node, BaseModel):
        fields = type(node).model_fields
        if part not in fields:
            raise InputError("no such field", field=where, allowed=", ".join(sorted(fields)))
        if value is REMOVE and last:
            raise InputError("a field of a validated scenario cannot be removed; set it", field=where)
        child = getattr(node, part)
        if not last and child is None:
            raise InputError("this block is not set in the scenario", field=where)
        return node.model_copy(update={part: value if last else _edit(child, parts, depth + 1, value)})
    if isinstance(node, (list, tuple)):
        if value is REMOVE and last:
            raise InputError("list items cannot be removed", field=where)
        key = _item_index(node, part, where)
        items = list(node)
        items[key] = value if last else _edit(items[key], parts, depth + 1, value)
        return items if isinstance(node, list) else tuple(items)
    if isinstance(node, dict):
        copied = dict(node)
        if last and value is REMOVE:
            copied.pop(part, None)
        elif last:
            copied[part] = value
        else:
            child = node.get(part)
            copied[part] = _edit({} if child is None else child, parts, depth + 1, value)   # a block left out
        return copied
    raise InputError("not a mapping or list", field=".".join(parts[:depth]) or "path",
                     value=type(node).__name__)


def _item_index(items: list | tuple, part: str, where: str) -> int:
    if part.isdigit() and int(part) < len(items):
        return int(part)
    names = [item.get("name") if isinstance(item, dict) else getattr(item, "name", None) for item in items]
    if part not in names:
        raise InputError(f"no item {part!r} in this list", field=where,
                         allowed=f"0..{len(items) - 1} or one of {names}")
    return names.index(part)
