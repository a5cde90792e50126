"""Result models of the job API: the simulator's own typed results, and the union of them a job carries.

    kind "simulation"  SimulationResult   simulator.results.runner.run(...).to_model()
    kind "comparison"  ComparisonResult   simulator.comparisons.compare.compare(...)
    kind "plan"        PlanResult         simulator.planning.planner.plan_result(...)
    kind "sweep"       SweepResult        {"rows": ...} as api.worker._plan_or_sweep builds it

The models are defined once, in `simulator.results.types` and `simulator.results.plan_types`;
this module re-exports them for the routes and adds what only the API needs (`JobResult`,
`RESULT_MODELS`). (The estimate, catalog, scenario and health responses are in `api.response_models`.)
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import BaseModel, Field

from simulator.results.plan_types import (BestConfiguration, FeasibleConfiguration, InfeasibleConfiguration,  # noqa: F401
                                          PlanConfig, PlanEmit, PlanPoint, PlanResult, PlanTargets, PriceUsed)
from simulator.results.types import (BatchSizeStats, ComparisonResult, ComparisonRow, DeploymentKind,  # noqa: F401
                                     Frozen, LatencyStats, ServingComparisonRow, ServingMetrics, SimulatedDeployment,
                                     SimulationResult, SweepResult, SweepRow)

_Closed = Frozen            # the base of the API's own closed models (api.response_models)


JobResult = Annotated[Union[SimulationResult, ComparisonResult, PlanResult, SweepResult],
                      Field(union_mode="left_to_right")]
"""A job's result. `Job.kind` tells which member it is ("simulation", "comparison", "plan",
"sweep"); the members' required keys are disjoint, so validation picks it unambiguously too."""

RESULT_MODELS: dict[str, type[BaseModel]] = {   # job kind -> its result model
    "simulation": SimulationResult, "comparison": ComparisonResult, "plan": PlanResult, "sweep": SweepResult}
