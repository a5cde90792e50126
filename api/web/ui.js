// Shared page pieces: the API client, element builder, form fields and their errors, tables.
"use strict";

export const main = document.getElementById("main");
export const KINDS = {simulation: "simulations", comparison: "comparisons", plan: "plans", sweep: "sweeps"};
export const COLORS = ["#1f5fbf", "#d9730d", "#2e8540", "#8e44ad", "#c0392b", "#16a085"];
export const nav = {token: 0};          // bumped on every page change: loops of an old page stop

const keyInput = document.getElementById("api-key");

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : "request failed");
    this.status = status;
    this.detail = detail;
  }
}

export async function api(method, path, body, contentType) {
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

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

// append / replaceChildren that skip null and undefined (the DOM would write them as "null") and flatten lists.
const present = children => children.flat(Infinity).filter(c => c !== null && c !== undefined && c !== false);
export const put = (node, ...children) => node.append(...present(children));
export const fill = (node, ...children) => node.replaceChildren(...present(children));

export function say(message) { document.getElementById("status").textContent = message; }
export const alertBox = (message, id) => h("p", {class: "alert", role: "alert", id}, message);

// ----- forms and field errors --------------------------------------------------------------

export function field(name, label, control, hint) {
  control.id = `f-${name}`;
  control.name = name;
  control.setAttribute("aria-describedby", `err-${name}` + (hint ? ` hint-${name}` : ""));
  return h("div", {class: "field"}, h("label", {for: control.id}, label), control,
           hint ? h("span", {class: "hint", id: `hint-${name}`}, hint) : null,
           h("span", {class: "error", id: `err-${name}`, role: "alert"}));
}

export function clearErrors(form) {
  form.querySelectorAll(".error").forEach(e => { e.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach(e => e.removeAttribute("aria-invalid"));
  form.querySelectorAll(".alert").forEach(e => e.remove());
}

// A 422's details next to their fields: loc ["body", "scenario", "workload", ...] goes to the field
// named (or data-alias'ed) "scenario", as "workload...: message"; what matches no field goes in one alert.
export function showErrors(form, error) {
  const unplaced = [];
  if (Array.isArray(error.detail)) {
    for (const item of error.detail) {
      const loc = (item.loc || []).filter(p => p !== "body").map(String);
      const control = loc.length && (form.querySelector(`[name="${CSS.escape(loc[0])}"]`) ||
                                     form.querySelector(`[data-alias="${CSS.escape(loc[0])}"]`));
      if (control) {
        control.setAttribute("aria-invalid", "true");
        const where = loc.slice(1).join(".");
        const slot = document.getElementById(`err-${control.name}`);
        slot.textContent = [slot.textContent, where ? `${where}: ${item.msg}` : item.msg].filter(Boolean).join("; ");
      } else {
        unplaced.push(loc.length ? `${loc.join(".")}: ${item.msg}` : item.msg);
      }
    }
  } else {
    unplaced.push(String(error.detail || error.message));
  }
  if (unplaced.length) form.append(alertBox(unplaced.join("; ")));
  const first = form.querySelector("[aria-invalid='true']");
  if (first) first.focus();
  say("The form has errors.");
}

export function numberInput(value, min, max, step = 1) {
  return h("input", {type: "number", inputmode: step === 1 ? "numeric" : "decimal", value, min, max, step,
                     required: true});
}

export function select(options, value) {
  const s = h("select", {});
  for (const o of options) s.append(h("option", {value: o.value, selected: o.value === value}, o.label));
  return s;
}

// columns: [[header, row -> cell, {title (the header's tooltip), text (left-aligned, wrapping)}]]; in a scroller.
export function table(columns, rows, id) {
  const textClass = (c, i) => (i === 0 || c[2]?.text ? "text" : null);
  const head = columns.map((c, i) => h("th", {scope: "col", title: c[2]?.title, class: textClass(c, i)}, c[0]));
  const body = rows.map(r => h("tr", {}, columns.map((c, i) => h("td", {class: textClass(c, i)}, c[1](r)))));
  return h("div", {class: "table-wrap"}, h("table", {id}, h("thead", {}, h("tr", {}, head)), h("tbody", {}, body)));
}

export function card(id, label, text, value) {
  return h("div", {class: "card"}, h("dt", {}, label), h("dd", {id, "data-value": value}, text));
}

// A <pre> with a button that copies its text.
export function copyBlock(id, label, text) {
  const pre = h("pre", {id, tabindex: 0, "aria-label": label}, text);
  const button = h("button", {type: "button", class: "secondary copy", "aria-controls": id}, "Copy");
  button.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(text); }
    catch (e) {                                   // no clipboard API (not a secure context): select and copy
      const range = document.createRange();
      range.selectNodeContents(pre);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    say(`${label} copied.`);
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  return h("div", {class: "copy-block"}, h("div", {class: "copy-head"}, h("h3", {}, label), button), pre);
}

// ----- scenarios -----------------------------------------------------------------------------

// A built-in scenario picker that loads the file's YAML into a textarea (named "scenario").
export function scenarioFields(scenarios, hint) {
  const choose = select([{value: "", label: "(paste your own below)"},
                         ...scenarios.map(s => ({value: s.name, label: `${s.name} (${s.kind})`}))], "");
  const text = h("textarea", {spellcheck: "false"});
  const picker = field("builtin", "Built-in scenario", choose, hint || "loads its YAML below; edit before running");
  const editor = h("div", {class: "field wide"}, h("label", {for: "f-scenario"}, "Scenario YAML"),
    Object.assign(text, {id: "f-scenario", name: "scenario"}),
    h("span", {class: "error", id: "err-scenario", role: "alert"}));
  text.setAttribute("aria-describedby", "err-scenario");
  choose.addEventListener("change", async () => {
    if (!choose.value) return;
    try {
      text.value = (await api("GET", `/v1/scenarios/${encodeURIComponent(choose.value)}`)).yaml;
      text.dispatchEvent(new Event("input"));
    } catch (e) { document.getElementById("err-scenario").textContent = e.message; }
  });
  return {picker, editor, choose, text};
}

// A job body as YAML: the plain options as JSON (valid YAML flow), and the scenario's own YAML text
// indented under `scenario:`, so the browser needs no YAML parser.
export function yamlBody(options, scenarioYaml) {
  const lines = scenarioYaml.replace(/\r\n?/g, "\n").split("\n");
  while (lines.length && /^(---|%.*|\s*)$/.test(lines[0])) lines.shift();
  const head = Object.entries(options).filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return [...head, "scenario:", ...lines.map(l => (l.trim() ? `  ${l}` : ""))].join("\n") + "\n";
}

// Client-side navigation; app.js sets nav.route.
export function navigate(path) {
  history.pushState({}, "", path);
  nav.route();
  main.focus();
}
