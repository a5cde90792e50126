// A job's page (/jobs/<kind>/<id>): status and progress while it runs, then its result; and the
// list of recent jobs.
"use strict";
import {renderComparison, renderSimulation} from "/static/compare.js";
import {when} from "/static/format.js";
import {renderPlan} from "/static/plan.js";
import {renderSweep} from "/static/sweep.js";
import {KINDS, alertBox, api, h, main, nav, say, table} from "/static/ui.js";

const RENDERERS = {comparison: renderComparison, simulation: renderSimulation, plan: renderPlan, sweep: renderSweep};
const POLL_MS = 500;

// The bar shows the job's progress; while the job runs and the figure has not moved, stripes move
// across it (and with no progress yet it is indeterminate), so a long step does not look stuck.
export function progressBar() {
  const fill = h("div", {class: "fill"});
  const bar = h("div", {id: "job-progress", class: "progress", role: "progressbar", "aria-label": "progress",
                        "aria-valuemin": 0, "aria-valuemax": 100}, fill);
  return {bar, set(fraction, busy) {
    bar.classList.toggle("busy", busy);
    bar.classList.toggle("indeterminate", busy && !fraction);
    fill.style.width = `${Math.round((fraction || 0) * 100)}%`;
    if (busy && !fraction) bar.removeAttribute("aria-valuenow");
    else bar.setAttribute("aria-valuenow", Math.round((fraction || 0) * 100));
  }};
}

export function describe(job, sinceChangeS) {
  if (job.status === "queued") return "waiting for a free worker";
  if (job.status !== "running") return "";
  const percent = `${Math.round((job.progress || 0) * 100)}% done`;
  const stage = job.stage || job.current || "";     // a step name, if the service reports one
  const still = sinceChangeS >= 2 ? `, working (${Math.round(sinceChangeS)} s on this step)` : ", working";
  return `${percent}${stage ? `: ${stage}` : ""}${still}`;
}

export async function pageJob(kind, id) {
  const plural = KINDS[kind], token = nav.token;
  if (!plural) { main.replaceChildren(h("h1", {id: "not-found"}, "Page not found")); return; }
  const bar = progressBar();
  const status = h("span", {id: "job-status"}, "loading");
  const detail = h("span", {id: "job-detail", class: "muted"});
  main.replaceChildren(h("h1", {}, `${kind[0].toUpperCase() + kind.slice(1)} ${id}`),
                       h("p", {class: "job-line"}, "Status: ", status, " ", bar.bar, " ", detail),
                       h("section", {id: "job-result", "aria-label": "result"}));
  let last = null, changedAt = Date.now();
  while (nav.token === token) {
    let job;
    try { job = await api("GET", `/v1/${plural}/${encodeURIComponent(id)}`); }
    catch (e) {
      if (nav.token !== token) return;
      status.textContent = e.status === 404 ? "no such job" : "error";
      bar.bar.remove();
      main.append(alertBox(e.status === 404 ? `No such ${kind}: ${id}. The link may be mistyped, or the job ` +
                                              "belongs to another API key." : e.message, "job-error"));
      say(status.textContent);
      return;
    }
    if (nav.token !== token) return;
    if (job.progress !== last) { last = job.progress; changedAt = Date.now(); }
    status.textContent = job.status;
    bar.set(job.progress, job.status === "running" || job.status === "queued");
    detail.textContent = describe(job, (Date.now() - changedAt) / 1000);
    if (job.status === "succeeded") {
      bar.set(1, false);
      detail.textContent = job.name ? `scenario ${job.name}` : "";
      RENDERERS[kind](document.getElementById("job-result"), job.result);
      document.getElementById("result-heading")?.focus();
      say("Result ready.");
      return;
    }
    if (job.status === "failed" || job.status === "cancelled") {
      bar.set(job.progress, false);
      main.append(alertBox(`The job ${job.status}: ${job.error || ""}`, "job-error"));
      return;
    }
    await new Promise(r => setTimeout(r, POLL_MS));
  }
}

export async function pageJobs() {
  main.replaceChildren(h("h1", {}, "Recent jobs"));
  try {
    const pages = await Promise.all(Object.entries(KINDS).map(async ([kind, plural]) =>
      (await api("GET", `/v1/${plural}?limit=50`)).items.map(j => ({...j, kind}))));
    const jobs = pages.flat().sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    if (!jobs.length) { main.append(h("p", {}, "No jobs yet. Run one from the Compare, Plan or Sweep page.")); return; }
    main.append(table([["job", j => h("a", {href: `/jobs/${j.kind}/${j.id}`}, `${j.kind} ${j.id.slice(0, 8)}`)],
                       ["scenario", j => j.name || "", {text: true}],
                       ["status", j => j.status, {text: true}], ["progress", j => `${Math.round((j.progress || 0) * 100)}%`],
                       ["created", j => when(j.created_at)], ["finished", j => when(j.finished_at)]], jobs, "jobs-table"));
  } catch (e) { main.append(alertBox(e.message)); }
}
