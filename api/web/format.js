// Display formats: one function per kind of quantity, shared by tables, cards and chart axes.
"use strict";

const NA = "n/a";
const missing = v => v === null || v === undefined || Number.isNaN(v);
const grouped = n => Math.round(n).toLocaleString("en-US");

// A number as its source wrote it (the shortest decimal that round-trips), with thousands separators:
// 4096 -> "4,096", 1.555 -> "1.555". For catalog values, which must not be rounded.
export function exact(v) {
  if (missing(v)) return NA;
  const text = String(v);
  if (!/^-?\d+(\.\d+)?$/.test(text)) return text;                  // exponent form: leave as is
  const [whole, fraction] = text.split(".");
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (fraction ? `.${fraction}` : "");
}

// 3 significant figures; integers, and anything from 10,000, whole with separators.
export function num(v, digits = 3) {
  if (missing(v)) return NA;
  if (Number.isInteger(v) || Math.abs(v) >= 1e4) return grouped(v);
  return Number(v.toPrecision(digits)).toLocaleString("en-US", {maximumSignificantDigits: digits});
}

// Dollars: whole dollars from $100, cents from $1, 3 significant figures below $1.
export function usd(v) {
  if (missing(v)) return NA;
  const sign = v < 0 ? "-" : "", a = Math.abs(v);
  if (a === 0) return "$0";
  if (Math.round(a * 100) / 100 >= 100) return `${sign}$${grouped(a)}`;
  if (Number(a.toPrecision(3)) >= 1) return `${sign}$${a.toFixed(2)}`;
  return `${sign}$${a.toLocaleString("en-US", {maximumSignificantDigits: 3})}`;
}

export function secs(v) {
  if (missing(v)) return NA;
  if (v === 0) return "0 s";
  if (Math.abs(v) < 1e-3) return `${num(v * 1e6)} µs`;
  if (Math.abs(v) < 1) return `${num(v * 1e3)} ms`;
  return `${num(v)} s`;
}

export const pct = v => missing(v) ? NA : `${Number((v * 100).toFixed(1))}%`;
export const gb = b => missing(b) ? NA : `${num(b / 1e9)} GB`;
export const when = t => t ? t.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC") : "";

// Token counts: powers of two as 4K / 1M, anything else exact (130,816).
export function tokens(n) {
  if (missing(n)) return NA;
  for (const [unit, size] of [["M", 1048576], ["K", 1024]]) {
    if (n >= size && n % size === 0) return `${exact(n / size)}${unit}`;
  }
  return exact(n);
}

// Short axis labels: 1.5K, 2M, 0.25.
export function compact(v) {
  if (missing(v)) return "";
  const a = Math.abs(v);
  if (a >= 1e9) return `${num(v / 1e9)}G`;
  if (a >= 1e6) return `${num(v / 1e6)}M`;
  if (a >= 1e3) return `${num(v / 1e3)}K`;
  return num(v);
}

// A column name as a header: "ttft_p99_s" -> "p99 TTFT (s)", "workload.arrival.rate_per_s" -> "rate per s".
const HEADERS = {
  point: "point", deployment: "deployment", kind: "kind", model: "model", hardware: "hardware",
  ttft_p50_s: "p50 TTFT", ttft_p99_s: "p99 TTFT", tpot_p50_s: "p50 TPOT", tpot_p99_s: "p99 TPOT",
  e2e_p50_s: "p50 end-to-end", e2e_p99_s: "p99 end-to-end", cost_per_query_usd: "$ per query",
  slo_attainment: "SLO share", stable: "stable", expected_accuracy: "expected accuracy", num_gpus: "GPUs",
  cost_per_month_usd: "$ per month", kv_cache_peak_utilization: "peak KV use", num_refused: "refused",
};
export function header(key) {
  if (HEADERS[key]) return HEADERS[key];
  const last = key.split(".").pop();
  return last.replace(/_per_s$/, " per s").replace(/_usd$/, " ($)").replace(/_s$/, " (s)").replace(/^num_/, "")
             .replace(/_/g, " ");
}

// A value by its column name's unit suffix.
const SHARES = new Set(["slo_attainment", "kv_cache_peak_utilization", "expected_accuracy"]);
export function byKey(key, v) {
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v !== "number") return missing(v) ? NA : String(v);
  if (SHARES.has(key)) return pct(v);
  if (key.endsWith("_usd")) return usd(v);
  if (key.endsWith("_s") && !key.endsWith("per_s")) return secs(v);
  if (Number.isInteger(v)) return exact(v);
  return num(v);
}

// Dollars on a chart axis: like usd, without cents on whole dollars ($10, not $10.00).
export const usdTick = v => (Number.isInteger(v) && Math.abs(v) >= 1 ? `$${grouped(v)}` : usd(v));
