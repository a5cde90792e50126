"""The web page's files through the real app (TestClient, no browser): scripts and styles with
their types, the HTML shell for every page path, the friendly 404 page for anything else outside
/v1, and no way out of the web folder or into a folder listing."""

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("web") / "w.db"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{db}", log_level="ERROR"))) as c:
        yield c


@pytest.mark.parametrize("path,media_type,fragment", [
    ("/static/app.js", "text/javascript", "import"),
    ("/static/app.css", "text/css", "{"),
    ("/static/vendor/uPlot.iife.min.js", "text/javascript", "uPlot"),
    ("/static/vendor/uPlot.min.css", "text/css", ".uplot"),
])
def test_scripts_and_styles_are_served_with_their_types_and_no_cache(client, path, media_type, fragment):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["cache-control"] == "no-cache" and fragment in response.text


@pytest.mark.parametrize("path", ["/", "/compare", "/plan", "/sweep", "/jobs", "/catalog",
                                  "/jobs/plan/some-id", "/jobs/comparison/x"])
def test_page_paths_answer_the_html_shell(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in response.text or "/static/app.js" in response.text
    assert "Page not found" not in response.text


@pytest.mark.parametrize("path", [
    "/nope", "/jobs/nope/x", "/static/missing.js", "/static/", "/static/vendor", "/static/vendor/",
    "/static/index.html", "/static/404.html", "/static/vendor/README.md", "/static/vendor/uPlot.LICENSE",
    "/static/../routes/web.py", "/static/..%2f..%2fmain.py", "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/....//app.js.map", "/static/app.js%00.css",
])
def test_anything_else_outside_the_api_is_the_404_page(client, path):
    response = client.get(path)
    assert response.status_code == 404, response.text[:200]
    assert response.headers["content-type"].startswith("text/html") and 'id="not-found"' in response.text
    assert "import " not in response.text and "[project]" not in response.text


def test_api_misses_keep_their_json_404(client):
    response = client.get("/v1/nope")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_static_files_answer_get_and_head_only(client):
    assert client.head("/static/app.js").status_code == 200
    response = client.post("/static/app.js")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
