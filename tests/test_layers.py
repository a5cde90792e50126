"""Layering: every module under `simulator/` (walked, not listed) imports no web framework, CLI, terminal,
database or torch package; the checker itself is shown to catch a forbidden import."""

import subprocess
import sys
import textwrap
from pathlib import Path

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
