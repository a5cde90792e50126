// ctxplan web page: estimate, compare, jobs, catalog. Calls the JSON API of the same server.
"use strict";
const main = document.getElementById("main");
const KINDS = {simulation: "simulations", comparison: "comparisons", plan: "plans", sweep: "sweeps"};
const COLORS = ["#1f5fbf", "#d9730d", "#2e8540", "#8e44ad", "#c0392b", "#16a085"];

const keyInput = document.getElementById("api-key");
keyInput.value = sessionStorage.getItem("ctxplan-api-key") || "";
keyInput.addEventListener("change", () => {
  sessionStorage.setItem("ctxplan-api-key", keyInput.value.trim());
  catalogCache = null;
  route();                                           // retry the page with the new key
});

class ApiError extends Error {
  constructor(status, detail) { super(typeof detail === "string" ? detail : "request failed"); this.status = status; this.detail = detail; }
}

async function api(method, path, body, contentType) {
  const headers = {};
  const key = (sessionStorage.getItem("ctxplan-api-key") || keyInput.value || "").trim();
  if (key) headers["X-API-Key"] = key;
  const init = {method, headers};
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response;
  try { response = await fetch(path, init); } catch (e) { throw new ApiError(0, "the server cannot be reached"); }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    let detail = data && data.detail !== undefined ? data.detail : `HTTP ${response.status}`;
    if (response.status === 401) detail = "The service needs an API key: enter it in the API key field at the top.";
    throw new ApiError(response.status, detail);
  }
  return data;
}

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function say(message) { document.getElementById("status").textContent = message; }

function num(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  if (Math.abs(v) >= 1e4) return Math.round(v).toLocaleString("en-US");
  return (+v.toPrecision(digits)).toString();
}
const tokens = n => n >= 1048576 && n % 1048576 === 0 ? `${n / 1048576}M` : (n % 1024 === 0 ? `${n / 1024}K` : fmt(n));
const when = t => t ? t.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC") : "";
const gb = b => `${num(b / 1e9)} GB`;
const usd = v => v === null || v === undefined ? "n/a" : (v >= 0.01 ? `$${v.toFixed(4)}` : `$${v.toPrecision(3)}`);
const secs = v => v === null || v === undefined ? "n/a" : (v < 1 ? `${num(v * 1000)} ms` : `${num(v)} s`);

// ----- forms and field errors --------------------------------------------------------------

function field(name, label, control, hint) {
  control.id = `f-${name}`;
  control.name = name;
  control.setAttribute("aria-describedby", `err-${name}` + (hint ? ` hint-${name}` : ""));
  return h("div", {class: "field"}, h("label", {for: control.id}, label), control,
           hint ? h("span", {class: "hint", id: `hint-${name}`}, hint) : null,
           h("span", {class: "error", id: `err-${name}`, role: "alert"}));
}

