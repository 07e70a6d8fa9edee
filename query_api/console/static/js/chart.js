// Small SVG charts (bars, stacked bars, lines) with an optional drag-to-zoom brush.
// No charting library: the console draws a few hundred rectangles at most.

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#3e8ed0", "#e7664c", "#54b399", "#d6a21b", "#9170b8", "#ca8eae", "#6092c0",
                 "#d36086", "#b9a888", "#aa6556"];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A colour per series: severities keep their theme colours, others the palette. */
export function colourOf(name, index) {
  const severity = ["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE", "NONE"];
  if (severity.includes(name)) return `var(--sev-${name})`;
  return PALETTE[index % PALETTE.length];
}

/**
 * Draw into `svg`: `categories` on x (labels), `series` [{name, values[]}] on y.
 * `type` "bar" (stacked) or "line". `onBrush(i, j)` is called with the category range
 * a drag covered (inclusive), when given.
 */
export function drawChart(svg, { categories, labels, series, type = "bar", onBrush, title }) {
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
  const left = 44, bottom = 20, top = 6;
  const plotW = width - left - 6, plotH = height - bottom - top;
  const step = plotW / Math.max(1, categories.length);
  const y = (v) => top + plotH - (v / max) * plotH;
  svg.append(el("line", { class: "axis", x1: left, x2: width, y1: top + plotH, y2: top + plotH }));
  for (const frac of [0, 0.5, 1]) {
    svg.append(el("text", { x: left - 4, y: y(max * frac) + 4, "text-anchor": "end" },
                  String(Math.round(max * frac))));
  }
  const every = Math.max(1, Math.ceil(categories.length / Math.max(1, Math.floor(plotW / 90))));
  categories.forEach((_, i) => {
    const x = left + i * step + step / 2;
    if (i % every || x > width - 36) return;
    svg.append(el("text", { x, y: height - 5, "text-anchor": "middle" },
                  (labels || categories)[i]));
  });
  if (type === "line") {
    series.forEach((s, k) => {
      const points = s.values.map((v, i) => `${left + i * step + step / 2},${y(v || 0)}`).join(" ");
      const line = el("polyline", { points, fill: "none", "stroke-width": 2, "data-series": s.name });
      line.style.setProperty("stroke", colourOf(s.name, k));
      svg.append(line);
      s.values.forEach((v, i) => {
        if (!v) return; // a dot marks a value; the line shows the zeros
        const dot = el("circle", { cx: left + i * step + step / 2, cy: y(v || 0), r: 3, "data-series": s.name });
        dot.style.setProperty("fill", colourOf(s.name, k));
        dot.append(el("title", {}, `${(labels || categories)[i]} ${s.name}: ${v || 0}`));
        svg.append(dot);
      });
    });
  } else {
    const base = categories.map(() => 0);
    series.forEach((s, k) => {
      s.values.forEach((v, i) => {
        if (!v) return;
        const rect = el("rect", {
          x: left + i * step + Math.min(1, step * 0.1), width: Math.max(1, step - Math.min(2, step * 0.2)),
          y: y(base[i] + v), height: Math.max(0.5, y(base[i]) - y(base[i] + v)),
          "data-series": s.name,
        });
        rect.style.setProperty("fill", colourOf(s.name, k));
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

/** The legend of a chart, as an element. */
export function legend(series) {
  const div = document.createElement("div");
  div.className = "legend";
  series.forEach((s, k) => {
    const span = document.createElement("span");
    span.style.setProperty("--swatch", colourOf(s.name, k));
    span.textContent = s.name;
    div.append(span);
  });
  return div;
}
