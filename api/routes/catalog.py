"""Catalog reads (models, hardware) and uploaded hardware profiles, which belong to the caller's key."""
import yaml
from fastapi import APIRouter, HTTPException

from api.deps import CallerDep, StoreDep
from api.openapi_docs import error_responses
from api.routes.refusals import input_error_422
from api.response_models import HardwareListItem
from api.schemas import ProfileOut, ProfileUpload
from simulator.catalog.rows import ModelRow
from simulator.catalog import hardware_rows, model_rows, profile_from_mapping
from simulator.errors import InputError

router = APIRouter(prefix="/v1", tags=["catalog"])


def resolve_uploaded(store, name: str, owner: str):
    """The caller's uploaded profile `name` as a HardwareProfile, or None."""
    text = store.get_profile(name, owner=owner)
    return None if text is None else _profile(name, text)


def _profile(name: str, text: str):
    return profile_from_mapping(yaml.safe_load(text), name)


@router.get("/models", responses=error_responses(401))
def models() -> list[ModelRow]:
    return model_rows()


@router.get("/hardware", responses=error_responses(401))
def hardware(store: StoreDep, caller: CallerDep) -> list[HardwareListItem]:
    rows = [{**row.model_dump(mode="json"), "uploaded": False} for row in hardware_rows()]
    for name, text in store.profiles(caller.owner).items():      # sorted by name, one query
        profile = _profile(name, text)
        rows.append({**_describe(profile), "name": name, "uploaded": True, "source": profile.source})
    return rows


def _describe(profile) -> dict:
    return {"name": profile.name, "memory_gb": profile.memory_bytes / 1e9,
            "memory_bandwidth_tb_s": profile.memory_bandwidth_bytes_per_s / 1e12,
            "bf16_dense_tflops": profile.bf16_flops_per_s / 1e12,
            "efficiency": {k: getattr(profile.curves, k) for k in profile.curves.__dataclass_fields__}}


@router.post("/profiles", status_code=201, operation_id="upload_profile",
             responses={**error_responses(400, 401, 409, 413, 422), 201: {"description": "Stored", "links": {
                 "get": {"operationId": "get_profile", "parameters": {"name": "$response.body#/name"}}}}})
def upload_profile(body: ProfileUpload, store: StoreDep, caller: CallerDep) -> ProfileOut:
    if body.name in {row.name for row in hardware_rows()}:
        raise HTTPException(status_code=409, detail=f"{body.name!r} is a catalog name; choose another")
    try:
        profile = profile_from_mapping({**body.profile, "name": body.name}, body.name)
        text = yaml.safe_dump({**body.profile, "name": body.name}, sort_keys=False)
    except InputError as exc:
        raise input_error_422(exc, ["body", "profile"]) from None
    except (yaml.YAMLError, UnicodeError):
        raise HTTPException(status_code=422, detail=[{"loc": ["body", "profile"], "type": "value_error",
                                                      "msg": "the profile holds text that cannot be stored"}])
    try:
        store.put_profile(body.name, text, owner=caller.owner)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=[{"loc": ["body", "profile"], "msg": str(exc),
                                                      "type": "value_error"}]) from None
    return ProfileOut(name=body.name, profile=body.profile, resolved=_describe(profile))


@router.get("/profiles/{name}", responses=error_responses(401, 404), operation_id="get_profile")
def get_profile(name: str, store: StoreDep, caller: CallerDep) -> ProfileOut:
    text = store.get_profile(name, owner=caller.owner)
    if text is None:
        raise HTTPException(status_code=404, detail=f"no uploaded profile {name[:100]!r}")
    document = yaml.safe_load(text)
    return ProfileOut(name=name, profile=document, resolved=_describe(profile_from_mapping(document, name)))
