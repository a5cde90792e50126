from fastapi import APIRouter

from api.deps import StoreDep
from api.jobspec import input_error_422, resolve_uploaded, unprocessable
from api.schemas import EstimateRequest
from simulator.catalog import hardware_names, resolve_hardware, resolve_model
from simulator.errors import InputError
from simulator.estimate import estimate

router = APIRouter(prefix="/v1", tags=["estimate"])


@router.post("/estimate")
def post_estimate(body: EstimateRequest, store: StoreDep) -> dict:
    """The closed-form estimate of `ctxplan estimate`; the response is the JSON the CLI prints."""
    for field in ("model", "hardware"):
        value = getattr(body, field)
        if "/" in value or "\\" in value or value.endswith((".yaml", ".yml", ".json")):
            raise unprocessable(["body", field], "server-side file paths are not accepted")
    try:
        model = resolve_model(body.model, field="model")
        if body.hardware.lower() in hardware_names():
            hardware = resolve_hardware(body.hardware, field="hardware")
        else:
            hardware = resolve_uploaded(store, body.hardware) or resolve_hardware(body.hardware, field="hardware")
        return estimate(model, hardware, body.prompt_tokens, body.output_tokens, tp=body.tp,
                        weight_dtype=body.weight_dtype, kv_dtype=body.kv_dtype,
                        context_parallel=body.context_parallel, pipeline_parallel=body.pipeline_parallel,
                        expert_parallel=body.expert_parallel, attention_impl=body.attention_impl)
    except InputError as exc:
        raise input_error_422(exc) from None
