// The Plan page: a workload (a scenario, or a few numbers that make one) and targets ->
// POST /v1/plans; and the plan result: configurations, the Pareto chart, the chosen configuration.
"use strict";
import {lineChart} from "/static/charts.js";
import {catalog} from "/static/estimate.js";
import {exact, num, pct, secs, usd, usdTick} from "/static/format.js";
import {COLORS, alertBox, api, clearErrors, copyBlock, field, h, main, navigate, numberInput, put, scenarioFields,
        select, showErrors, table, yamlBody} from "/static/ui.js";

const decimal = value => h("input", {type: "number", inputmode: "decimal", min: 0, step: "any", value});

function hardwareChoices(hardware, checked) {
  const box = h("fieldset", {class: "field checks", id: "f-hardware", "aria-describedby": "err-hardware"},
    h("legend", {}, "Hardware to try"),
    hardware.map(x => h("label", {}, h("input", {type: "checkbox", name: "hardware", value: x.name,
                                                  checked: checked.includes(x.name)}), ` ${x.name}`)),
    h("span", {class: "error", id: "err-hardware", role: "alert"}));
  return box;
}

const numbers = text => text.split(/[\s,]+/).filter(Boolean).map(Number);

export async function pagePlan() {
  main.replaceChildren(h("h1", {}, "Plan a deployment"),
    h("p", {class: "muted"}, "Finds the cheapest configuration (hardware, tensor parallel, replicas) that serves the " +
                             "target rate within the p99 latency targets, by simulating each candidate."));
  let scenarios, cat;
  try { [scenarios, cat] = await Promise.all([api("GET", "/v1/scenarios"), catalog()]); }
  catch (e) { main.append(alertBox(e.message)); return; }
  const serving = scenarios.filter(s => s.kind === "simulation");
  const {picker, editor, choose, text} = scenarioFields(serving, "its first deployment is the template");
  const source = select([{value: "scenario", label: "a scenario file"},
                         {value: "form", label: "a model and request sizes"}], "scenario");
  const quick = h("div", {class: "subgrid", id: "quick-workload", hidden: true},
    field("model", "Model", select(cat.models.map(m => ({value: m.name, label: m.name})), "llama-3.1-8b")),
    field("prompt_median", "Prompt tokens (median)", numberInput(1000, 1)),
    field("output_median", "Output tokens (median)", numberInput(200, 1)));
  const scenarioPart = h("div", {class: "subgrid wide", id: "scenario-workload"}, picker, editor);
  const form = h("form", {class: "grid", novalidate: true, "aria-label": "plan"},
    field("source", "Workload from", source), quick, scenarioPart,
    hardwareChoices(cat.hardware, ["h100-sxm"]),
    field("target_qps", "Target requests per second", decimal(4)),
    field("slo_ttft_p99_s", "p99 TTFT target (s)", decimal(0.5), "empty: the scenario's slo"),
    field("slo_tpot_p99_s", "p99 TPOT target (s)", decimal(0.05), "empty: the scenario's slo"),
    field("max_gpus", "Max GPUs", numberInput(4, 1)),
    field("headroom", "Headroom", decimal(""), "sized for (1 + headroom) x the target; empty: the planner's default"),
    field("tensor_parallel", "Tensor parallel degrees", h("input", {type: "text", value: "1"}),
          "comma-separated, e.g. 1, 2, 4"),
    field("seeds", "Seeds per point", numberInput(1, 1, 20)),
    field("requests", "Requests per simulation", h("input", {type: "number", min: 1, step: 1, value: 500}),
          "empty: the scenario's num_requests"),
    h("div", {class: "field"}, h("label", {}, h("input", {type: "checkbox", name: "capacity", id: "f-capacity", checked: true}),
      " also find each configuration's max req/s"),
      h("span", {class: "hint"}, "slower: a rate search per feasible configuration")),
    h("div", {class: "actions"}, h("button", {type: "submit", id: "plan-submit"}, "Plan")));
  main.append(form);
  source.addEventListener("change", () => {
    quick.hidden = source.value !== "form";
    scenarioPart.hidden = source.value === "form";
  });
  if (serving.some(s => s.name === "quickstart")) {
    choose.value = "quickstart";
    choose.dispatchEvent(new Event("change"));
  }
  form.addEventListener("submit", async event => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    const value = name => (data.get(name) === "" || data.get(name) === null ? null : Number(data.get(name)));
    const options = {target_qps: value("target_qps"), slo_ttft_p99_s: value("slo_ttft_p99_s"),
                     slo_tpot_p99_s: value("slo_tpot_p99_s"), hardware: data.getAll("hardware"),
                     max_gpus: value("max_gpus"), seeds: value("seeds"), requests: value("requests"),
                     capacity: data.get("capacity") === "on", headroom: value("headroom"),
                     tensor_parallel: data.get("tensor_parallel").trim() ? numbers(data.get("tensor_parallel")) : null};
    if (!options.hardware.length) {
      showErrors(form, {detail: [{loc: ["body", "hardware"], msg: "choose at least one"}]});
      return;
    }
    let body, type;
    if (source.value === "form") {
      body = {...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== null)),
              scenario: quickScenario(data, options, cat.models.find(m => m.name === data.get("model")))};
    } else if (!text.value.trim()) {
      showErrors(form, {detail: [{loc: ["body", "scenario"], msg: "paste a scenario or choose a built-in one"}]});
      return;
    } else {
      [body, type] = [yamlBody(options, text.value), "application/yaml"];
    }
    try {
      const job = await api("POST", "/v1/plans", body, type);
      navigate(`/jobs/plan/${job.id}`);
    } catch (e) { showErrors(form, e); }
  });
}

