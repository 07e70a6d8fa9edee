// Small SVG charts (bars, stacked bars, lines) with an optional drag-to-zoom brush.
// No charting library: the console draws a few hundred rectangles at most.

import { SEVERITIES } from "./severity.js";

const SVG = "http://www.w3.org/2000/svg";
// 16 colours told apart in both themes (Kibana's and Tableau's palettes); a value keeps its
// colour from one chart to the next: its slot is a hash of its name, a clash in one chart
// moves the later value to the next free slot.
export const PALETTE = ["#3e8ed0", "#e7664c", "#54b399", "#d6a21b", "#9170b8", "#ca8eae",
  "#6092c0", "#d36086", "#b9a888", "#aa6556", "#2f9e8f", "#8c564b", "#7f7fff", "#c7a600",
  "#e377c2", "#17becf"];
export const OTHER = "(other)";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A stable hash of a value's name (FNV-1a), for its palette slot. */
function slotOf(name) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % PALETTE.length;
}

/**
 * name -> colour for the series of one chart: severities keep their theme colours, "other"
 * is grey, every other value its hashed slot, no two alike while the palette lasts.
 */
export function colourMap(names) {
  const colours = new Map();
  const taken = new Set();
  for (const name of names) {
    if (SEVERITIES.includes(name)) colours.set(name, `var(--chart-${name}, var(--sev-${name}))`);
    else if (name === OTHER) colours.set(name, "var(--other)");
  }
  for (const name of names) {
    if (colours.has(name)) continue;
    let slot = slotOf(String(name));
    for (let tries = 0; taken.has(slot) && tries < PALETTE.length; tries++) slot = (slot + 1) % PALETTE.length;
    taken.add(slot);
    colours.set(name, PALETTE[slot]);
  }
  return colours;
}

/** A colour for one series name (no clash check): kept for callers that draw one by one. */
export function colourOf(name) {
  return colourMap([name]).get(name);
}

/** A label cut to `chars` characters, the middle left out: ids differ at their ends. */
function fit(text, chars) {
  const value = String(text);
  if (value.length <= chars) return value;
  const head = Math.ceil((chars - 1) / 2);
  return `${value.slice(0, head)}…${value.slice(value.length - (chars - 1 - head))}`;
}

/**
 * Draw into `svg`: `categories` on x (labels), `series` [{name, values[]}] on y.
 * `type` "bar" (stacked) or "line". `onBrush(i, j)` is called with the category range
 * a drag covered (inclusive), when given.
 */
