"""The web page in a real browser: Debian's headless Chromium driving `ctxplan serve` on 127.0.0.1.

Screenshots of every page go to tests/artifacts/ (ignored by git; CTXPLAN_WEB_SHOTS names another
folder). The browser and its driver come from the system package manager (`.ci/run` installs
chromium and chromium-driver when missing); nothing is downloaded at run time (Selenium Manager is
kept offline, and the page's chart library is vendored in api/web/vendor/).
The Plan, Sweep, 404 and formatting tests are in test_web_pages.py, which shares these fixtures.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from servers import start_server

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")
ARTIFACTS = Path(os.environ.get("CTXPLAN_WEB_SHOTS") or ROOT / "tests" / "artifacts")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
KEY = "web-test-key"

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base = start_server(tmp_path_factory.mktemp("web") / "db.sqlite", api_keys=KEY)
    yield base
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(server):
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.get(server)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def by(kind):
    from selenium.webdriver.common.by import By
    return getattr(By, kind)


def wait_for(driver, css, timeout=60):
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout).until(EC.visibility_of_element_located((by("CSS_SELECTOR"), css)))


def screenshot(driver, name: str) -> None:
    """The whole page, beyond the window (Chrome DevTools protocol)."""
    import base64
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}})
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
    window = driver.get_window_size()          # the capture leaves the viewport resized: later clicks would miss
    driver.set_window_size(window["width"], window["height"] + 1)
    driver.set_window_size(window["width"], window["height"])


def set_value(driver, element_id: str, value) -> None:
    element = driver.find_element(by("ID"), element_id)
    element.clear()
    element.send_keys(str(value))


def test_without_the_key_the_page_says_so_then_works_with_it(browser, server):
    browser.get(server)
    alert = wait_for(browser, ".alert")
    assert "API key" in alert.text and "Traceback" not in browser.page_source
    screenshot(browser, "00-needs-key")
    from selenium.webdriver.common.keys import Keys
    browser.find_element(by("ID"), "api-key").send_keys(KEY, Keys.TAB)      # stored for this tab only
    wait_for(browser, "#f-model")                                         # the page retries with the key
    browser.get(server)
    wait_for(browser, "#f-model")
    assert browser.execute_script("return sessionStorage.getItem('ctxplan-api-key')") == KEY
    assert browser.execute_script("return localStorage.length") == 0


def test_estimate_form_matches_the_cli(browser, server):
    from selenium.webdriver.support.ui import Select
    browser.get(server)
    wait_for(browser, "#f-model")
    Select(browser.find_element(by("ID"), "f-model")).select_by_value("llama-3.1-8b")
    Select(browser.find_element(by("ID"), "f-hardware")).select_by_value("h100-sxm")
    set_value(browser, "f-prompt_tokens", 32000)
    set_value(browser, "f-output_tokens", 256)
    Select(browser.find_element(by("ID"), "f-kv_dtype")).select_by_value("fp8")
    Select(browser.find_element(by("ID"), "f-weight_dtype")).select_by_value("fp8")
    set_value(browser, "f-pipeline_parallel", 2)
    set_value(browser, "f-expert_parallel", 1)
    browser.find_element(by("ID"), "estimate-submit").click()
    wait_for(browser, "#out-ttft")
    cli = json.loads(subprocess.run([CTXPLAN, "estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm",
                                     "--prompt-tokens", "32000", "--output-tokens", "256", "--kv-dtype", "fp8",
                                     "--weight-dtype", "fp8", "--pipeline-parallel", "2", "--expert-parallel", "1",
                                     "--format", "json"], capture_output=True, text=True, check=True).stdout)
    assert cli["weight_dtype"] == "fp8" and cli["pipeline_parallel"] == 2
    cli["sequence_kv_cache_bytes"] = cli.get("sequence_kv_cache_bytes", cli["kv_cache_bytes"])
    shown = {field: float(browser.find_element(by("ID"), element).get_attribute("data-value")) for element, field in (
        ("out-weights", "weights_bytes_per_gpu"), ("out-kv", "sequence_kv_cache_bytes"),
        ("out-max-seqs", "max_concurrent_sequences"), ("out-ttft", "ttft_s"),
        ("out-tpot", "decode_time_per_token_s"), ("out-cost-query", "cost_per_query_usd"),
        ("out-cost-mtok", "cost_per_million_output_tokens_usd"))}
    for field, value in shown.items():
        assert value == pytest.approx(cli[field], rel=1e-12), field
    assert "pp 2" in browser.find_element(by("ID"), "estimate-heading").text
    assert browser.find_element(by("ID"), "out-dtypes").text == "weights fp8, KV cache fp8"
    wait_for(browser, "#chart-context-ttft canvas")
    captions = browser.find_element(by("ID"), "context-charts").text
    assert "x: prompt tokens (log scale)" in captions and "USD per query" in captions and "seconds" in captions
    screenshot(browser, "01-estimate")


# The context charts' axes: log where the data spans decades, x ticks at powers of two, far enough
# apart that their labels (measured in the page's own font) cannot touch.
AXES_SCRIPT = """
const ctx = document.createElement("canvas").getContext("2d");
ctx.font = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";
const label = n => n >= 1048576 ? (n / 1048576) + "M" : (n / 1024) + "K";
return [...document.querySelectorAll("#context-charts figure")].map(f => {
  const ticks = JSON.parse(f.dataset.xTicks), u = f.chart;
  const gaps = ticks.slice(1).map((t, i) => u.valToPos(t, "x") - u.valToPos(ticks[i], "x")
                                         - (ctx.measureText(label(t)).width + ctx.measureText(label(ticks[i])).width) / 2);
  return {x: f.dataset.xScale, y: f.dataset.yScale, distr: u.scales.y.distr, ticks, gaps,
          xs: u.data[0], ys: u.data.slice(1).flat().filter(v => v !== null)};
});
"""


def test_context_charts_use_log_axes_with_separate_power_of_two_ticks(browser, server):
    from selenium.webdriver.support.ui import Select
    browser.get(server)
    wait_for(browser, "#f-model")
    Select(browser.find_element(by("ID"), "f-model")).select_by_value("llama-4-scout")   # 4K .. 10M tokens
    set_value(browser, "f-prompt_tokens", 32768)
    set_value(browser, "f-tp", 4)
    browser.find_element(by("ID"), "estimate-submit").click()
    wait_for(browser, "#chart-context-ttft canvas", timeout=120)
    charts = browser.execute_script(AXES_SCRIPT)
    assert len(charts) == 2
    for chart in charts:
        assert (chart["x"], chart["y"], chart["distr"]) == ("log2", "log10", 3)    # 3: uPlot's logarithmic scale
        assert max(chart["ys"]) / min(chart["ys"]) > 100 and max(chart["xs"]) > 8 * 2 ** 20
        assert len(chart["ticks"]) >= 4 and all(t & (t - 1) == 0 for t in chart["ticks"])
        assert chart["ticks"] == sorted(set(chart["ticks"]))
        assert min(chart["gaps"]) >= 8, chart                  # pixels of blank between neighbouring labels
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert any(name.endswith("/static/vendor/uPlot.iife.min.js") for name in resources)
    assert all(name.startswith(server) for name in resources), resources      # nothing from the internet
    screenshot(browser, "01b-estimate-long-context")


def test_invalid_values_show_next_to_their_field(browser, server):
    browser.get(server)
    wait_for(browser, "#f-model")
    set_value(browser, "f-prompt_tokens", 0)
    set_value(browser, "f-tp", 1)
    browser.find_element(by("ID"), "estimate-submit").click()
    error = wait_for(browser, "#err-prompt_tokens:not(:empty)")
    assert "greater than or equal to 1" in error.text
    prompt = browser.find_element(by("ID"), "f-prompt_tokens")
    assert prompt.get_attribute("aria-invalid") == "true"
    assert browser.switch_to.active_element == prompt                  # focus moves to the first bad field
    set_value(browser, "f-prompt_tokens", 1000)
    set_value(browser, "f-tp", 3)                                       # the model's rule: divides the heads
    from selenium.webdriver.common.keys import Keys
    browser.find_element(by("ID"), "f-tp").send_keys(Keys.ENTER)       # submit from the keyboard
    error = wait_for(browser, "#err-tp:not(:empty)")
    assert "attention heads" in error.text and browser.find_element(by("ID"), "err-prompt_tokens").text == ""
    assert "Traceback" not in browser.page_source
    screenshot(browser, "02-field-error")


def api_get(server, path):
    import httpx
    response = httpx.get(f"{server}{path}", headers={"X-API-Key": KEY}, timeout=30)
    response.raise_for_status()
    return response.json()


def cells(table, column: str) -> list[str]:
    """The texts of one column of a table element, by its header."""
    headers = [th.text.replace("\n", " ") for th in table.find_elements(by("CSS_SELECTOR"), "thead th")]
    index = headers.index(column)
    return [row.find_elements(by("TAG_NAME"), "td")[index].text for row in table.find_elements(by("CSS_SELECTOR"), "tbody tr")]


@pytest.mark.slow
def test_comparison_runs_as_a_job_and_its_result_has_a_stable_url(browser, server):
    from selenium.webdriver.support.ui import Select, WebDriverWait
    browser.get(f"{server}/compare")
    wait_for(browser, "#f-builtin")
    Select(browser.find_element(by("ID"), "f-builtin")).select_by_value("support-knowledge-base")
    WebDriverWait(browser, 30).until(lambda _: "corpus:" in browser.find_element(by("ID"), "f-scenario").get_attribute("value"))
    screenshot(browser, "03-compare-form")
    browser.find_element(by("ID"), "compare-submit").click()
    wait_for(browser, "#job-progress")
    assert "/jobs/comparison/" in browser.current_url
    WebDriverWait(browser, 240).until(lambda _: browser.find_elements(by("CSS_SELECTOR"), "#comparison-table, #job-error"))
    assert not browser.find_elements(by("ID"), "job-error"), browser.find_element(by("ID"), "job-error").text
    table = browser.find_element(by("ID"), "comparison-table")
    rows = table.find_elements(by("CSS_SELECTOR"), "tbody tr")
    assert [r.find_element(by("TAG_NAME"), "td").text for r in rows] == ["rag-8b", "article-context-8b"]
    assert "Cheapest within the SLO:" in browser.find_element(by("ID"), "winner-cost").text
    result = api_get(server, f"/v1/comparisons/{browser.current_url.rsplit('/', 1)[1]}")["result"]["deployments"]
    assert cells(table, "answered") == [f"{r['num_answered']:,} / {r['num_queries']:,}" for r in result]
    shares = [float(text.rstrip("%")) for text in cells(table, "SLO share")]
    assert shares == pytest.approx([r["slo_attainment"] * 100 for r in result], abs=0.05)
    assert len(browser.find_elements(by("CSS_SELECTOR"), "#job-result figure.chart canvas")) == 3
    screenshot(browser, "04-comparison-result")
    url = browser.current_url
    browser.get(f"{server}/jobs")
    link = wait_for(browser, "#jobs-table a")
    assert link.get_attribute("href") == url
    assert "support-knowledge-base" in browser.find_element(by("ID"), "jobs-table").text
    screenshot(browser, "05-jobs")
    browser.get(url)                                                    # a shared link opens the same result
    wait_for(browser, "#comparison-table")


def test_catalog_lists_models_and_hardware_with_sources_and_exact_values(browser, server):
    browser.get(f"{server}/catalog")
    models = wait_for(browser, "#models-table")
    assert "llama-3.1-8b" in models.text and "config.json" in models.text
    hardware = browser.find_element(by("ID"), "hardware-table")
    assert "h100-sxm" in hardware.text
    context = dict(zip(cells(models, "name"), cells(models, "context (tokens)")))
    assert context["llama-2-7b"] == "4,096" and context["gemma-2-9b"] == "8,192"      # not 4,100 and 8,190
    bandwidth = dict(zip(cells(hardware, "name"), cells(hardware, "bandwidth (TB/s)")))
    assert bandwidth["a100-40gb"] == "1.555"
    for row in api_get(server, "/v1/models"):                        # every shown value is the catalog's own
        assert float(context[row["name"]].replace(",", "")) == row["max_context_tokens"]
    for row in api_get(server, "/v1/hardware"):
        assert float(bandwidth[row["name"]].replace(",", "")) == row["memory_bandwidth_tb_s"]
    screenshot(browser, "06-catalog")
