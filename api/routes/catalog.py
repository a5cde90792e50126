import yaml
from fastapi import APIRouter, HTTPException

from api.deps import StoreDep
from api.jobspec import input_error_422, resolve_uploaded
from api.schemas import ProfileOut, ProfileUpload
from simulator.catalog import hardware_rows, model_rows, profile_from_mapping
from simulator.errors import InputError

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get("/models")
def models() -> list[dict]:
    return [row.model_dump(mode="json") for row in model_rows()]


@router.get("/hardware")
def hardware(store: StoreDep) -> list[dict]:
    rows = [{**row.model_dump(mode="json"), "uploaded": False} for row in hardware_rows()]
    for name in sorted(store.profiles()):
        profile = resolve_uploaded(store, name)
        rows.append({**_describe(profile), "name": name, "uploaded": True, "source": profile.source})
    return rows


def _describe(profile) -> dict:
    return {"name": profile.name, "memory_gb": profile.memory_bytes / 1e9,
            "memory_bandwidth_tb_s": profile.memory_bandwidth_bytes_per_s / 1e12,
            "bf16_dense_tflops": profile.bf16_flops_per_s / 1e12,
            "efficiency": {k: getattr(profile.curves, k) for k in profile.curves.__dataclass_fields__}}


@router.post("/profiles", status_code=201)
def upload_profile(body: ProfileUpload, store: StoreDep) -> ProfileOut:
    if body.name in {row.name for row in hardware_rows()}:
        raise HTTPException(status_code=409, detail=f"{body.name!r} is a catalog name; choose another")
    try:
        profile = profile_from_mapping(body.profile, body.name)
    except InputError as exc:
        raise input_error_422(exc) from None
    store.put_profile(body.name, yaml.safe_dump({**body.profile, "name": body.name}, sort_keys=False))
    return ProfileOut(name=body.name, profile=body.profile, resolved=_describe(profile))


@router.get("/profiles/{name}")
def get_profile(name: str, store: StoreDep) -> ProfileOut:
    text = store.get_profile(name)
    if text is None:
        raise HTTPException(status_code=404, detail=f"no uploaded profile {name!r}")
    document = yaml.safe_load(text)
    return ProfileOut(name=name, profile=document, resolved=_describe(profile_from_mapping(document, name)))