// A serving scenario from the quick form: Poisson arrivals at the target, lognormal lengths.
function quickScenario(data, options, model) {
  const prompt = Number(data.get("prompt_median")), output = Number(data.get("output_median"));
  const room = model ? model.max_context_tokens : 131072;
  const outputMax = Math.min(output * 8, Math.floor(room / 4));
  const promptMax = Math.max(prompt, Math.min(prompt * 8, room - outputMax));
  return {name: `plan-${data.get("model")}`, seed: 42,
          workload: {num_requests: options.requests || 1000,
                     arrival: {process: "poisson", rate_per_s: options.target_qps || 1},
                     prompt_tokens: {dist: "lognormal", median: prompt, sigma: 0.8, max: promptMax},
                     output_tokens: {dist: "lognormal", median: output, sigma: 0.6, max: Math.max(output, outputMax)}},
          deployments: [{name: "template", model: data.get("model"), hardware: options.hardware[0]}]};
}

// ----- the result ----------------------------------------------------------------------------

const replicasOf = c => c.replicas ?? c.min_replicas;
const meets = c => c.meets_slo ?? (c.min_replicas !== null && c.min_replicas !== undefined);
const shape = c => `${replicasOf(c) ?? "?"} x ${c.hardware} tp${c.tensor_parallel}`;

function targetsLine(result) {
  const t = result.targets || {};
  const parts = [t.ttft_p99_s != null ? `p99 TTFT at most ${secs(t.ttft_p99_s)}` : null,
                 t.tpot_p99_s != null ? `p99 TPOT at most ${secs(t.tpot_p99_s)}` : null,
                 result.headroom != null ? `headroom ${pct(result.headroom)}` : null].filter(Boolean);
  return `Targets: ${parts.join(", ") || "none"}; seeds ${(result.seeds || []).join(", ")}; ` +
         `${exact(result.num_simulations)} simulations.`;
}

function chosen(result) {
  const b = result.best;
  if (!b) return [h("p", {class: "fit-no", id: "plan-best"}, "No configuration meets the targets within the GPU limit.")];
  const rate = b.max_rate_per_s != null ? `; sustains up to ${num(b.max_rate_per_s)} req/s` : "";
  const gpus = `${exact(b.num_gpus)} GPU${b.num_gpus === 1 ? "" : "s"}`;
  return [
    h("p", {class: "winner", id: "plan-best"},
      `Chosen: ${shape(b)} (max_num_seqs ${exact(b.max_num_seqs)}, ` +
      `max_num_batched_tokens ${exact(b.max_num_batched_tokens)}): ` +
      `${gpus}, ${usd(b.cost_per_hour_usd)} per hour, ${usd(b.cost_per_query_usd)} per query; ` +
      `p99 TTFT ${secs(b.ttft_p99_s)}, p99 TPOT ${secs(b.tpot_p99_s)}${rate}.`),
    h("p", {id: "plan-reason"}, `Why: ${b.reason || "the cheapest configuration per hour that meets the targets " +
                                                   "(ties go to the lower p99 TTFT)."}`)];
}