function clearErrors(form) {
  form.querySelectorAll(".error").forEach(e => { e.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach(e => e.removeAttribute("aria-invalid"));
  const alert = form.querySelector(".alert");
  if (alert) alert.remove();
}

function showErrors(form, error) {
  const unplaced = [];
  if (Array.isArray(error.detail)) {
    for (const item of error.detail) {
      const loc = (item.loc || []).filter(p => p !== "body");
      const name = loc.length ? String(loc[0]) : "";
      const control = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (control) {
        control.setAttribute("aria-invalid", "true");
        document.getElementById(`err-${name}`).textContent = item.msg;
      } else {
        unplaced.push(loc.length ? `${loc.join(".")}: ${item.msg}` : item.msg);
      }
    }
  } else {
    unplaced.push(String(error.detail || error.message));
  }
  if (unplaced.length) form.append(h("p", {class: "alert", role: "alert"}, unplaced.join("; ")));
  const first = form.querySelector("[aria-invalid='true']");
  if (first) first.focus();
  say("The form has errors.");
}

function numberInput(value, min, max) {
  return h("input", {type: "number", inputmode: "numeric", value, min, max, step: 1, required: true});
}

function select(options, value) {
  const s = h("select", {});
  for (const o of options) s.append(h("option", {value: o.value, selected: o.value === value}, o.label));
  return s;
}

// ----- estimate ----------------------------------------------------------------------------

let catalogCache = null;
async function catalog() {
  if (!catalogCache) {
    const [models, hardware] = await Promise.all([api("GET", "/v1/models"), api("GET", "/v1/hardware")]);
    catalogCache = {models, hardware};
  }
  return catalogCache;
}

async function pageEstimate() {
  main.replaceChildren(h("h1", {}, "Estimate one request shape"),
                       h("p", {class: "muted"}, "Closed-form memory, fit, latency and cost, from the same cost model as the simulator."));
  let cat;
  try { cat = await catalog(); } catch (e) { main.append(h("p", {class: "alert", role: "alert"}, e.message)); return; }
  const form = h("form", {class: "grid", novalidate: true, "aria-label": "estimate"},
    field("model", "Model", select(cat.models.map(m => ({value: m.name, label: m.name})), "llama-3.1-8b")),
    field("hardware", "Hardware", select(cat.hardware.map(x => ({value: x.name, label: x.name + (x.uploaded ? " (uploaded)" : "")})), "h100-sxm")),
    field("prompt_tokens", "Prompt tokens", numberInput(32768, 1)),
    field("output_tokens", "Output tokens", numberInput(256, 1)),
    field("tp", "Tensor parallel", numberInput(1, 1), "GPUs splitting each layer"),
    field("context_parallel", "Context parallel", numberInput(1, 1), "GPUs splitting each sequence"),
    field("kv_dtype", "KV cache dtype", select(["bf16", "fp16", "fp8", "int4"].map(v => ({value: v, label: v})), "bf16")),
    h("div", {class: "actions"}, h("button", {type: "submit", id: "estimate-submit"}, "Estimate")));
  const results = h("section", {id: "estimate-results", "aria-label": "estimate results"});
  main.append(form, results);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    clearErrors(form);
    const data = Object.fromEntries(new FormData(form));
    const body = {model: data.model, hardware: data.hardware, kv_dtype: data.kv_dtype};
    for (const k of ["prompt_tokens", "output_tokens", "tp", "context_parallel"]) {
      body[k] = data[k] === "" ? null : Number(data[k]);
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const result = await api("POST", "/v1/estimate", body);
      renderEstimate(results, result);
      say("Estimate ready.");
      await renderContextCurve(results, body, cat.models.find(m => m.name === body.model));
    } catch (e) {
      showErrors(form, e);
    } finally {
      button.disabled = false;
    }
  });
}

function card(id, label, text, value) {
  return h("div", {class: "card"}, h("dt", {}, label), h("dd", {id, "data-value": value}, text));
}

function renderEstimate(section, r) {
  section.replaceChildren(
    h("h2", {tabindex: -1, id: "estimate-heading"}, `${r.model} on ${r.num_gpus} x ${r.hardware}`),
    h("p", {id: "out-fits", class: r.fits ? "fit-yes" : "fit-no", "data-value": String(r.fits)},
      r.fits ? "Fits." : `Does not fit: ${r.fit_reason}` + (r.needs ? ` Needs ${r.needs.num_gpus} GPUs (tp ${r.needs.tensor_parallel} x cp ${r.needs.context_parallel}).` : "")),
    h("dl", {class: "cards"},
      card("out-weights", "Weights per GPU", gb(r.weights_bytes_per_gpu), r.weights_bytes_per_gpu),
      card("out-kv", "KV cache of this sequence", gb(r.kv_cache_bytes), r.kv_cache_bytes),
      card("out-max-seqs", "Max concurrent sequences", num(r.max_concurrent_sequences), r.max_concurrent_sequences),
      card("out-ttft", "TTFT (idle replica)", secs(r.prefill_time_s), r.prefill_time_s),
      card("out-tpot", "Time per output token", secs(r.decode_time_per_token_s), r.decode_time_per_token_s),
      card("out-cost-query", "$ per query", usd(r.cost_per_query_usd), r.cost_per_query_usd),
      card("out-cost-mtok", "$ per million output tokens", usd(r.cost_per_million_output_tokens_usd),
           r.cost_per_million_output_tokens_usd)));
  section.querySelector("#estimate-heading").focus();
}

