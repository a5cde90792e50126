// The Estimate page: one request shape in closed form (POST /v1/estimate), then the same shape
// from 4K tokens to the model's maximum context.
"use strict";
import {lineChart} from "/static/charts.js";
import {gb, num, secs, tokens, usd, usdTick} from "/static/format.js";
import {COLORS, alertBox, api, card, clearErrors, field, fill, h, main, numberInput, put, say, select, showErrors} from "/static/ui.js";

const WEIGHT_DTYPES = ["bf16", "fp16", "fp8", "fp4", "int8", "int4"];
const KV_DTYPES = ["bf16", "fp16", "fp8", "int4"];
const INTEGER_FIELDS = ["prompt_tokens", "output_tokens", "tp", "pipeline_parallel", "expert_parallel", "context_parallel"];

let catalogCache = null;
export async function catalog() {
  if (!catalogCache) {
    const [models, hardware] = await Promise.all([api("GET", "/v1/models"), api("GET", "/v1/hardware")]);
    catalogCache = {models, hardware};
  }
  return catalogCache;
}
export function forgetCatalog() { catalogCache = null; }

const options = values => values.map(v => ({value: v, label: v}));

export async function pageEstimate() {
  main.replaceChildren(h("h1", {}, "Estimate one request shape"),
                       h("p", {class: "muted"}, "Closed-form memory, fit, latency and cost, from the same cost model " +
                                                "as the simulator."));
  let cat;
  try { cat = await catalog(); } catch (e) { main.append(alertBox(e.message)); return; }
  const form = h("form", {class: "grid", novalidate: true, "aria-label": "estimate"},
    field("model", "Model", select(cat.models.map(m => ({value: m.name, label: m.name})), "llama-3.1-8b")),
    field("hardware", "Hardware", select(cat.hardware.map(x => ({value: x.name,
                                                                 label: x.name + (x.uploaded ? " (uploaded)" : "")})),
                                         "h100-sxm")),
    field("prompt_tokens", "Prompt tokens", numberInput(32768, 1)),
    field("output_tokens", "Output tokens", numberInput(256, 1)),
    field("weight_dtype", "Weight dtype", select(options(WEIGHT_DTYPES), "bf16")),
    field("kv_dtype", "KV cache dtype", select(options(KV_DTYPES), "bf16")),
    field("tp", "Tensor parallel", numberInput(1, 1), "GPUs splitting each layer"),
    field("pipeline_parallel", "Pipeline parallel", numberInput(1, 1), "GPUs each holding a slice of the layers"),
    field("expert_parallel", "Expert parallel", numberInput(1, 1), "GPUs splitting the experts (MoE models)"),
    field("context_parallel", "Context parallel", numberInput(1, 1), "GPUs splitting each sequence"),
    h("div", {class: "actions"}, h("button", {type: "submit", id: "estimate-submit"}, "Estimate")));
  form.querySelector("#f-tp").dataset.alias = "tensor_parallel";      // the API's name for the CLI's --tp
  const results = h("section", {id: "estimate-results", "aria-label": "estimate results"});
  main.append(form, results);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    clearErrors(form);
    const data = Object.fromEntries(new FormData(form));
    const body = {model: data.model, hardware: data.hardware, kv_dtype: data.kv_dtype, weight_dtype: data.weight_dtype};
    for (const k of INTEGER_FIELDS) body[k] = data[k] === "" ? null : Number(data[k]);
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

function layout(r) {
  const parts = [["tp", r.tensor_parallel], ["pp", r.pipeline_parallel], ["ep", r.expert_parallel],
                 ["cp", r.context_parallel]].filter(([, v]) => v && v > 1).map(([k, v]) => `${k} ${v}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

function renderEstimate(section, r) {
  const needs = r.needs ? ` Needs ${r.needs.num_gpus} GPUs (tp ${r.needs.tensor_parallel} x cp ${r.needs.context_parallel}` +
                          (r.needs.pipeline_parallel > 1 ? ` x pp ${r.needs.pipeline_parallel}` : "") + ").": "";
  const kvBytes = r.sequence_kv_cache_bytes ?? r.kv_cache_bytes;     // prompt and output, where the service says so
  const notes = [...(r.model_notes || []), ...(r.hardware_notes || [])];
  fill(section,
    h("h2", {tabindex: -1, id: "estimate-heading"}, `${r.model} on ${r.num_gpus} x ${r.hardware}${layout(r)}`),
    h("p", {class: "muted", id: "out-dtypes"}, `weights ${r.weight_dtype ?? "bf16"}, KV cache ${r.kv_cache_dtype ?? "bf16"}`),
    h("p", {id: "out-fits", class: r.fits ? "fit-yes" : "fit-no", "data-value": String(r.fits)},
      r.fits ? "Fits." : `Does not fit: ${r.fit_reason}${needs}`),
    notes.length ? h("ul", {class: "muted", id: "out-notes"}, notes.map(n => h("li", {}, n))) : null,
    h("dl", {class: "cards"},
      card("out-weights", "Weights per GPU", gb(r.weights_bytes_per_gpu), r.weights_bytes_per_gpu),
      card("out-kv", "KV cache of this sequence", gb(kvBytes), kvBytes),
      r.memory_bytes_per_gpu != null ?
        card("out-memory", "Memory per GPU", gb(r.memory_bytes_per_gpu), r.memory_bytes_per_gpu) : null,
      card("out-max-seqs", "Max concurrent sequences", num(r.max_concurrent_sequences), r.max_concurrent_sequences),
      card("out-ttft", "TTFT (idle replica)", secs(r.ttft_s), r.ttft_s),
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
      points.push([n, r.cost_per_query_usd, r.ttft_s, r.fits]);
    } catch (e) { break; }
  }
  const axis = {xlabel: "prompt tokens", xscale: "log2", xfmt: tokens};
  put(section, h("h2", {}, "How it grows with context"),
    h("p", {class: "muted"}, "Each doubling of the prompt more than doubles prefill work: attention is quadratic in length. " +
                             "Hollow red points do not fit this deployment."),
    h("div", {class: "charts", id: "context-charts"},
      lineChart([{name: "cost per query", color: COLORS[0], points: points.map(p => [p[0], p[1], p[3]])}],
                {...axis, title: "Cost per query against context length", ylabel: "USD per query", yfmt: usdTick,
                 id: "chart-context-cost"}),
      lineChart([{name: "TTFT", color: COLORS[1], points: points.map(p => [p[0], p[2], p[3]])}],
                {...axis, title: "TTFT against context length", ylabel: "seconds", yfmt: secs, id: "chart-context-ttft"})));
}
