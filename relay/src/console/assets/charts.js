// Plain SVG charts for the console: a line over time, stacked bars per day, a session
// timeline and horizontal bars. Every label is set with textContent, never parsed as
// markup: channel names and user ids come from browsers and sites.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(box, width, height) {
  box.replaceChildren();
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  box.append(root);
  return root;
}

/** A rounded top for an axis: 1, 2, 5 times a power of ten. */
export function niceMax(max) {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** Grid lines and labels; `steps` of 4 unless whole numbers need fewer (a max of 2). */
/** A top for a count axis in 4 whole steps of a round size (or 1 to 4). */
export function countMax(max) {
  if (max <= 4) return Math.max(1, Math.ceil(max));
  const quarter = max / 4;
  const p = 10 ** Math.floor(Math.log10(quarter));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= quarter && Number.isInteger(m * p)) return Math.max(1, Math.round(m * p)) * 4;
  return 40 * p;
}

function yAxis(root, left, top, bottom, width, max, format = String, steps = 4) {
  for (let i = 0; i <= steps; i++) {
    const y = bottom - ((bottom - top) * i) / steps;
    root.append(svg("line", { class: "axis", x1: left, x2: width - 10, y1: y, y2: y }));
    root.append(svg("text", { class: "tick", x: left - 6, y: y + 3, "text-anchor": "end" }, format((max * i) / steps)));
  }
}

/** The anchor of the i-th of n x labels, so the first and last stay inside. */
const anchor = (i, n) => (i === 0 ? "start" : i === n ? "end" : "middle");

/**
 * Values at even steps from `fromMs`: a line with the area under it.
 * `label(ms)` names an x tick.
 */
export function lineChart(box, { fromMs, stepMs, values, label, title }) {
  const W = 900, H = 200, L = 44, T = 10, B = H - 24;
  const root = frame(box, W, H);
  root.setAttribute("aria-label", title);
  root.dataset.points = String(values.length);
  // Counts of users: whole numbers on the axis.
  const max = countMax(Math.max(0, ...values));
  yAxis(root, L, T, B, W, max, String, Math.min(4, max));
  const x = (i) => L + ((W - 10 - L) * i) / Math.max(1, values.length - 1);
  const y = (v) => B - ((B - T) * v) / max;
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  if (points.length) {
    root.append(svg("path", { class: "area", d: `M${x(0)},${B}L${points.join("L")}L${x(values.length - 1)},${B}Z` }));
    root.append(svg("path", { class: "line", d: `M${points.join("L")}` }));
  }
  const ticks = 6;
  for (let i = 0; i <= ticks; i++) {
    const idx = Math.round(((values.length - 1) * i) / ticks);
    root.append(svg("text", { class: "tick", x: x(idx), y: H - 8, "text-anchor": anchor(i, ticks) }, label(fromMs + idx * stepMs)));
  }
  const peak = Math.max(0, ...values);
  const t = svg("title", {}, `${title}: peak ${peak}`);
  root.prepend(t);
}

/** Stacked bars: one per label, one layer per series ({name, cls, values}). */
export function stackedBars(box, { labels, series, format, title }) {
  const W = 900, H = 220, L = 56, T = 10, B = H - 24;
  const root = frame(box, W, H);
  root.setAttribute("aria-label", title);
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
  const max = niceMax(Math.max(0, ...totals));
  yAxis(root, L, T, B, W, max, format);
  const slot = (W - 10 - L) / Math.max(1, labels.length);
  labels.forEach((name, i) => {
    let base = B;
    for (const s of series) {
      const h = ((B - T) * s.values[i]) / max;
      if (h > 0) {
        const bar = svg("rect", { class: s.cls, x: L + i * slot + slot * 0.15, y: base - h, width: slot * 0.7, height: h });
        bar.append(svg("title", {}, `${name} ${s.name}: ${format(s.values[i])}`));
        root.append(bar);
        base -= h;
      }
    }
    if (labels.length <= 31 && (i % Math.ceil(labels.length / 10) === 0)) {
      root.append(svg("text", { class: "tick", x: L + i * slot + slot / 2, y: H - 8, "text-anchor": "middle" }, name.slice(5)));
    }
  });
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.className = s.cls;
    item.append(swatch, s.name);
    legend.append(item);
  }
  box.append(legend);
}

/** Sessions on a time axis: one row per channel ({label, cls, spans: [[from, to]]}). */
export function timeline(box, { fromMs, toMs, rows, label, title }) {
  const W = 900, L = 170, T = 6, ROW = 18;
  const H = T + rows.length * ROW + 24;
  const root = frame(box, W, H);
  root.setAttribute("aria-label", title);
  const x = (ms) => L + ((W - 10 - L) * (Math.min(Math.max(ms, fromMs), toMs) - fromMs)) / Math.max(1, toMs - fromMs);
  rows.forEach((row, r) => {
    const y = T + r * ROW;
    root.append(svg("text", { class: "label", x: L - 6, y: y + 12, "text-anchor": "end" }, row.label.length > 28 ? row.label.slice(0, 27) + "…" : row.label));
    root.append(svg("line", { class: "axis", x1: L, x2: W - 10, y1: y + ROW - 2, y2: y + ROW - 2 }));
    for (const [from, to] of row.spans) {
      const bar = svg("rect", { class: row.cls, x: x(from), y: y + 3, width: Math.max(1.5, x(to) - x(from)), height: ROW - 7 });
      bar.append(svg("title", {}, `${row.label}: ${new Date(from).toISOString()} to ${new Date(to).toISOString()}`));
      root.append(bar);
    }
  });
  for (let i = 0; i <= 5; i++) {
    const ms = fromMs + ((toMs - fromMs) * i) / 5;
    root.append(svg("text", { class: "tick", x: x(ms), y: H - 8, "text-anchor": anchor(i, 5) }, label(ms)));
  }
}

/** Horizontal bars ({label, value}), longest first. */
export function hbars(box, { items, format, title }) {
  const W = 900, L = 220, ROW = 20;
  const H = Math.max(1, items.length) * ROW + 8;
  const root = frame(box, W, H);
  root.setAttribute("aria-label", title);
  const max = Math.max(1, ...items.map((i) => i.value));
  items.forEach((item, r) => {
    const y = 4 + r * ROW;
    root.append(svg("text", { class: "label", x: L - 6, y: y + 13, "text-anchor": "end" }, item.label.length > 34 ? item.label.slice(0, 33) + "…" : item.label));
    const w = ((W - 120 - L) * item.value) / max;
    root.append(svg("rect", { class: "session", x: L, y: y + 3, width: Math.max(1, w), height: ROW - 6 }));
    root.append(svg("text", { class: "tick", x: L + w + 6, y: y + 13 }, format(item.value)));
  });
}