async function renderContextCurve(section, body, model) {
  const max = model.max_context_tokens - body.output_tokens;
  const lengths = [];
  for (let n = 4096; n < max; n *= 2) lengths.push(n);
  if (max >= 4096) lengths.push(max);
  const points = [];
  for (const n of lengths) {
    try {
      const r = await api("POST", "/v1/estimate", {...body, prompt_tokens: n});
      points.push([n, r.cost_per_query_usd, r.prefill_time_s, r.fits]);
    } catch (e) { break; }
  }
  const holder = h("div", {class: "charts", id: "context-charts"});
  holder.append(
    h("div", {class: "chart"}, lineChart([{name: "cost per query", color: COLORS[0],
      points: points.map(p => [p[0], p[1], p[3]])}], {title: "Cost per query against context length",
      xlabel: "prompt tokens (log scale)", ylabel: "USD per query", logx: true, xfmt: tokens})),
    h("div", {class: "chart"}, lineChart([{name: "TTFT", color: COLORS[1], points: points.map(p => [p[0], p[2], p[3]])}],
      {title: "TTFT against context length", xlabel: "prompt tokens (log scale)", ylabel: "seconds", logx: true,
       xfmt: tokens})));
  section.append(h("h2", {}, "How it grows with context"),
    h("p", {class: "muted"}, "Each doubling of the prompt more than doubles prefill work: attention is quadratic in length. Hollow red points do not fit this deployment."),
    holder);
}

// ----- compare and jobs ----------------------------------------------------------------------

async function pageCompare() {
  main.replaceChildren(h("h1", {}, "Compare RAG, long context and hybrid"));
  let scenarios = [];
  try { scenarios = await api("GET", "/v1/scenarios"); } catch (e) { main.append(h("p", {class: "alert", role: "alert"}, e.message)); return; }
  const choose = select([{value: "", label: "(paste your own below)"}, ...scenarios.map(s => ({value: s.name,
    label: `${s.name} (${s.kind})`}))], "");
  const text = h("textarea", {spellcheck: "false"});
  const form = h("form", {class: "grid", novalidate: true, "aria-label": "compare"},
    field("builtin", "Built-in scenario", choose, "loads its YAML below; edit before running"),
    h("div", {class: "field", style: "grid-column: 1 / -1"}, h("label", {for: "f-body"}, "Scenario YAML"),
      Object.assign(text, {id: "f-body", name: "body"}), h("span", {class: "error", id: "err-body", role: "alert"})),
    h("div", {class: "actions"}, h("button", {type: "submit", id: "compare-submit"}, "Run comparison")));
  main.append(form);
  choose.addEventListener("change", async () => {
    if (!choose.value) return;
    const s = await api("GET", `/v1/scenarios/${encodeURIComponent(choose.value)}`);
    text.value = s.yaml;
  });
  form.addEventListener("submit", async event => {
    event.preventDefault();
    clearErrors(form);
    if (!text.value.trim()) { showErrors(form, {detail: [{loc: ["body", "body"], msg: "paste a scenario or choose a built-in one"}]}); return; }
    try {
      const job = await api("POST", "/v1/comparisons", text.value, "application/yaml");
      navigate(`/jobs/comparison/${job.id}`);
    } catch (e) { showErrors(form, e); }
  });
}

async function pageJob(kind, id) {
  const plural = KINDS[kind];
  if (!plural) { main.replaceChildren(h("h1", {}, "Not found")); return; }
  main.replaceChildren(h("h1", {}, `${kind[0].toUpperCase() + kind.slice(1)} ${id}`),
                       h("p", {}, "Status: ", h("span", {id: "job-status"}, "loading"), " ",
                         h("progress", {id: "job-progress", max: 1, value: 0, "aria-label": "progress"})),
                       h("section", {id: "job-result", "aria-label": "result"}));
  while (current === pageToken) {
    let job;
    try { job = await api("GET", `/v1/${plural}/${encodeURIComponent(id)}`); }
    catch (e) { main.append(h("p", {class: "alert", role: "alert"}, e.message)); return; }
    document.getElementById("job-status").textContent = job.status;
    document.getElementById("job-progress").value = job.progress || 0;
    if (job.status === "succeeded") { renderResult(kind, job.result); say("Result ready."); return; }
    if (job.status === "failed" || job.status === "cancelled") {
      main.append(h("p", {class: "alert", role: "alert"}, `The job ${job.status}: ${job.error || ""}`)); return;
    }
    await new Promise(r => setTimeout(r, 500));
  }
}

