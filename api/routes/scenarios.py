from pathlib import Path

import yaml
from fastapi import APIRouter, HTTPException

from api.openapi_docs import error_responses
from api.response_models import ScenarioDocument, ScenarioSummary
from simulator.specs.files import is_comparison

router = APIRouter(prefix="/v1/scenarios", tags=["scenarios"])
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


def _files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.yaml"))}


@router.get("", responses=error_responses(401))
def list_scenarios() -> list[ScenarioSummary]:
    out = []
    for name, path in _files().items():
        data = yaml.safe_load(path.read_text())
        kind = "comparison" if is_comparison(data) else "simulation"
        out.append({"name": name, "kind": kind, "description": data.get("description", "")})
    return out


@router.get("/{name}", responses=error_responses(401, 404))
def get_scenario(name: str) -> ScenarioDocument:
    files = _files()
    if name not in files:
        raise HTTPException(status_code=404, detail=f"no built-in scenario {name[:100]!r}; known: {', '.join(files)}")
    return {"name": name, "scenario": yaml.safe_load(files[name].read_text()), "yaml": files[name].read_text()}
