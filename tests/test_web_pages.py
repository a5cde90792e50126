"""The Plan and Sweep pages, the 404 page, a missing job, the job progress bar and the page's number
formats, in headless Chromium against `ctxplan serve` (fixtures and helpers from test_web.py).

Jobs are kept small (one hardware, two GPUs, 200 requests; a two-point sweep of 100 requests), and
every wait has a timeout. Rendering of plan keys that only some planner versions return is checked
on a synthetic result handed to the page's own module, so it holds whichever planner runs."""

import httpx
import pytest
from test_web import (CHROMIUM, DRIVER, KEY, api_get, browser, by, cells, screenshot, server,  # noqa: F401
                      set_value, wait_for)

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@pytest.fixture
def page(browser, server):  # noqa: F811
    """The browser with the API key in this tab's session storage."""
    browser.get(f"{server}/catalog")
    browser.execute_script("sessionStorage.setItem('ctxplan-api-key', arguments[0])", KEY)
    return browser


def run_module(driver, script: str, *args):
    """Run `script` (an async function body) in the page; it may import the page's modules."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"(async (...args) => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
        ".then(done, e => done({error: String(e && e.stack || e)}));", *args)


def until(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout).until(lambda _: condition())


def submitted(driver, kind: str, timeout=120):
    """After a job form's submit: the job's page, or the form's errors in the failure."""
    until(driver, lambda: f"/jobs/{kind}/" in driver.current_url or driver.find_elements(by("CSS_SELECTOR"), "form .alert"),
          timeout)
    problems = [e.text for e in driver.find_elements(by("CSS_SELECTOR"), "form .alert, form .error") if e.text]
    assert f"/jobs/{kind}/" in driver.current_url, problems


def wait_for_result(driver, result_css: str, timeout=300):
    until(driver, lambda: driver.find_elements(by("CSS_SELECTOR"), f"{result_css}, #job-error"), timeout)
    errors = driver.find_elements(by("ID"), "job-error")
    assert not errors, errors[0].text


# ---- Plan --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_plan_page_runs_a_small_plan_and_draws_only_the_pareto_configurations(page, server):  # noqa: F811
    page.get(f"{server}/plan")
    wait_for(page, "#f-target_qps")
    until(page, lambda: "quickstart-chat" in page.find_element(by("ID"), "f-scenario").get_attribute("value"))
    assert [box.get_attribute("value") for box in page.find_elements(by("CSS_SELECTOR"), "#f-hardware input:checked")] \
        == ["h100-sxm"]
    for element, value in (("f-target_qps", 4), ("f-slo_ttft_p99_s", 0.5), ("f-slo_tpot_p99_s", 0.05),
                           ("f-max_gpus", 2), ("f-tensor_parallel", 1), ("f-seeds", 1), ("f-requests", 200)):
        set_value(page, element, value)
    screenshot(page, "09-plan-form")
    page.find_element(by("ID"), "plan-submit").click()
    submitted(page, "plan")
    wait_for_result(page, "#plan-table")
    job = api_get(server, f"/v1/plans/{page.current_url.rsplit('/', 1)[1]}")
    result = job["result"]
    table = page.find_element(by("ID"), "plan-table")
    assert cells(table, "hardware") == [c["hardware"] for c in result["configurations"]] == ["h100-sxm"]
    assert cells(table, "meets targets") == ["yes"]
    best = result["best"]
    assert best is not None and f"{best['min_replicas']} x h100-sxm tp1" in page.find_element(by("ID"), "plan-best").text
    assert page.find_element(by("ID"), "plan-reason").text.startswith("Why: ")
    front = result.get("pareto") or [p for p in result["pareto_front"] if p.get("meets_slo", True)]
    drawn = page.execute_script("""const u = document.getElementById("plan-pareto").chart;
        return u.data.slice(1).flatMap(ys => ys.map((y, i) => [u.data[0][i], y]).filter(p => p[1] !== null));""")
    expected = sorted((p["cost_per_hour_usd"], p["ttft_p99_s"]) for p in front)
    assert [v for point in sorted(map(tuple, drawn)) for v in point] == pytest.approx([v for p in expected for v in p])
    assert all(y <= 0.5 for _, y in drawn)
    if best.get("emit"):                                    # planners that emit deployment files
        assert page.find_element(by("ID"), "emit-vllm").text == best["emit"]["vllm_command"]
    screenshot(page, "10-plan-result")


