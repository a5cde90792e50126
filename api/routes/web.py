"""The web page: static files (no build step), the page paths (all answered by one HTML shell), and
a 404 page for any other path outside the API.

The 404 page is a route that matches only when no other route of the app would (`_UnknownPage`),
so it never shadows a route included after it (`/docs`, `/openapi.json`) and never answers under
`/v1`, where a miss stays the API's JSON 404.
"""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from starlette.routing import Match

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}
STATIC = {path.relative_to(WEB_DIR).as_posix(): MEDIA_TYPES[path.suffix]   # "vendor/uPlot.min.css" -> its type
          for path in sorted(WEB_DIR.rglob("*")) if path.suffix in MEDIA_TYPES}
JOB_KINDS = ("simulation", "comparison", "plan", "sweep")
NO_CACHE = {"Cache-Control": "no-cache"}


class _UnknownPage(APIRoute):
    """A GET for a path that no other route answers, outside /v1: the friendly 404 page."""

    PROBE = "ctxplan.unknown_page_probe"    # marks the scope while asking the other routes (and so skips this one)

    def matches(self, scope):
        path = scope.get("path", "")
        if scope.get(self.PROBE) or scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD") or \
                path == "/v1" or path.startswith("/v1/"):
            return Match.NONE, {}
        toggled = path[:-1] if path.endswith("/") else path + "/"   # Starlette redirects a slash away
        for route in getattr(scope.get("router"), "routes", ()):
            for candidate in (path, toggled) if path != "/" else (path,):
                if route.matches({**scope, "path": candidate, self.PROBE: True})[0] is not Match.NONE:
                    return Match.NONE, {}
        return super().matches(scope)


router = APIRouter(include_in_schema=False)


def _shell() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers=NO_CACHE)


def _not_found() -> FileResponse:
    return FileResponse(WEB_DIR / "404.html", status_code=404, media_type="text/html", headers=NO_CACHE)


@router.get("/static/{name:path}")
def static(name: str) -> FileResponse:
    if name not in STATIC:
        return _not_found()
    return FileResponse(WEB_DIR / name, media_type=STATIC[name], headers=NO_CACHE)


@router.get("/")
@router.get("/compare")
@router.get("/plan")
@router.get("/sweep")
@router.get("/jobs")
@router.get("/catalog")
def page() -> FileResponse:
    return _shell()


@router.get("/jobs/{kind}/{job_id}")
def job_page(kind: str, job_id: str) -> FileResponse:
    return _shell() if kind in JOB_KINDS else _not_found()


def unknown_page(path: str) -> FileResponse:
    return _not_found()


router.add_api_route("/{path:path}", unknown_page, methods=["GET", "HEAD"], route_class_override=_UnknownPage)
