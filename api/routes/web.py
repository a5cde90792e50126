"""The web page: static files (no build step), the page paths (all answered by one HTML shell), and
a 404 page for any other path outside the API.

Scripts and styles are served by Starlette's `StaticFiles` (mounted at `/static` by `api.main`),
which keeps every path inside the web folder and lists no folder; only `.js` and `.css` files are
served from it, and any miss there is the 404 page too.

The 404 page is a route that matches only when no other route of the app would (`_UnknownPage`),
so it never shadows a route included after it (`/docs`, `/openapi.json`) and never answers under
`/v1`, where a miss stays the API's JSON 404.
"""

import os
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.staticfiles import NotModifiedResponse
from starlette.types import Scope

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}   # what /static serves (the pages have routes)
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


class WebAssets(StaticFiles):
    """The page's scripts and styles; anything else under /static (another file type, a folder, a
    missing file) is the 404 page. Types come from MEDIA_TYPES, not the platform's mimetypes table."""

    methods = frozenset({"GET", "HEAD"})    # read by api.middleware.allowed_methods for a 405's Allow

    def __init__(self) -> None:
        super().__init__(directory=WEB_DIR)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] in self.methods and os.path.splitext(path)[1] not in MEDIA_TYPES:
            return _not_found()
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            return _not_found()

    def file_response(self, full_path, stat_result, scope: Scope, status_code: int = 200) -> Response:
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result, headers=NO_CACHE,
                                media_type=MEDIA_TYPES[os.path.splitext(full_path)[1]])
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


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
