"""The web page in a real browser: Debian's headless Chromium driving `ctxplan serve` on 127.0.0.1.

Screenshots of every page go to tests/artifacts/ (ignored by git). The browser and its driver come
from the system package manager (`.ci/run` installs chromium and chromium-driver when missing);
nothing is downloaded at run time (Selenium Manager is kept offline).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import start_server

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")
ARTIFACTS = ROOT / "tests" / "artifacts"
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
    browser.find_element(by("ID"), "estimate-submit").click()
    wait_for(browser, "#out-ttft")
    cli = json.loads(subprocess.run([CTXPLAN, "estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm",
                                     "--prompt-tokens", "32000", "--output-tokens", "256", "--kv-dtype", "fp8",
                                     "--format", "json"], capture_output=True, text=True, check=True).stdout)
    shown = {field: float(browser.find_element(by("ID"), element).get_attribute("data-value")) for element, field in (
        ("out-weights", "weights_bytes_per_gpu"), ("out-kv", "kv_cache_bytes"),
        ("out-max-seqs", "max_concurrent_sequences"), ("out-ttft", "prefill_time_s"),
        ("out-tpot", "decode_time_per_token_s"), ("out-cost-query", "cost_per_query_usd"),
        ("out-cost-mtok", "cost_per_million_output_tokens_usd"))}
    for field, value in shown.items():
        assert value == pytest.approx(cli[field], rel=1e-12), field
    chart = wait_for(browser, "#context-charts svg polyline")
    assert chart is not None
    labels = browser.find_element(by("ID"), "context-charts").text
    assert "prompt tokens" in labels and "USD per query" in labels and "seconds" in labels
    screenshot(browser, "01-estimate")


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


def test_comparison_runs_as_a_job_and_its_result_has_a_stable_url(browser, server):
    from selenium.webdriver.support.ui import Select
    browser.get(f"{server}/compare")
    wait_for(browser, "#f-builtin")
    Select(browser.find_element(by("ID"), "f-builtin")).select_by_value("support-knowledge-base")
    for _ in range(100):
        if "corpus:" in browser.find_element(by("ID"), "f-body").get_attribute("value"):
            break
        time.sleep(0.1)
    screenshot(browser, "03-compare-form")
    browser.find_element(by("ID"), "compare-submit").click()
    wait_for(browser, "#job-progress")
    assert "/jobs/comparison/" in browser.current_url
    table = wait_for(browser, "#comparison-table", timeout=240)
    rows = table.find_elements(by("CSS_SELECTOR"), "tbody tr")
    assert [r.find_element(by("TAG_NAME"), "td").text for r in rows] == ["rag-8b", "article-context-8b"]
    assert "Cheapest within the SLO:" in browser.find_element(by("ID"), "winner-cost").text
    assert len(browser.find_elements(by("CSS_SELECTOR"), "#job-result svg")) == 3
    screenshot(browser, "04-comparison-result")
    url = browser.current_url
    browser.get(f"{server}/jobs")
    link = wait_for(browser, "#jobs-table a")
    assert link.get_attribute("href") == url
    assert "support-knowledge-base" in browser.find_element(by("ID"), "jobs-table").text
    screenshot(browser, "05-jobs")
    browser.get(url)                                                    # a shared link opens the same result
    wait_for(browser, "#comparison-table")


def test_catalog_lists_models_and_hardware_with_sources(browser, server):
    browser.get(f"{server}/catalog")
    models = wait_for(browser, "#models-table")
    assert "llama-3.1-8b" in models.text and "config.json" in models.text
    assert "h100-sxm" in browser.find_element(by("ID"), "hardware-table").text
    screenshot(browser, "06-catalog")