def test_plan_page_builds_the_workload_from_a_model_and_request_sizes(page, server):  # noqa: F811
    from selenium.webdriver.support.ui import Select
    page.get(f"{server}/plan")
    wait_for(page, "#f-target_qps")
    Select(page.find_element(by("ID"), "f-source")).select_by_value("form")
    assert not page.find_element(by("ID"), "f-scenario").is_displayed()
    Select(page.find_element(by("ID"), "f-model")).select_by_value("llama-3.1-8b")
    for element, value in (("f-prompt_median", 500), ("f-output_median", 100), ("f-target_qps", 2),
                           ("f-max_gpus", 1), ("f-seeds", 1), ("f-requests", 200)):
        set_value(page, element, value)
    page.find_element(by("ID"), "f-capacity").click()                  # no rate search: quicker
    page.find_element(by("ID"), "plan-submit").click()
    submitted(page, "plan")
    wait_for_result(page, "#plan-table")
    assert cells(page.find_element(by("ID"), "plan-table"), "hardware") == ["h100-sxm"]
    job = api_get(server, f"/v1/plans/{page.current_url.rsplit('/', 1)[1]}")
    assert job["result"]["target_qps"] == 2 and job["result"]["configurations"][0]["max_rate_per_s"] is None


PLAN_RESULT = {   # a plan result with every optional key, as the planner returns it (two configurations)
    "target_qps": 10.0, "targets": {"ttft_p99_s": 0.5, "tpot_p99_s": 0.05}, "seeds": [42], "exhaustive": False,
    "headroom": 0.2, "capacity_definition": "the highest rate that meets the targets", "cost_metric": "GPU $ per hour",
    "prices_used": {"h100-sxm": {"usd_per_gpu_hour": 3.0, "source": "catalog"},
                    "l4": {"usd_per_gpu_hour": 0.8, "source": "request"}},
    "best": {"hardware": "h100-sxm", "tensor_parallel": 1, "max_num_seqs": 256, "max_num_batched_tokens": 8192,
             "min_replicas": 2, "reason": "the cheapest that meets both targets", "num_gpus": 2,
             "cost_per_hour_usd": 6.0, "ttft_p99_s": 0.2, "ttft_p99_spread_s": 0.0, "tpot_p99_s": 0.02,
             "tpot_p99_spread_s": 0.0, "max_rate_per_s": 14.0, "cost_per_query_usd": 0.000166667, "meets_slo": True,
             "emit": {"vllm_command": "vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 1",
                      "kubernetes_manifest": "apiVersion: apps/v1\nkind: Deployment\n"}},
    "configurations": [
        {"hardware": "h100-sxm", "tensor_parallel": 1, "max_num_seqs": 256, "max_num_batched_tokens": 8192,
         "min_replicas": 2, "reason": "", "num_gpus": 2, "cost_per_hour_usd": 6.0, "ttft_p99_s": 0.2,
         "ttft_p99_spread_s": 0.0, "tpot_p99_s": 0.02, "tpot_p99_spread_s": 0.0, "max_rate_per_s": 14.0,
         "meets_slo": True},
        {"hardware": "l4", "tensor_parallel": 1, "max_num_seqs": 256, "max_num_batched_tokens": 8192,
         "min_replicas": None, "reason": "misses the targets", "max_rate_per_s": None, "meets_slo": False,
         "unreachable_reason": "p99 TTFT 2.1 s > 0.5 s with 4 replicas (max_gpus)"}],
    "pareto": [{"hardware": "h100-sxm", "tensor_parallel": 1, "max_num_seqs": 256, "replicas": 2, "num_gpus": 2,
                "cost_per_hour_usd": 6.0, "ttft_p99_s": 0.2, "meets_slo": True},
               {"hardware": "h100-sxm", "tensor_parallel": 1, "max_num_seqs": 256, "replicas": 3, "num_gpus": 3,
                "cost_per_hour_usd": 9.0, "ttft_p99_s": 0.15, "meets_slo": True}],
    "pareto_front": [{"hardware": "l4", "tensor_parallel": 1, "max_num_seqs": 256, "replicas": 4, "num_gpus": 4,
                      "cost_per_hour_usd": 3.2, "ttft_p99_s": 2.1, "stable": True, "meets_slo": False}],
    "points": [], "num_simulations": 12}

