from fastapi import APIRouter

from api.deps import CallerDep, StoreDep
from api.openapi_docs import error_responses
from api.routes.catalog import resolve_uploaded
from api.response_models import EstimateResponse
from api.schemas import EstimateRequest
from api.routes.refusals import input_error_422, unknown_name_422
from simulator.catalog import hardware_names, model_names, resolve_hardware, resolve_model
from simulator.errors import InputError
from simulator.results.estimate import estimate

router = APIRouter(prefix="/v1", tags=["estimate"])


@router.post("/estimate", responses=error_responses(400, 401, 413, 422))
def post_estimate(body: EstimateRequest, store: StoreDep, caller: CallerDep) -> EstimateResponse:
    """The closed-form estimate of `ctxplan estimate`; the response is the JSON the CLI prints."""
    try:
        if body.model.lower() not in model_names():
            raise unknown_name_422("model", body.model, model_names(), ["body", "model"])
        model = resolve_model(body.model, field="model")
        if body.hardware.lower() in hardware_names():
            hardware = resolve_hardware(body.hardware, field="hardware")
        else:
            hardware = resolve_uploaded(store, body.hardware, caller.owner)
            if hardware is None:
                raise unknown_name_422("hardware", body.hardware, hardware_names(), ["body", "hardware"])
        return estimate(model, hardware, body.prompt_tokens, body.output_tokens, tp=body.tensor_parallel,
                        weight_dtype=body.weight_dtype, kv_dtype=body.kv_dtype,
                        context_parallel=body.context_parallel, pipeline_parallel=body.pipeline_parallel,
                        expert_parallel=body.expert_parallel, attention_impl=body.attention_impl)
    except InputError as exc:
        raise input_error_422(exc) from None
