// The Sweep page: a scenario and PATH=VALUES lines -> POST /v1/sweeps; and the sweep result: its
// rows, and a chart of one metric against one swept parameter (a line per deployment).
"use strict";
import {lineChart} from "/static/charts.js";
import {byKey, header, secs, usd} from "/static/format.js";
import {COLORS, alertBox, api, clearErrors, field, h, main, navigate, put, scenarioFields, select, showErrors, table,
        yamlBody} from "/static/ui.js";

// The columns every sweep row has (api/result_models.py SweepRow); any other column is a swept path.
const FIXED = ["point", "deployment", "kind", "model", "hardware", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
               "tpot_p99_s", "e2e_p50_s", "e2e_p99_s", "cost_per_query_usd", "slo_attainment", "stable",
               "expected_accuracy", "num_gpus", "cost_per_month_usd", "kv_cache_peak_utilization", "num_refused"];
const TEXT = new Set(["deployment", "kind", "model", "hardware"]);

export async function pageSweep() {
  main.replaceChildren(h("h1", {}, "Sweep a parameter"),
    h("p", {class: "muted"}, "Runs the scenario once per combination of values, as ctxplan sweep --param does."));
  let scenarios;
  try { scenarios = await api("GET", "/v1/scenarios"); } catch (e) { main.append(alertBox(e.message)); return; }
  const {picker, editor, choose, text} = scenarioFields(scenarios);
  const params = h("textarea", {spellcheck: "false", class: "short"});
  params.value = "workload.arrival.rate_per_s=2,4,8";
  const form = h("form", {class: "grid", novalidate: true, "aria-label": "sweep"}, picker, editor,
    h("div", {class: "field wide"}, h("label", {for: "f-params"}, "Parameters, one per line"),
      Object.assign(params, {id: "f-params", name: "params"}),
      h("span", {class: "hint", id: "hint-params"}, "PATH=VALUES: a list (1,2,4), a range (LOW..HIGH[:STEP]) or log:LOW..HIGH:COUNT; " +
        "e.g. deployments.0.replicas=1..4"),
      h("span", {class: "error", id: "err-params", role: "alert"})),
    h("div", {class: "actions"}, h("button", {type: "submit", id: "sweep-submit"}, "Run sweep")));
  params.setAttribute("aria-describedby", "err-params hint-params");
  main.append(form);
  if (scenarios.some(s => s.name === "quickstart")) {
    choose.value = "quickstart";
    choose.dispatchEvent(new Event("change"));
  }
  form.addEventListener("submit", async event => {
    event.preventDefault();
    clearErrors(form);
    const lines = params.value.split("\n").map(l => l.trim()).filter(Boolean);
    const problems = [];
    if (!text.value.trim()) problems.push({loc: ["body", "scenario"], msg: "paste a scenario or choose a built-in one"});
    if (!lines.length) problems.push({loc: ["body", "params"], msg: "give at least one PATH=VALUES line"});
    lines.filter(l => !l.includes("=")).forEach(l => problems.push({loc: ["body", "params"], msg: `${l}: needs PATH=VALUES`}));
    if (problems.length) { showErrors(form, {detail: problems}); return; }
    try {
      const job = await api("POST", "/v1/sweeps", yamlBody({params: lines}, text.value), "application/yaml");
      navigate(`/jobs/sweep/${job.id}`);
    } catch (e) { showErrors(form, e); }
  });
}

// ----- the result ----------------------------------------------------------------------------

const isNumber = v => typeof v === "number" && Number.isFinite(v);
const METRICS = ["ttft_p99_s", "ttft_p50_s", "tpot_p99_s", "e2e_p99_s", "cost_per_query_usd", "slo_attainment",
                 "cost_per_month_usd", "kv_cache_peak_utilization", "expected_accuracy", "num_refused"];

function sweepChart(rows, swept, xKey, metric) {
  const others = swept.filter(k => k !== xKey && new Set(rows.map(r => r[k])).size > 1);   // a line per combination
  const numeric = rows.every(r => isNumber(r[xKey]));
  const categories = numeric ? null : [...new Set(rows.map(r => String(r[xKey])))];
  const groups = new Map();                         // series name -> rows
  for (const r of rows) {
    const name = [r.deployment, ...others.map(k => `${header(k)} ${r[k]}`)].join(", ");
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(r);
  }
  const series = [...groups].map(([name, group], i) => ({name, color: COLORS[i % COLORS.length],
    points: group.filter(r => isNumber(r[metric]))
                 .map(r => [numeric ? r[xKey] : categories.indexOf(String(r[xKey])), r[metric]])}));
  const yfmt = metric.endsWith("_usd") ? usd : (metric.endsWith("_s") ? secs : v => byKey(metric, v));
  return lineChart(series, {title: `${header(metric)} against ${header(xKey)}`, xlabel: xKey, ylabel: header(metric),
                            xscale: numeric ? "auto" : "category", categories, yfmt, id: "sweep-chart",
                            empty: "No numeric values of this metric to draw."});
}

export function renderSweep(out, result) {
  const rows = result.rows || [];
  const keys = rows.length ? Object.keys(rows[0]) : [];
  const swept = keys.filter(k => !FIXED.includes(k));
  const metrics = METRICS.filter(k => rows.some(r => isNumber(r[k])));
  out.append(h("h2", {tabindex: -1, id: "result-heading"}, `Sweep of ${swept.map(header).join(", ") || "nothing"}`));
  if (!rows.length) { out.append(h("p", {}, "The sweep has no rows.")); return; }
  const xSelect = select(swept.map(k => ({value: k, label: k})), swept[0]);
  const mSelect = select(metrics.map(k => ({value: k, label: header(k)})), metrics[0]);
  const holder = h("div", {class: "charts", id: "sweep-chart-holder"});
  const redraw = () => holder.replaceChildren(sweepChart(rows, swept, xSelect.value, mSelect.value));
  xSelect.addEventListener("change", redraw);
  mSelect.addEventListener("change", redraw);
  const same = rows.length > 1 ? keys.filter(k => !swept.includes(k) && k !== "point" && k !== "deployment" &&
                                              rows.every(r => r[k] === rows[0][k])) : [];
  const columns = keys.filter(k => !same.includes(k)).map(k => [header(k), r => byKey(k, r[k]), {title: k, text: TEXT.has(k)}]);
  put(out, h("form", {class: "inline", "aria-label": "chart"},
               swept.length ? field("sweep-x", "Swept parameter", xSelect) : null,
               metrics.length ? field("sweep-metric", "Metric", mSelect) : null),
             holder,
             same.length ? h("p", {class: "muted", id: "sweep-same"},
                             `Same in every row: ${same.map(k => `${header(k)} ${byKey(k, rows[0][k])}`).join(", ")}.`) : null,
             table(columns, rows, "sweep-table"));
  if (swept.length && metrics.length) redraw();
}
