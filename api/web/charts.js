// Charts drawn by uPlot (vendored in api/web/vendor/, MIT; the global `uPlot`).
//
// lineChart: one or more series of [x, y, ok, label] points. An axis becomes logarithmic when its
// data spans decades (context lengths from 4K to 1M, costs from $0.0001 to $1); log axes tick at
// powers of two (x, token counts) or ten (y), thinned so neighbouring labels never overlap.
// Points with ok === false are drawn hollow red and left off the line ("does not fit").
// barChart: one horizontal bar per item with its value written at the bar's end.
// Each chart is a <figure> whose caption names both axes (the canvas itself has no text); the
// uPlot instance is the figure's `chart` property and the ticks drawn are in data-x-ticks / data-y-ticks.
"use strict";
import {compact} from "/static/format.js";

const FONT = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";
const INK = "#1d2430", GRID = "#e3e6eb", BAD = "#b3261e";
const axisStyle = {font: FONT, labelFont: `600 ${FONT}`, stroke: INK, grid: {stroke: GRID, width: 1},
                   ticks: {stroke: GRID, width: 1, size: 4}};

export function spansDecades(values, ratio = 30) {
  const positive = values.filter(v => v > 0);
  return positive.length === values.length && positive.length > 1 &&
         Math.max(...positive) / Math.min(...positive) >= ratio;
}

// Powers of two in [min, max], every k-th one so that neighbours are at least minGapPx apart.
export function powerOfTwoTicks(min, max, plotPx, minGapPx = 56) {
  const lo = Math.ceil(Math.log2(min) - 1e-9), hi = Math.floor(Math.log2(max) + 1e-9);
  if (hi < lo) return [];
  const pxPerOctave = plotPx / Math.max(Math.log2(max / min), 1e-9);
  const stride = Math.max(1, Math.ceil(minGapPx / pxPerOctave));
  const ticks = [];
  for (let e = Math.ceil(lo / stride) * stride; e <= hi; e += stride) ticks.push(2 ** e);
  return ticks;
}

// Powers of ten in [min, max] (with 2x and 5x, or 3x, between when there is room), at least minGapPx apart.
export function powerOfTenTicks(min, max, plotPx, minGapPx = 24) {
  const pxPerDecade = plotPx / Math.max(Math.log10(max / min), 1e-9);
  const options = [[[1, 2, 5], 1], [[1, 3], 1], [[1], 1], [[1], 2], [[1], 3], [[1], 5], [[1], 10]];
  const [mantissas, stride] = options.find(([m, s]) => {
    const gaps = m.map((v, i) => Math.log10((m[i + 1] || 10) / v));
    return Math.min(...gaps) * s * pxPerDecade >= minGapPx;
  }) || options[options.length - 1];
  const ticks = [];
  const first = Math.floor(Math.log10(min)), last = Math.ceil(Math.log10(max));
  for (let e = Math.ceil(first / stride) * stride; e <= last; e += stride) {
    for (const m of mantissas) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks;
}

function autoSize(u, values, axisIdx, cycleNum) {       // room for the widest label (uPlot's recipe)
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values || []).reduce((a, v) => (String(v ?? "").length > a.length ? String(v) : a), "");
  if (longest) { u.ctx.font = axis.font[0]; size += u.ctx.measureText(longest).width / devicePixelRatio; }
  return Math.ceil(size) + 4;
}

function figure(title, caption, id) {
  const plot = document.createElement("div");
  const fig = document.createElement("figure");
  fig.className = "chart";
  if (id) fig.id = id;
  fig.setAttribute("aria-label", title);
  const text = document.createElement("figcaption");
  text.textContent = caption;
  fig.append(plot, text);
  return {fig, plot};
}

