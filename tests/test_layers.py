"""Layering: every module under `simulator/` (walked, not listed) imports no web framework, CLI, terminal,
database or torch package; the checker itself is shown to catch a forbidden import."""

import subprocess
import sys
import textwrap
from pathlib import Path

import layering

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("fastapi", "uvicorn", "starlette", "torch", "typer", "rich", "sqlalchemy")

CHECKER = textwrap.dedent("""
    import importlib, pkgutil, sys
    package = importlib.import_module(sys.argv[1])
    names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    for name in names:
        importlib.import_module(name)
    bad = sorted(m for m in sys.argv[2:] if m in sys.modules)
    print(len(names), " ".join(bad))
    sys.exit(1 if bad else 0)
""")


def check(package: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHECKER, package, *FORBIDDEN], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_no_simulator_module_imports_presentation_database_or_torch():
    done = check("simulator", ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    walked = int(done.stdout.split()[0])
    on_disk = len([p for p in (ROOT / "simulator").rglob("*.py") if p.name != "__init__.py"])
    assert walked >= on_disk            # every module file was imported (packages add their own entries)


def test_the_checker_catches_a_forbidden_import(tmp_path):
    package = tmp_path / "fakesim"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("")
    (package / "clean.py").write_text("import json\n")
    (package / "inner" / "leaky.py").write_text("import rich.table\n")    # deep in a subpackage
    done = check("fakesim", tmp_path)
    assert done.returncode == 1 and done.stdout.split()[1:] == ["rich"], done.stdout + done.stderr


# ----- edges between simulator packages (static: every import, lazy ones included) ------------------

CORE_MUST_NOT_IMPORT = ("simulator.specs", "simulator.planning", "simulator.comparisons", "simulator.results",
                        "simulator.workloads")
RULES = {
    "simulator.engine": CORE_MUST_NOT_IMPORT,
    "simulator.costs": CORE_MUST_NOT_IMPORT + ("simulator.engine", "simulator.catalog"),
}


def test_engine_and_costs_never_import_the_layers_above_them():
    edges = layering.graph(ROOT / "simulator")
    assert len(edges) >= 40 and "simulator.engine.kv.manager" in edges
    assert layering.violations(edges, RULES) == []


def test_no_import_cycles_at_import_time():
    assert layering.cycles(layering.graph(ROOT / "simulator", top_level_only=True)) == []


def test_the_edge_checker_catches_a_forbidden_edge_and_a_cycle(tmp_path):
    root = tmp_path / "simulator"
    for package in ("engine", "specs"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "engine" / "loop.py").write_text("def f():\n    from simulator.specs import schema\n")   # lazy, still an edge
    (root / "specs" / "schema.py").write_text("from ..specs import other\n")                        # relative import
    (root / "specs" / "other.py").write_text("import simulator.specs.schema\n")
    edges = layering.graph(root)
    assert layering.violations(edges, RULES) == ["simulator.engine.loop -> simulator.specs",
                                                 "simulator.engine.loop -> simulator.specs.schema"]
    assert layering.cycles(layering.graph(root, top_level_only=True)) == [
        ["simulator.specs.other", "simulator.specs.schema"]]
