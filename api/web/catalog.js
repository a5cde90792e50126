// The Catalog page: models and hardware with their sources, every value as the catalog gives it.
"use strict";
import {catalog} from "/static/estimate.js";
import {exact, usd} from "/static/format.js";
import {alertBox, h, main, table} from "/static/ui.js";

const source = row => h("span", {class: "muted"}, row.source || "");

export async function pageCatalog() {
  main.replaceChildren(h("h1", {}, "Catalog"));
  try {
    const cat = await catalog();
    main.append(h("h2", {}, "Models"),
      table([["name", m => m.name], ["params (B)", m => exact(m.params_total_b)], ["active (B)", m => exact(m.params_active_b)],
             ["layers", m => exact(m.num_layers)], ["KV heads", m => exact(m.num_kv_heads)],
             ["attention", m => m.attention, {text: true}], ["context (tokens)", m => exact(m.max_context_tokens)],
             ["verified", m => (m.verified ? "yes" : "no")], ["source", source, {text: true}]], cat.models, "models-table"),
      h("h2", {}, "Hardware"),
      table([["name", x => x.name], ["memory (GB)", x => exact(x.memory_gb)],
             ["bandwidth (TB/s)", x => exact(x.memory_bandwidth_tb_s)], ["bf16 dense TFLOP/s", x => exact(x.bf16_dense_tflops)],
             ["$ per GPU-hour", x => (x.on_demand_usd_per_gpu_hour == null ? "-" : usd(x.on_demand_usd_per_gpu_hour))],
             ["verified", x => (x.uploaded ? "uploaded" : (x.verified ? "yes" : "no"))], ["source", source, {text: true}]],
            cat.hardware, "hardware-table"));
  } catch (e) { main.append(alertBox(e.message)); }
}