function table(columns, rows, id) {
  return h("table", {id}, h("thead", {}, h("tr", {}, columns.map(c => h("th", {scope: "col"}, c[0])))),
    h("tbody", {}, rows.map(r => h("tr", {}, columns.map((c, i) => h("td", {class: i === 0 ? "text" : null}, c[1](r)))))));
}

function renderResult(kind, result) {
  const out = document.getElementById("job-result");
  if (kind === "comparison") {
    const d = result.deployments;
    out.append(h("h2", {tabindex: -1, id: "result-heading"}, result.scenario),
      h("p", {class: "winner", id: "winner-cost"}, `Cheapest within the SLO: ${result.winner_on_cost || "none"}`),
      h("p", {class: "winner", id: "winner-quality"}, `Best expected accuracy: ${result.winner_on_quality || "n/a"}`),
      result.cost_note ? h("p", {class: "muted"}, result.cost_note) : null,
      table([["deployment", r => r.name], ["kind", r => r.kind], ["model / hardware", r => `${r.model} / ${r.hardware}`],
             ["GPUs", r => r.num_gpus], ["$ per query", r => usd(r.cost_per_query_usd)],
             ["p99 TTFT", r => secs(r.ttft_s && r.ttft_s.p99)], ["p99 TPOT", r => secs(r.tpot_s && r.tpot_s.p99)],
             ["expected accuracy", r => r.expected_accuracy == null ? "n/a" : `${(r.expected_accuracy * 100).toFixed(1)}%`],
             ["max sustainable req/s", r => num(r.max_sustainable_qps)], ["stable", r => r.stable ? "yes" : "no"]],
            d, "comparison-table"),
      h("div", {class: "charts"},
        h("div", {class: "chart"}, barChart(d.map((r, i) => ({label: r.name, value: r.cost_per_query_usd, color: COLORS[i % 6],
          text: usd(r.cost_per_query_usd)})), {title: "Cost per query", xlabel: "USD per answered query"})),
        h("div", {class: "chart"}, barChart(d.map((r, i) => ({label: r.name, value: r.ttft_s && r.ttft_s.p99, color: COLORS[i % 6],
          text: secs(r.ttft_s && r.ttft_s.p99)})), {title: "p99 time to first token", xlabel: "seconds"})),
        h("div", {class: "chart"}, barChart(d.map((r, i) => ({label: r.name, value: r.expected_accuracy, color: COLORS[i % 6],
          text: r.expected_accuracy == null ? "n/a" : `${(r.expected_accuracy * 100).toFixed(1)}%`})),
          {title: "Expected accuracy (prior)", xlabel: "fraction of questions answered correctly"}))));
  } else if (kind === "simulation") {
    out.append(h("h2", {tabindex: -1, id: "result-heading"}, result.scenario),
      table([["deployment", r => r.name], ["GPUs", r => r.num_gpus], ["$ per query", r => usd(r.metrics.cost_per_query_usd)],
             ["p99 TTFT", r => secs(r.metrics.ttft_s.p99)], ["p99 TPOT", r => secs(r.metrics.tpot_s.p99)],
             ["req/s", r => num(r.metrics.throughput_requests_per_s)], ["stable", r => r.metrics.stable ? "yes" : "no"]],
            result.deployments, "simulation-table"));
  } else if (kind === "plan") {
    const b = result.best;
    out.append(h("h2", {tabindex: -1, id: "result-heading"}, `Plan at ${result.target_qps} req/s`),
      h("p", {class: "winner"}, b ? `Best: ${b.min_replicas} x ${b.hardware} tp${b.tensor_parallel} = ${b.num_gpus} GPUs, $${b.cost_per_hour_usd.toFixed(2)}/h` : "No configuration meets the targets."),
      table([["hardware", r => r.hardware], ["tp", r => r.tensor_parallel], ["replicas", r => r.min_replicas ?? "-"],
             ["GPUs", r => r.num_gpus ?? "-"], ["$/h", r => r.cost_per_hour_usd == null ? "-" : r.cost_per_hour_usd.toFixed(2)],
             ["p99 TTFT", r => secs(r.ttft_p99_s)], ["max req/s", r => num(r.max_rate_per_s)]], result.configurations, "plan-table"));
  } else {
    const rows = result.rows || [];
    const columns = rows.length ? Object.keys(rows[0]).slice(0, 12) : [];
    out.append(h("h2", {tabindex: -1, id: "result-heading"}, "Sweep"),
      table(columns.map(c => [c, r => (typeof r[c] === "number" ? num(r[c]) : String(r[c]))]), rows, "sweep-table"));
  }
  document.getElementById("result-heading").focus();
}

