// Small SVG charts with axis labels and units; no external library.
"use strict";
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const step0 = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= step0);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function fmt(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e6) return (v / 1e6).toPrecision(3) + "M";
  if (a >= 1e3) return (v / 1e3).toPrecision(3) + "K";
  if (a >= 1) return +v.toPrecision(3) + "";
  return v.toPrecision(2);
}

// series: [{name, color, points: [[x, y, ok]]}]; opts: {title, xlabel, ylabel, logx, width, height}
function lineChart(series, opts) {
  const W = opts.width || 520, H = opts.height || 300, m = {l: 64, r: 16, t: 28, b: 46};
  const svg = el("svg", {width: W, height: H, role: "img", "aria-label": opts.title, viewBox: `0 0 ${W} ${H}`});
  const xs = series.flatMap(s => s.points.map(p => p[0])), ys = series.flatMap(s => s.points.map(p => p[1]));
  if (!xs.length) return svg;
  const tx = opts.logx ? Math.log2 : (v => v);
  const x0 = tx(Math.min(...xs)), x1 = tx(Math.max(...xs)), y1 = Math.max(...ys) * 1.08 || 1;
  const X = v => m.l + (tx(v) - x0) / ((x1 - x0) || 1) * (W - m.l - m.r);
  const Y = v => H - m.b - v / y1 * (H - m.t - m.b);
  svg.appendChild(el("text", {x: m.l, y: 16, "font-weight": "600"}, opts.title));
  for (const t of niceTicks(0, y1, 5)) {
    svg.appendChild(el("line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), stroke: "#e3e6eb"}));
    svg.appendChild(el("text", {x: m.l - 6, y: Y(t) + 4, "text-anchor": "end"}, fmt(t)));
  }
  const xticks = opts.logx ? [...new Set(xs)].sort((a, b) => a - b) : niceTicks(Math.min(...xs), Math.max(...xs), 6);
  for (const t of xticks) {
    svg.appendChild(el("line", {x1: X(t), x2: X(t), y1: H - m.b, y2: H - m.b + 4, stroke: "#555"}));
    svg.appendChild(el("text", {x: X(t), y: H - m.b + 16, "text-anchor": "middle"}, (opts.xfmt || fmt)(t)));
  }
  svg.appendChild(el("line", {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, stroke: "#555"}));
  svg.appendChild(el("line", {x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, stroke: "#555"}));
  svg.appendChild(el("text", {x: (m.l + W - m.r) / 2, y: H - 8, "text-anchor": "middle"}, opts.xlabel));
  svg.appendChild(el("text", {x: 14, y: (m.t + H - m.b) / 2, "text-anchor": "middle",
                              transform: `rotate(-90 14 ${(m.t + H - m.b) / 2})`}, opts.ylabel));
  series.forEach((s, i) => {
    const ok = s.points.filter(p => p[2] !== false);
    if (ok.length > 1) svg.appendChild(el("polyline", {fill: "none", stroke: s.color, "stroke-width": 2,
      points: ok.map(p => `${X(p[0])},${Y(p[1])}`).join(" ")}));
    for (const p of s.points) {
      const dot = el("circle", {cx: X(p[0]), cy: Y(p[1]), r: 3.5, fill: p[2] === false ? "#fff" : s.color,
                                stroke: p[2] === false ? "#b3261e" : s.color});
      dot.appendChild(el("title", {}, `${fmt(p[0])}: ${p[1].toPrecision(3)}${p[2] === false ? " (does not fit)" : ""}`));
      svg.appendChild(dot);
    }
    svg.appendChild(el("text", {x: W - m.r - 4, y: m.t + 14 * (i + 1), "text-anchor": "end", fill: s.color}, s.name));
  });
  return svg;
}

// bars: [{label, value, color, note}]
function barChart(bars, opts) {
  const W = opts.width || 360, rowH = 30, m = {l: 150, r: 70, t: 28, b: 30}, H = m.t + m.b + rowH * bars.length;
  const svg = el("svg", {width: W, height: H, role: "img", "aria-label": opts.title, viewBox: `0 0 ${W} ${H}`});
  svg.appendChild(el("text", {x: 4, y: 16, "font-weight": "600"}, opts.title));
  const top = Math.max(...bars.map(b => b.value || 0)) || 1;
  bars.forEach((b, i) => {
    const y = m.t + i * rowH, w = (b.value || 0) / top * (W - m.l - m.r);
    svg.appendChild(el("text", {x: m.l - 6, y: y + rowH / 2 + 4, "text-anchor": "end"}, b.label));
    svg.appendChild(el("rect", {x: m.l, y: y + 5, width: Math.max(w, 1), height: rowH - 10, fill: b.color}));
    svg.appendChild(el("text", {x: m.l + w + 4, y: y + rowH / 2 + 4}, b.value == null ? "n/a" : b.text));
  });
  svg.appendChild(el("text", {x: (m.l + W - m.r) / 2, y: H - 8, "text-anchor": "middle"}, opts.xlabel));
  return svg;
}