function scaleFor(kind, values, fig, axis, fmt, opts) {
  const record = ticks => { fig.dataset[`${axis}Ticks`] = JSON.stringify(ticks); return ticks; };
  const lo = Math.min(...values), hi = Math.max(...values);
  if (kind === "log2" || kind === "log10") {
    const base = kind === "log2" ? 2 : 10;
    const range = axis === "x" ? [lo / base ** 0.15, hi * base ** 0.15]
                               : [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi * 1.0001))];
    const ticker = base === 2 ? powerOfTwoTicks : powerOfTenTicks;
    const plotPx = u => (axis === "x" ? u.bbox.width : u.bbox.height) / devicePixelRatio;
    return {scale: {distr: 3, log: base, range: () => range},
            axis: {splits: (u, i, min, max) => record(ticker(min, max, plotPx(u))),
                   filter: (u, splits) => splits,                  // uPlot's log filter would blank some labels
                   values: (u, splits) => splits.map(fmt)}};
  }
  if (kind === "category") {
    const n = opts.categories.length;
    return {scale: {range: () => [-0.5, n - 0.5]},
            axis: {splits: () => record([...Array(n).keys()]),
                   values: (u, splits) => splits.map(i => opts.categories[i] ?? "")}};
  }
  const range = axis === "y" ? [Math.min(0, lo), hi * 1.1 || 1]
                             : (hi > lo ? [lo - (hi - lo) * 0.06, hi + (hi - lo) * 0.06] : [lo * 0.5, lo * 1.5 || 1]);
  return {scale: {range: () => range},
          axis: {values: (u, splits) => record(splits).map(fmt)}};
}

function pickScale(kind, values, logKind) {
  if (kind !== "auto") return kind;
  return spansDecades(values) ? logKind : "linear";
}

// opts: {title, xlabel, ylabel, xscale ("auto" | "linear" | "log2" | "category"), yscale ("auto" | "linear" |
// "log10"), categories, xfmt, yfmt, width, height, ref: {y, label} (a dashed horizontal line), id}
export function lineChart(series, opts) {
  const points = series.flatMap((s, si) => s.points.filter(p => p[1] !== null && p[1] !== undefined)
    .map(p => ({si, x: p[0], y: p[1], ok: p[2] !== false, label: p[3]})));
  points.sort((a, b) => a.x - b.x);
  const xKind = pickScale(opts.xscale || "auto", points.map(p => p.x), "log2");
  const yKind = pickScale(opts.yscale || "auto", points.map(p => p.y), "log10");
  const xfmt = opts.xfmt || compact, yfmt = opts.yfmt || compact;
  const caption = `x: ${opts.xlabel}${xKind.startsWith("log") ? " (log scale)" : ""}; ` +
                  `y: ${opts.ylabel}${yKind.startsWith("log") ? " (log scale)" : ""}`;
  const {fig, plot} = figure(opts.title, caption, opts.id);
  fig.dataset.xScale = xKind;
  fig.dataset.yScale = yKind;
  if (!points.length) { plot.append(opts.empty || "nothing to draw"); return fig; }
  const xs = points.map(p => p.x), ys = points.map(p => p.y).concat(opts.ref ? [opts.ref.y] : []);   // the line in range
  const x = scaleFor(xKind, xs, fig, "x", xfmt, opts);
  const y = scaleFor(yKind, ys, fig, "y", yfmt, opts);
  const data = [xs], uSeries = [{}];
  series.forEach((s, si) => {
    const mine = (ok) => points.map(p => (p.si === si && p.ok === ok ? p.y : null));
    data.push(mine(true));
    uSeries.push({label: s.name, stroke: s.color, width: s.line === false ? 0 : 2, spanGaps: true,
                  paths: s.line === false ? () => null : undefined,
                  points: {show: true, size: s.size || 7, fill: s.color, stroke: s.color}});
    if (points.some(p => p.si === si && !p.ok)) {
      data.push(mine(false));
      uSeries.push({label: `${s.name} (does not fit)`, stroke: BAD, paths: () => null,
                    points: {show: true, size: 8, width: 2, fill: "#fff", stroke: BAD}});
    }
  });
  const options = {
    title: opts.title, width: opts.width || 520, height: opts.height || 300,
    scales: {x: {time: false, ...x.scale}, y: y.scale},
    axes: [{...axisStyle, label: opts.xlabel, ...x.axis, size: 36},
           {...axisStyle, label: opts.ylabel, ...y.axis, size: autoSize}],
    series: uSeries, legend: {show: true, live: false}, cursor: {drag: {x: false, y: false}},
    hooks: {draw: [u => drawExtras(u, points, opts)]},
  };
  fig.chart = new uPlot(options, data, plot);
  return fig;
}