function deploy(best) {
  const emit = best && best.emit;
  if (!emit || !(emit.vllm_command || emit.kubernetes_manifest)) return [];
  return [h("h3", {}, "Deploy the chosen configuration"),
          h("div", {class: "emit", id: "plan-emit"},
            emit.vllm_command ? copyBlock("emit-vllm", "vLLM command", emit.vllm_command) : null,
            emit.kubernetes_manifest ? copyBlock("emit-k8s", "Kubernetes manifest", emit.kubernetes_manifest) : null)];
}

function definitions(result) {
  const items = [["Capacity", result.capacity_definition, "plan-capacity"], ["Cost", result.cost_metric, "plan-cost-metric"]]
    .filter(([, text]) => text);
  const pairs = items.map(([term, text, id]) => [h("dt", {}, term), h("dd", {id}, text)]);
  return items.length ? h("dl", {class: "definitions"}, pairs) : null;
}

function paretoChart(result) {
  const front = result.pareto ?? (result.pareto_front || []).filter(meets);
  const b = result.best, t = result.targets || {};
  const isBest = p => b && p.hardware === b.hardware && p.tensor_parallel === b.tensor_parallel &&
                      p.max_num_seqs === b.max_num_seqs && replicasOf(p) === b.min_replicas;
  const label = front.length <= 8 ? shape : () => undefined;
  const points = front.filter(p => p.ttft_p99_s != null).sort((p, q) => p.cost_per_hour_usd - q.cost_per_hour_usd);
  const xy = p => [p.cost_per_hour_usd, p.ttft_p99_s, true, label(p)];
  return lineChart([
    {name: "meets the targets", color: COLORS[0], points: points.filter(p => !isBest(p)).map(xy)},
    {name: "chosen", color: "#1e7b34", size: 12, line: false, points: points.filter(isBest).map(xy)}],
    {title: "Pareto front: cost against p99 TTFT", xlabel: "USD per hour", ylabel: "p99 TTFT", xfmt: usdTick, yfmt: secs,
     xscale: "auto", ref: t.ttft_p99_s != null ? {y: t.ttft_p99_s, label: `target ${secs(t.ttft_p99_s)}`} : undefined,
     id: "plan-pareto", empty: "No configuration meets the targets: nothing to draw."});
}

function pricesTable(prices) {
  const rows = Object.entries(prices).map(([hardware, p]) => ({hardware, ...p}));
  return [h("h3", {}, "Prices used"),
          table([["hardware", r => r.hardware], ["$ per GPU-hour", r => usd(r.usd_per_gpu_hour)],
                 ["source", r => h("span", {class: "muted"}, r.source || ""), {text: true}]], rows, "plan-prices")];
}

export function renderPlan(out, result) {
  const configs = result.configurations || [];
  put(out, h("h2", {tabindex: -1, id: "result-heading"}, `Plan at ${num(result.target_qps)} req/s`),
    h("p", {class: "muted"}, targetsLine(result)), definitions(result),
    chosen(result),
    h("div", {class: "charts"}, paretoChart(result)),
    h("h3", {}, "Configurations"),
    table([["hardware", c => c.hardware], ["tp", c => exact(c.tensor_parallel)], ["max_num_seqs", c => exact(c.max_num_seqs)],
           ["batched tokens", c => exact(c.max_num_batched_tokens), {title: "max_num_batched_tokens"}],
           ["replicas", c => (replicasOf(c) == null ? "-" : exact(replicasOf(c)))],
           ["GPUs", c => (c.num_gpus == null ? "-" : exact(c.num_gpus))], ["$ per hour", c => usd(c.cost_per_hour_usd)],
           ["p99 TTFT", c => secs(c.ttft_p99_s)], ["p99 TPOT", c => secs(c.tpot_p99_s)],
           ["max req/s", c => num(c.max_rate_per_s)],
           ["meets targets", c => h("span", {class: meets(c) ? "fit-yes" : "fit-no"}, meets(c) ? "yes" : "no")],
           ["reason", c => c.unreachable_reason || c.reason || "", {text: true}]], configs, "plan-table"),
    result.prices_used ? pricesTable(result.prices_used) : null, deploy(result.best));
}
