"""Bounded YAML and nesting checks for text that users give (scenario files, profiles, request bodies).

`yaml.safe_load` composes nodes recursively, so a document nested 5,000 levels deep raises
`RecursionError`, and anchors let a few hundred bytes expand into a billion nodes once anything
walks the result (the "billion laughs"). `load_yaml_text` therefore first walks the parser's event
stream, which PyYAML produces iteratively, and counts:

    depth          open mappings/sequences      <= max_depth
    nodes          every node, an alias counting the whole subtree it stands for   <= max_nodes
    recursion      an alias to a collection that is still open is refused

and only then composes the document with `yaml.safe_load`. Errors are one line with the source,
line and column and the kind of problem; they never quote the text itself.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from simulator.errors import InputError

MAX_DEPTH = 64
MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_NODES = 2_000_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _problem(exc: yaml.YAMLError) -> str:
    """The kind of problem, with any quoted text taken out (it may be a line of the file)."""
    text = str(getattr(exc, "problem", None) or type(exc).__name__)
    return _QUOTED.sub("'...'", text).splitlines()[0][:120]


def yaml_error(exc: yaml.YAMLError, source: str | None) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return InputError(f"{where}malformed YAML: {_problem(exc)}", file=source)


def _mark(event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


def check_yaml_events(text: str, source: str | None, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Walk `yaml.parse` events (no recursion) and refuse deep, alias-expanding or recursive documents."""
    depth = 0
    sizes: dict[str, int] = {}          # anchor -> expanded node count of what it names
    open_frames: list[list] = []        # [anchor, node count so far] per open collection
    total = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > max_depth:
                    raise InputError(f"{_mark(event)}nested deeper than {max_depth} levels", file=source)
                open_frames.append([event.anchor, 1])
                total += 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
                anchor, size = open_frames.pop()
                if anchor is not None:
                    sizes[anchor] = size
                if open_frames:
                    open_frames[-1][1] += size
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                if isinstance(event, yaml.AliasEvent):
                    if any(frame[0] == event.anchor for frame in open_frames):
                        raise InputError(f"{_mark(event)}recursive alias", file=source)
                    size = sizes.get(event.anchor, 1)
                else:
                    size = 1
                    if event.anchor is not None:
                        sizes[event.anchor] = 1
                total += size
                if open_frames:
                    open_frames[-1][1] += size
            if total > max_nodes:
                raise InputError(f"{_mark(event)}more than {max_nodes:,} nodes (aliases counted expanded)",
                                 file=source)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, source) from None


def load_yaml_text(text: str, source: str | None = None, max_depth: int = MAX_DEPTH,
                   max_bytes: int | None = MAX_YAML_BYTES, max_nodes: int = MAX_NODES) -> Any:
    """`yaml.safe_load(text)` after the bounds above; any failure is one `InputError` line."""
    if max_bytes is not None and len(text) > max_bytes:
        raise InputError(f"larger than {max_bytes:,} bytes", file=source)
    check_yaml_events(text, source, max_depth, max_nodes)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, source) from None
    except (ValueError, OverflowError, TypeError) as exc:    # e.g. a timestamp out of range
        raise InputError(f"malformed YAML: {type(exc).__name__}", file=source) from None


def max_nesting_depth(data: Any, limit: int | None = None) -> int:
    """Deepest nesting of dicts/lists/tuples in parsed data (a scalar is 0), walked without recursion.

    With `limit`, stops early and returns limit + 1 as soon as that depth is passed.
    """
    deepest = 0
    stack = [(data, 1)] if isinstance(data, (dict, list, tuple)) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if limit is not None and deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))
    return deepest


def check_nesting_depth(data: Any, source: str | None = None, max_depth: int = MAX_DEPTH) -> None:
    """`InputError` when parsed data (e.g. a JSON body) nests deeper than `max_depth`."""
    if max_nesting_depth(data, max_depth) > max_depth:
        raise InputError(f"nested deeper than {max_depth} levels", file=source)
