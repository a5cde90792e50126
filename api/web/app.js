// ctxplan web page: the router. Each page is a module (estimate, compare, plan, sweep, jobs,
// catalog) calling the JSON API of the same server; charts come from charts.js (uPlot).
"use strict";
import {pageCatalog} from "/static/catalog.js";
import {pageCompare} from "/static/compare.js";
import {forgetCatalog, pageEstimate} from "/static/estimate.js";
import {pageJob, pageJobs} from "/static/jobs.js";
import {pagePlan} from "/static/plan.js";
import {pageSweep} from "/static/sweep.js";
import {h, main, nav, navigate} from "/static/ui.js";

const PAGES = {"/": ["estimate", pageEstimate], "/compare": ["compare", pageCompare], "/plan": ["plan", pagePlan],
               "/sweep": ["sweep", pageSweep], "/jobs": ["jobs", pageJobs], "/catalog": ["catalog", pageCatalog]};
const JOB_PATH = /^\/jobs\/([a-z]+)\/([A-Za-z0-9-]+)$/;

function pageNotFound() {
  main.replaceChildren(h("h1", {id: "not-found"}, "Page not found"),
                       h("p", {}, "There is no page at this address. ", h("a", {href: "/"}, "Go to the Estimate page")));
}

function route() {
  nav.token += 1;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const job = path.match(JOB_PATH);
  const [name, page] = job ? ["jobs", () => pageJob(job[1], job[2])] : (PAGES[path] || ["not found", pageNotFound]);
  document.querySelectorAll("nav a").forEach(a => {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  document.title = `ctxplan: ${name}`;
  return page();
}
nav.route = route;

const keyInput = document.getElementById("api-key");
keyInput.value = sessionStorage.getItem("ctxplan-api-key") || "";
keyInput.addEventListener("change", () => {
  sessionStorage.setItem("ctxplan-api-key", keyInput.value.trim());
  forgetCatalog();
  route();                                           // retry the page with the new key
});

document.addEventListener("click", event => {
  const a = event.target.closest("a");
  if (a && a.origin === location.origin && !a.hasAttribute("download") && !event.ctrlKey && !event.metaKey
      && (PAGES[a.pathname] || JOB_PATH.test(a.pathname))) {
    event.preventDefault();
    navigate(a.pathname);
  }
});
window.addEventListener("popstate", route);
route();
