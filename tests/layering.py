"""Static import graph of a package tree (AST, nothing imported): the edges the layering rules check."""

from __future__ import annotations

import ast
from pathlib import Path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, top_level_only: bool) -> set[str]:
    """Modules `path` imports (absolute names); with `top_level_only`, those run at import time."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:          # imports under `if TYPE_CHECKING:` do not run
        nodes = [n for n in nodes if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))]
        nodes = [c for n in nodes for c in (ast.walk(n) if isinstance(n, (ast.If, ast.Try)) else [n])]
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph(root: Path, top_level_only: bool = False) -> dict[str, set[str]]:
    """module -> the modules of the same tree it imports."""
    paths = {module_name(root, p): p for p in root.rglob("*.py")}
    return {name: {m for m in imports_of(path, name, top_level_only) if m in paths and m != name}
            for name, path in paths.items()}


def violations(edges: dict[str, set[str]], forbidden: dict[str, tuple[str, ...]]) -> list[str]:
    """'a -> b' for every edge from a package in `forbidden` into one it must not import."""
    out = []
    for source, targets in sorted(edges.items()):
        for prefix, banned in forbidden.items():
            if source == prefix or source.startswith(prefix + "."):
                out += [f"{source} -> {t}" for t in sorted(targets)
                        if any(t == b or t.startswith(b + ".") for b in banned)]
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out
