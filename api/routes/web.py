"""The web page: static files (no build step) and the page paths, all answered by one HTML shell."""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
STATIC = {"app.js": "text/javascript", "charts.js": "text/javascript", "app.css": "text/css"}
router = APIRouter(include_in_schema=False)


def _shell() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    if name not in STATIC:
        raise HTTPException(status_code=404, detail="not found")
    return FileResponse(WEB_DIR / name, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


@router.get("/")
@router.get("/compare")
@router.get("/jobs")
@router.get("/catalog")
@router.get("/jobs/{kind}/{job_id}")
def page(kind: str | None = None, job_id: str | None = None) -> FileResponse:
    return _shell()