function drawExtras(u, points, opts) {
  const ctx = u.ctx, ratio = devicePixelRatio;
  ctx.save();
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.fillStyle = INK;
  if (opts.ref) {
    const y = u.valToPos(opts.ref.y, "y", true);
    ctx.strokeStyle = BAD;
    ctx.setLineDash([5 * ratio, 4 * ratio]);
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, y);
    ctx.lineTo(u.bbox.left + u.bbox.width, y);
    ctx.stroke();
    ctx.fillStyle = BAD;
    ctx.textAlign = "right";
    ctx.fillText(opts.ref.label, u.bbox.left + u.bbox.width - 4 * ratio, y - 4 * ratio);
    ctx.fillStyle = INK;
  }
  for (const p of points) {
    if (!p.label) continue;
    const x = u.valToPos(p.x, "x", true), room = u.bbox.left + u.bbox.width - x;
    const right = ctx.measureText(p.label).width + 8 * ratio > room;      // near the right edge: label to the left
    ctx.textAlign = right ? "right" : "left";
    ctx.fillText(p.label, x + (right ? -7 : 7) * ratio, u.valToPos(p.y, "y", true) - 6 * ratio);
  }
  ctx.restore();
}

// bars: [{label, value, color, text}]; opts: {title, xlabel, fmt, limit (no ticks past it, e.g. 1 for shares), width, id}
export function barChart(bars, opts) {
  const n = bars.length, top = Math.max(...bars.map(b => b.value || 0)) || 1;
  const {fig, plot} = figure(opts.title, `bars: ${bars.map(b => `${b.label} ${b.text}`).join(", ")}; x: ${opts.xlabel}`,
                             opts.id);
  const data = [[...Array(n).keys()], ...bars.map((b, i) => bars.map((_, j) => (i === j ? b.value ?? null : null)))];
  const limit = opts.limit ?? Infinity, fmt = opts.fmt || compact;
  const options = {
    title: opts.title, width: opts.width || 400, height: 96 + 34 * n,
    scales: {x: {time: false, ori: 1, dir: -1, range: () => [-0.5, n - 0.5]},
             y: {ori: 0, dir: 1, range: () => [0, top * 1.4]}},
    axes: [{...axisStyle, scale: "x", side: 3, grid: {show: false}, splits: () => data[0],
            values: (u, splits) => splits.map(i => bars[i]?.label ?? ""), size: autoSize},
           {...axisStyle, scale: "y", side: 2, label: opts.xlabel, size: 28, labelSize: 18,
            filter: (u, splits) => splits.map(v => (v <= limit * (1 + 1e-9) ? v : null)),
            values: (u, splits) => splits.map(v => (v === null ? "" : fmt(v)))}],
    series: [{}, ...bars.map(b => ({label: b.label, fill: b.color, stroke: b.color, width: 0,
                                    paths: uPlot.paths.bars({size: [0.6, 28]}), points: {show: false}}))],
    legend: {show: false}, cursor: {show: false},
    hooks: {draw: [u => {
      const ctx = u.ctx, ratio = devicePixelRatio;
      ctx.save();
      ctx.font = `${11 * ratio}px system-ui, sans-serif`;
      ctx.fillStyle = INK;
      ctx.textBaseline = "middle";
      ctx.textAlign = "left";
      bars.forEach((b, i) => ctx.fillText(b.value == null ? "n/a" : b.text,
                                          u.valToPos(b.value || 0, "y", true) + 5 * ratio, u.valToPos(i, "x", true)));
      ctx.restore();
    }]},
  };
  fig.chart = new uPlot(options, data, plot);
  return fig;
}