async function pageJobs() {
  main.replaceChildren(h("h1", {}, "Recent jobs"));
  try {
    const pages = await Promise.all(Object.entries(KINDS).map(async ([kind, plural]) =>
      (await api("GET", `/v1/${plural}?limit=50`)).items.map(j => ({...j, kind}))));
    const jobs = pages.flat().sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    if (!jobs.length) { main.append(h("p", {}, "No jobs yet. Run one from the Compare page.")); return; }
    main.append(table([["job", j => h("a", {href: `/jobs/${j.kind}/${j.id}`}, `${j.kind} ${j.id.slice(0, 8)}`)],
                       ["scenario", j => j.name || ""],
                       ["status", j => j.status], ["progress", j => `${Math.round((j.progress || 0) * 100)}%`],
                       ["created", j => when(j.created_at)], ["finished", j => when(j.finished_at)]], jobs, "jobs-table"));
  } catch (e) { main.append(h("p", {class: "alert", role: "alert"}, e.message)); }
}

async function pageCatalog() {
  main.replaceChildren(h("h1", {}, "Catalog"));
  try {
    const cat = await catalog();
    main.append(h("h2", {}, "Models"),
      table([["name", m => m.name], ["params (B)", m => m.params_total_b], ["active (B)", m => m.params_active_b],
             ["layers", m => m.num_layers], ["KV heads", m => m.num_kv_heads], ["attention", m => m.attention],
             ["context", m => num(m.max_context_tokens)], ["verified", m => m.verified ? "yes" : "no"],
             ["source", m => h("span", {class: "muted"}, m.source || "")]], cat.models, "models-table"),
      h("h2", {}, "Hardware"),
      table([["name", x => x.name], ["memory (GB)", x => num(x.memory_gb)], ["bandwidth (TB/s)", x => num(x.memory_bandwidth_tb_s)],
             ["bf16 dense TFLOP/s", x => num(x.bf16_dense_tflops)], ["$ / GPU-hour", x => x.on_demand_usd_per_gpu_hour ?? "-"],
             ["verified", x => x.uploaded ? "uploaded" : (x.verified ? "yes" : "no")],
             ["source", x => h("span", {class: "muted"}, x.source || "")]], cat.hardware, "hardware-table"));
  } catch (e) { main.append(h("p", {class: "alert", role: "alert"}, e.message)); }
}

// ----- routing -------------------------------------------------------------------------------

let current = 0, pageToken = 0;
function route() {
  pageToken = ++current;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const job = path.match(/^\/jobs\/([a-z]+)\/([A-Za-z0-9-]+)$/);
  const page = job ? "jobs" : ({"/": "estimate", "/compare": "compare", "/jobs": "jobs", "/catalog": "catalog"}[path] || "estimate");
  document.querySelectorAll("nav a").forEach(a => {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  document.title = `ctxplan: ${page}`;
  if (job) return pageJob(job[1], job[2]);
  return {estimate: pageEstimate, compare: pageCompare, jobs: pageJobs, catalog: pageCatalog}[page]();
}

function navigate(path) { history.pushState({}, "", path); route(); main.focus(); }

document.addEventListener("click", event => {
  const a = event.target.closest("a");
  if (a && a.origin === location.origin && !a.hasAttribute("download") && !event.ctrlKey && !event.metaKey
      && (a.pathname === "/" || /^\/(compare|jobs|catalog)/.test(a.pathname))) {
    event.preventDefault();
    navigate(a.pathname);
  }
});
window.addEventListener("popstate", route);
route();
