// The Compare page (a scenario -> POST /v1/comparisons) and the comparison and simulation results.
"use strict";
import {barChart} from "/static/charts.js";
import {exact, num, pct, secs, usd, usdTick} from "/static/format.js";
import {COLORS, alertBox, api, clearErrors, h, main, navigate, put, scenarioFields, showErrors, table} from "/static/ui.js";

export async function pageCompare() {
  main.replaceChildren(h("h1", {}, "Compare RAG, long context and hybrid"));
  let scenarios;
  try { scenarios = await api("GET", "/v1/scenarios"); } catch (e) { main.append(alertBox(e.message)); return; }
  const {picker, editor, text} = scenarioFields(scenarios);
  const form = h("form", {class: "grid", novalidate: true, "aria-label": "compare"}, picker, editor,
    h("div", {class: "actions"}, h("button", {type: "submit", id: "compare-submit"}, "Run comparison")));
  main.append(form);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    clearErrors(form);
    if (!text.value.trim()) {
      showErrors(form, {detail: [{loc: ["body", "scenario"], msg: "paste a scenario or choose a built-in one"}]});
      return;
    }
    try {
      const job = await api("POST", "/v1/comparisons", text.value, "application/yaml");
      navigate(`/jobs/comparison/${job.id}`);
    } catch (e) { showErrors(form, e); }
  });
}

// "5 / 120" in red when some queries went unanswered.
function answered(r) {
  if (r.num_queries == null) return "n/a";
  const short = r.num_answered < r.num_queries;
  return h("span", {class: short ? "fit-no" : null, title: r.num_refused ? `${exact(r.num_refused)} refused` : null},
           `${exact(r.num_answered)} / ${exact(r.num_queries)}`);
}

const accuracy = r => (r.expected_accuracy == null ? "n/a" : pct(r.expected_accuracy));

export function renderComparison(out, result) {
  const d = result.deployments;
  const bars = (value, text) => d.map((r, i) => ({label: r.name, value: value(r), color: COLORS[i % COLORS.length],
                                                  text: text(r)}));
  put(out, h("h2", {tabindex: -1, id: "result-heading"}, result.scenario),
    h("p", {class: "winner", id: "winner-cost"}, `Cheapest within the SLO: ${result.winner_on_cost || "none"}`),
    h("p", {class: "winner", id: "winner-quality"}, `Best expected accuracy: ${result.winner_on_quality || "n/a"}`),
    result.cost_note ? h("p", {class: "muted"}, result.cost_note) : null,
    table([["deployment", r => r.name], ["kind", r => r.kind, {text: true}],
           ["model / hardware", r => `${r.model} / ${r.hardware}`, {text: true}], ["GPUs", r => exact(r.num_gpus)],
           ["answered", answered, {title: "answered queries / arrived queries"}],
           ["SLO share", r => pct(r.slo_attainment), {title: "share of answered queries within the SLO"}],
           ["$ per query", r => usd(r.cost_per_query_usd), {title: "per answered query"}],
           ["p99 TTFT", r => secs(r.ttft_s && r.ttft_s.p99)], ["p99 TPOT", r => secs(r.tpot_s && r.tpot_s.p99)],
           ["expected accuracy", accuracy],
           ["max sustainable req/s", r => num(r.max_sustainable_qps)], ["stable", r => (r.stable ? "yes" : "no")]],
          d, "comparison-table"),
    h("div", {class: "charts"},
      barChart(bars(r => r.cost_per_query_usd, r => usd(r.cost_per_query_usd)),
               {title: "Cost per answered query", xlabel: "USD per answered query", fmt: usdTick, id: "chart-cost"}),
      barChart(bars(r => r.ttft_s && r.ttft_s.p99, r => secs(r.ttft_s && r.ttft_s.p99)),
               {title: "p99 time to first token", xlabel: "seconds", fmt: secs, id: "chart-ttft"}),
      barChart(bars(r => r.expected_accuracy, accuracy),
               {title: "Expected accuracy (prior)", xlabel: "share of questions answered correctly", fmt: pct, limit: 1,
                id: "chart-accuracy"})));
}

export function renderSimulation(out, result) {
  put(out, h("h2", {tabindex: -1, id: "result-heading"}, result.scenario),
    table([["deployment", r => r.name], ["GPUs", r => exact(r.num_gpus)],
           ["completed", r => `${exact(r.metrics.num_completed)} / ${exact(r.metrics.num_requests)}`],
           ["SLO share", r => pct(r.metrics.slo_attainment)], ["$ per query", r => usd(r.metrics.cost_per_query_usd)],
           ["p99 TTFT", r => secs(r.metrics.ttft_s.p99)], ["p99 TPOT", r => secs(r.metrics.tpot_s.p99)],
           ["req/s", r => num(r.metrics.throughput_requests_per_s)], ["stable", r => (r.metrics.stable ? "yes" : "no")]],
          result.deployments, "simulation-table"));
}
