"""docs/architecture.md names only what exists: every file path, every module in the package table,
and every dotted name (module, then attribute) it cites from the simulator; the README links it."""

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
ROOTS = ("simulator/", "api/", "kernels/", "tests/", "benchmarks/", "docs/")
PACKAGES = ("engine", "costs", "specs", "workloads", "comparisons", "planning", "results", "catalog")


def ticked(text: str) -> list[str]:
    return re.findall(r"`([^`\s]+)`", text)


def missing_paths(text: str) -> list[str]:
    missing = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]] if line.startswith("|") else []
        base = ticked(cells[0])[0] if cells and ticked(cells[0]) else ""
        for token in ticked(line):
            path = token.split("(")[0].rstrip(":,.")
            if path.startswith(ROOTS):
                target = ROOT / path
            elif base.startswith(ROOTS) and re.fullmatch(r"[\w*]+\.py|[\w]+/", path) and path != base:
                target = ROOT / base / path
            else:
                continue
            if "*" in path:
                if not list(target.parent.glob(target.name)):
                    missing.append(path)
            elif not target.exists():
                missing.append(str(target.relative_to(ROOT)))
    return missing


def missing_names(text: str) -> list[str]:
    missing = []
    for token in ticked(text):
        name = token.split("(")[0]
        if not re.fullmatch(rf"({'|'.join(PACKAGES)})(\.\w+)+", name):
            continue
        parts = ("simulator." + name).split(".")
        for cut in range(len(parts), 1, -1):           # longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                missing.append(name)
            break
        else:
            missing.append(name)
    return missing


def test_architecture_doc_names_only_what_exists():
    text = DOC.read_text()
    assert len(ticked(text)) > 80
    assert missing_paths(text) == []
    assert missing_names(text) == []


def test_the_checker_catches_a_stale_name():
    text = ("| `simulator/engine/` | `gone.py`, `replica.py` |\n"
            "see `simulator/nowhere.py` and `engine.replica.NoSuchThing`, `engine.replica.ReplicaEngine`\n")
    assert missing_paths(text) == ["simulator/engine/gone.py", "simulator/nowhere.py"]
    assert missing_names(text) == ["engine.replica.NoSuchThing"]


def test_readme_links_the_architecture_doc():
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()