RENDER_PLAN = """
const {renderPlan} = await import("/static/plan.js");
const out = document.createElement("section");
document.getElementById("main").replaceChildren(out);
renderPlan(out, args[0]);
const text = id => document.getElementById(id)?.textContent ?? null;
const u = document.getElementById("plan-pareto").chart;
return {heading: text("result-heading"), targets: out.querySelector("p.muted").textContent,
        capacity: text("plan-capacity"), cost: text("plan-cost-metric"), reason: text("plan-reason"),
        vllm: text("emit-vllm"), manifest: text("emit-k8s"), prices: text("plan-prices"), table: text("plan-table"),
        copies: out.querySelectorAll("button.copy").length, chart: text("plan-pareto"),
        drawn: u ? u.data.slice(1).flatMap(ys => ys.filter(y => y !== null)) : null};
"""


def test_plan_result_shows_prices_headroom_definitions_and_emitted_files_when_present(page, server):  # noqa: F811
    shown = run_module(page, RENDER_PLAN, PLAN_RESULT)
    assert "error" not in shown, shown
    assert "headroom 20%" in shown["targets"]
    assert shown["capacity"] == "the highest rate that meets the targets" and shown["cost"] == "GPU $ per hour"
    assert shown["reason"] == "Why: the cheapest that meets both targets"
    assert shown["vllm"] == PLAN_RESULT["best"]["emit"]["vllm_command"] and shown["copies"] == 2
    assert shown["manifest"] == PLAN_RESULT["best"]["emit"]["kubernetes_manifest"]
    assert "$3.00" in shown["prices"] and "$0.8" in shown["prices"] and "request" in shown["prices"]
    assert "p99 TTFT 2.1 s > 0.5 s with 4 replicas" in shown["table"]
    assert sorted(shown["drawn"]) == [0.15, 0.2]            # result.pareto only: not the l4 point that misses
    screenshot(page, "10b-plan-synthetic")

    bare = {k: v for k, v in PLAN_RESULT.items() if k not in ("headroom", "capacity_definition", "cost_metric",
                                                               "prices_used", "pareto")}
    bare["best"] = {k: v for k, v in PLAN_RESULT["best"].items() if k not in ("emit", "meets_slo")}
    bare["configurations"] = [{k: v for k, v in c.items() if k not in ("meets_slo", "unreachable_reason")}
                              for c in PLAN_RESULT["configurations"]]
    shown = run_module(page, RENDER_PLAN, bare)
    assert "error" not in shown, shown
    assert shown["capacity"] is shown["cost"] is shown["vllm"] is shown["prices"] is None and shown["copies"] == 0
    assert "misses the targets" in shown["table"]
    assert shown["drawn"] is None and "nothing to draw" in shown["chart"]   # pareto_front's only point misses


# ---- Sweep -------------------------------------------------------------------------------------

def test_sweep_page_runs_a_two_point_sweep_with_a_table_and_a_chart(page, server):  # noqa: F811
    from selenium.webdriver.support.ui import Select
    page.get(f"{server}/sweep")
    wait_for(page, "#f-params")
    until(page, lambda: "quickstart-chat" in page.find_element(by("ID"), "f-scenario").get_attribute("value"))
    set_value(page, "f-params", "workload.arrival.rate_per_s=2,4")
    page.find_element(by("ID"), "f-params").send_keys("\nworkload.num_requests=100")
    screenshot(page, "11-sweep-form")
    page.find_element(by("ID"), "sweep-submit").click()
    submitted(page, "sweep")
    wait_for_result(page, "#sweep-table")
    rows = api_get(server, f"/v1/sweeps/{page.current_url.rsplit('/', 1)[1]}")["result"]["rows"]
    assert len(rows) == 4                                       # 2 points x 2 deployments
    table = page.find_element(by("ID"), "sweep-table")
    headers = [th.text.replace("\n", " ") for th in table.find_elements(by("CSS_SELECTOR"), "thead th")]
    assert {"rate per s", "requests", "deployment", "p99 TTFT", "$ per query"} <= set(headers)
    assert not any("_" in header for header in headers)         # readable, not column keys
    same = page.find_elements(by("ID"), "sweep-same")         # columns equal in every row are listed once
    assert "model" not in headers and "model llama-3.1-8b" in same[0].text
    assert ("SLO share" in headers) != ("SLO share" in same[0].text)
    assert [float(v) for v in cells(table, "rate per s")] == [r["workload.arrival.rate_per_s"] for r in rows]
    chart = page.execute_script("""const f = document.getElementById("sweep-chart");
        return {label: f.getAttribute("aria-label"), xs: f.chart.data[0], series: f.chart.series.length - 1};""")
    assert chart == {"label": "p99 TTFT against rate per s", "xs": [2, 2, 4, 4], "series": 2}
    Select(page.find_element(by("ID"), "f-sweep-metric")).select_by_value("cost_per_query_usd")
    until(page, lambda: page.find_element(by("ID"), "sweep-chart").get_attribute("aria-label")
          == "$ per query against rate per s", 10)
    screenshot(page, "12-sweep-result")