export function drawChart(svg, { categories, labels, series, type = "bar", onBrush, title, colours, xTitle }) {
  colours = colours || colourMap(series.map((s) => s.name));
  svg.replaceChildren();
  const width = svg.clientWidth || 800;
  const height = svg.clientHeight || 180;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const total = categories.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
  const max = type === "line"
    ? Math.max(1, ...series.flatMap((s) => s.values.map((v) => v || 0)))
    : Math.max(1, ...total);
  svg.setAttribute("aria-label", `${title || "chart"}: ${categories.length} buckets, ` +
    `${total.reduce((a, b) => a + b, 0)} in all, at most ${max} in one`);
  const left = 52, bottom = xTitle ? 34 : 20, top = 6;
  const plotW = width - left - 6, plotH = height - bottom - top;
  const step = plotW / Math.max(1, categories.length);
  const y = (v) => top + plotH - (v / max) * plotH;
  svg.append(el("line", { class: "axis", x1: left, x2: width, y1: top + plotH, y2: top + plotH }));
  for (const frac of [0, 0.5, 1]) {
    svg.append(el("text", { x: left - 4, y: y(max * frac) + 4, "text-anchor": "end" },
                  axisNumber(max * frac)));
  }
  // Labels never overlap: every n-th one where they are dense, each cut to its room.
  const every = Math.max(1, Math.ceil(categories.length / Math.max(1, Math.floor(plotW / 90))));
  const room = Math.max(3, Math.floor((step * every) / 6.5) - 1);
  categories.forEach((_, i) => {
    const x = left + i * step + step / 2;
    if (i % every || x > width - 20) return;
    const full = (labels || categories)[i];
    const text = el("text", { x, y: height - (xTitle ? 19 : 5), "text-anchor": "middle" }, fit(full, room));
    text.append(el("title", {}, full));
    svg.append(text);
  });
  if (xTitle) svg.append(el("text", { x: left + plotW / 2, y: height - 3, "text-anchor": "middle", class: "x-title" }, xTitle));
  if (type === "line") {
    series.forEach((s) => {
      const points = s.values.map((v, i) => `${left + i * step + step / 2},${y(v || 0)}`).join(" ");
      const line = el("polyline", { points, fill: "none", "stroke-width": 2, "data-series": s.name });
      line.style.setProperty("stroke", colours.get(s.name));
      svg.append(line);
      s.values.forEach((v, i) => {
        if (!v) return; // a dot marks a value; the line shows the zeros
        const dot = el("circle", { cx: left + i * step + step / 2, cy: y(v || 0), r: 3, "data-series": s.name });
        dot.style.setProperty("fill", colours.get(s.name));
        dot.append(el("title", {}, `${(labels || categories)[i]} ${s.name}: ${v || 0}`));
        svg.append(dot);
      });
    });
  } else {
    const base = categories.map(() => 0);
    // A bar is at most 80 px wide, centred in its step, so three categories are not slabs.
    const barW = Math.min(80, Math.max(1, step - Math.min(2, step * 0.2)));
    series.forEach((s) => {
      s.values.forEach((v, i) => {
        if (!v) return;
        const rect = el("rect", {
          x: left + i * step + (step - barW) / 2, width: barW,
          y: y(base[i] + v), height: Math.max(0.5, y(base[i]) - y(base[i] + v)),
          "data-series": s.name,
        });
        rect.style.setProperty("fill", colours.get(s.name));
        rect.append(el("title", {}, `${(labels || categories)[i]} ${s.name}: ${v}`));
        svg.append(rect);
        base[i] += v;
      });
    });
  }
  if (onBrush) brush(svg, { left, top, plotH, step, count: categories.length, onBrush });
}

function brush(svg, { left, top, plotH, step, count, onBrush }) {
  const box = el("rect", { class: "brush", y: top, height: plotH, width: 0, x: left });
  svg.append(box);
  const toIndex = (event) => {
    const rect = svg.getBoundingClientRect();
    const scale = (svg.viewBox.baseVal.width || rect.width) / rect.width;
    const x = (event.clientX - rect.left) * scale;
    return Math.min(count - 1, Math.max(0, Math.floor((x - left) / step)));
  };
  let start = null;
  svg.onpointerdown = (event) => {
    start = toIndex(event);
    svg.setPointerCapture(event.pointerId);
  };
  svg.onpointermove = (event) => {
    if (start === null) return;
    const i = toIndex(event);
    box.setAttribute("x", left + Math.min(start, i) * step);
    box.setAttribute("width", (Math.abs(i - start) + 1) * step);
  };
  svg.onpointerup = (event) => {
    if (start === null) return;
    const i = toIndex(event);
    const [a, b] = [Math.min(start, i), Math.max(start, i)];
    start = null;
    box.setAttribute("width", 0);
    if (b > a) onBrush(a, b);
  };
}

/** A y-axis number: whole numbers grouped, fractions to 3 significant digits. */
function axisNumber(value) {
  if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString("en");
  return String(Number(value.toPrecision(3)));
}

/** The legend of a chart, as an element (a list: screen readers count its entries). */
export function legend(series, colours = colourMap(series.map((s) => s.name))) {
  const div = document.createElement("ul");
  div.className = "legend";
  series.forEach((s) => {
    const span = document.createElement("li");
    span.dataset.series = s.name;
    span.style.setProperty("--swatch", colours.get(s.name));
    span.textContent = s.name;
    div.append(span);
  });
  return div;
}
