"""Domain errors as HTTP replies: one place words a 422 the way FastAPI's own validation does."""
from fastapi import HTTPException

from api.jobspec import field_loc
from simulator.errors import InputError, unknown_name_error


def unprocessable(loc: list, message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": loc, "msg": message, "type": "value_error"}])


def input_error_422(exc: InputError, prefix: list | None = None) -> HTTPException:
    return unprocessable([*(prefix or ["body"]), *field_loc(exc.field)], str(exc))


def unknown_name_422(kind: str, value: str, known, loc: list) -> HTTPException:
    """An unknown catalog name in the service, where files are never an alternative."""
    hint = str(unknown_name_error(kind, value, known, "")).replace(" (or give a path to a file)", "")
    extra = "; or upload a profile with POST /v1/profiles" if kind == "hardware" else ""
    return unprocessable(loc, f"{hint}{extra}; server-side file paths are not accepted")