# ---- errors, progress, formats -----------------------------------------------------------------

def test_unknown_pages_get_a_friendly_404_and_api_paths_keep_their_json(page, server):  # noqa: F811
    for path in ("/no/such/page", "/jobs/nonsense/123", "/static/missing.js"):
        response = httpx.get(f"{server}{path}", timeout=30)
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html"), path
        assert "Page not found" in response.text
    response = httpx.get(f"{server}/v1/no-such-route", headers={"X-API-Key": KEY}, timeout=30)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    assert httpx.get(f"{server}/healthz", timeout=30).json()["status"] == "ok"
    assert httpx.get(f"{server}/openapi.json", headers={"X-API-Key": KEY}, timeout=30).json()["info"]["title"] == "ctxplan"
    for path in ("/docs", "/metrics"):
        assert httpx.get(f"{server}{path}", headers={"X-API-Key": KEY}, timeout=30).status_code == 200, path
    assert httpx.get(f"{server}/compare/", timeout=30, follow_redirects=True).status_code == 200   # slash redirect
    page.get(f"{server}/no/such/page")
    assert "Page not found" in wait_for(page, "#not-found").text
    screenshot(page, "08-not-found")


def test_a_missing_job_says_so_instead_of_loading_forever(page, server):  # noqa: F811
    page.get(f"{server}/jobs/plan/00000000-0000-0000-0000-000000000000")
    error = wait_for(page, "#job-error", timeout=30)
    assert "No such plan" in error.text
    assert page.find_element(by("ID"), "job-status").text == "no such job"
    assert not page.find_elements(by("ID"), "job-progress")
    screenshot(page, "07-missing-job")


PROGRESS = """
const {progressBar, describe} = await import("/static/jobs.js");
const bar = progressBar(), state = () => [bar.bar.className, bar.bar.getAttribute("aria-valuenow"), bar.bar.firstChild.style.width];
const seen = [];
bar.set(0, true); seen.push(state());          // running, no progress yet: indeterminate
bar.set(0.5, true); seen.push(state());        // running: the bar's stripes move
bar.set(1, false); seen.push(state());         // done
return {seen, still: describe({status: "running", progress: 0.5}, 12), queued: describe({status: "queued"}, 0),
        stage: describe({status: "running", progress: 0.25, stage: "rag-8b: capacity probe"}, 0)};
"""


def test_the_progress_bar_moves_while_a_step_runs_and_names_the_step_when_told(page, server):  # noqa: F811
    shown = run_module(page, PROGRESS)
    assert shown["seen"] == [["progress busy indeterminate", None, "0%"], ["progress busy", "50", "50%"],
                             ["progress", "100", "100%"]]
    assert shown["still"] == "50% done, working (12 s on this step)"
    assert shown["queued"] == "waiting for a free worker"
    assert shown["stage"] == "25% done: rag-8b: capacity probe, working"


FORMATS = """
const f = await import("/static/format.js"), c = await import("/static/charts.js");
return {usd: args[0].map(f.usd), exact: [4096, 8192, 1.555, 10485760, 0.5].map(f.exact),
        tokens: [4096, 131072, 1048576, 130816].map(f.tokens),
        ticks: c.powerOfTwoTicks(4096, 10485760, 440), tens: c.powerOfTenTicks(0.0001, 100, 170)};
"""


def test_money_catalog_values_tokens_and_ticks_are_formatted_for_people(page, server):  # noqa: F811
    amounts = [269.1059, 1234.5, 100.0, 99.999, 12.3456, 3, 1.0, 0.9996, 0.26912, 0.000208333, 0]
    shown = run_module(page, FORMATS, amounts)
    assert dict(zip(amounts, shown["usd"])) == {
        269.1059: "$269", 1234.5: "$1,235", 100.0: "$100", 99.999: "$100", 12.3456: "$12.35", 3: "$3.00",
        1.0: "$1.00", 0.9996: "$1.00", 0.26912: "$0.269", 0.000208333: "$0.000208", 0: "$0"}
    assert shown["exact"] == ["4,096", "8,192", "1.555", "10,485,760", "0.5"]
    assert shown["tokens"] == ["4K", "128K", "1M", "130,816"]
    assert shown["ticks"] == [2 ** e for e in range(12, 24, 2)]    # every other power of two fits 440 px
    assert shown["tens"] == pytest.approx([10.0 ** e for e in range(-4, 3)])
