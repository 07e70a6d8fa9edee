// Stats: a StatisticsQuery built from pickers (group by one or two fields, a date bucket,
// count / sum / average), drawn as bars, lines or a table, with the JSON it sent.
// URL: range, q, g1, g2, bucket, op, field, chart.

import { call, toCurl, withDomain } from "./api.js";
import { drawChart, legend } from "./chart.js";
import { parseQuery } from "./querybar.js";
import { QUICK, rangeFilter, resolveRange } from "./timerange.js";
import { errorBox, h, jsonPanel, navigate } from "./ui.js";

const STAT = "/monitoring/v1/event/stat";
const FIELDS = ["severity", "event_type", "provider", "project_id", "webhook_id", "rule",
  "resource.resource_type", "resource.name", "account", "alert_id", "event_key", "domain_id"];
const BUCKETS = { "": "No date bucket", minute: "%Y-%m-%dT%H:%M", hour: "%Y-%m-%dT%H", day: "%Y-%m-%d", month: "%Y-%m" };

/** The StatisticsQuery the pickers describe. */
export function statBody(params, now = new Date()) {
  const parsed = parseQuery(params.q || "");
  const keys = [];
  if (params.bucket) keys.push({ key: "created_at", name: "time", date_format: BUCKETS[params.bucket] });
  for (const g of [params.g1, params.g2]) if (g) keys.push({ key: g, name: g });
  const op = params.op || "count";
  const field = op === "count" ? { operator: "count", name: "value" } : { operator: op, name: "value", key: params.field };
  const sort = params.bucket ? { key: "time", desc: false } : { key: "value", desc: true };
  return {
    query: {
      filter: [...rangeFilter(resolveRange({ range: params.range || "24h" }, now)), ...parsed.filter],
      ...(parsed.keyword ? { keyword: parsed.keyword } : {}),
      aggregate: [{ group: { keys, fields: [field] } }, { sort }, { limit: 2000 }],
    },
  };
}

const TEXT_LENGTH = { minute: 16, hour: 13, day: 10, month: 7 };
const STEP_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Every bucket of the range as the stat names it (`2024-05-01T10:04`), empty ones too. */
export function timeBuckets(params, now = new Date()) {
  const [from, to] = resolveRange({ range: params.range || "24h" }, now);
  const out = [];
  let t = new Date(from);
  if (params.bucket === "month") t = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
  else t = new Date(Math.floor(t.getTime() / STEP_MS[params.bucket]) * STEP_MS[params.bucket]);
  while (t < to && out.length < 2000) {
    out.push(t.toISOString().slice(0, TEXT_LENGTH[params.bucket]));
    t = params.bucket === "month" ? new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1))
                                  : new Date(t.getTime() + STEP_MS[params.bucket]);
  }
  return out;
}

/** Rows -> chart categories and series (time or first key on x; the other keys as series). */
export function toSeries(rows, params) {
  const xKey = params.bucket ? "time" : params.g1;
  const seriesKeys = [params.bucket ? params.g1 : params.g2, params.bucket ? params.g2 : null].filter(Boolean);
  let categories = [...new Set(rows.map((r) => String(r[xKey] ?? "(none)")))];
  if (params.bucket) categories = [...new Set([...timeBuckets(params), ...categories])].sort();
  const names = [...new Set(rows.map((r) => seriesKeys.map((k) => r[k] ?? "(none)").join(" · ") || "value"))];
  const series = names.map((name) => ({ name, values: categories.map(() => 0) }));
  for (const row of rows) {
    const name = seriesKeys.map((k) => row[k] ?? "(none)").join(" · ") || "value";
    series[names.indexOf(name)].values[categories.indexOf(String(row[xKey] ?? "(none)"))] += Number(row.value) || 0;
  }
  return { categories, series };
}

export async function renderStats(root, params, isCurrent) {
  const picked = { range: params.range || "24h", g1: params.g1 ?? "severity", g2: params.g2 || "",
    bucket: params.bucket || "", op: params.op || "count", field: params.field || "", chart: params.chart || "bar", q: params.q || "" };
  const select = (name, label, options) => h("label", {}, label, h("select", { name, id: `stat-${name}` },
    options.map(([value, text]) => h("option", { value, selected: picked[name] === value }, text))));
  const fieldOptions = [["", "—"], ...FIELDS.map((f) => [f, f])];
  const form = h("form", { class: "card form-grid", id: "stat-form", onsubmit: (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    navigate("stats", { ...data, run: "1" });
  } },
    select("range", "Time range", QUICK),
    h("label", {}, "Filter", h("input", { name: "q", value: picked.q, placeholder: "severity:CRITICAL" })),
    select("g1", "Group by", fieldOptions),
    select("g2", "Then by", fieldOptions),
    select("bucket", "Date bucket (created_at)", Object.keys(BUCKETS).map((k) => [k, k ? `per ${k}` : BUCKETS[k]])),
    select("op", "Measure", [["count", "count"], ["sum", "sum of"], ["average", "average of"]]),
    h("label", {}, "Field to sum / average", h("input", { name: "field", value: picked.field, placeholder: "additional_info.value" })),
    select("chart", "Draw as", [["bar", "bars"], ["line", "lines"], ["table", "table"]]),
    h("div", {}, h("button", { type: "submit", id: "stat-run" }, "Run")));
  const out = h("section", { id: "stat-result", "aria-live": "polite" });
  root.replaceChildren(h("h1", { class: "visually-hidden" }, "Stats"), form, out);
  root.dataset.ready = "false";
  if (params.run === "1" && (picked.g1 || picked.bucket)) {
    const body = withDomain(statBody(picked));
    try {
      const answer = await call(STAT, body, "stat");
      if (!isCurrent()) return;
      out.replaceChildren(drawn(answer.results, picked), jsonPanel(STAT, body, toCurl));
      out.querySelector("details.json").open = true;
    } catch (error) {
      out.replaceChildren(errorBox(error), jsonPanel(STAT, body, toCurl));
    }
  }
  root.dataset.ready = "true";
}

function drawn(rows, params) {
  if (!rows.length) return h("p", {}, "No events in this range.");
  if (params.chart === "table") {
    const columns = Object.keys(rows[0]);
    return h("table", { id: "stat-table" },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) =>
        h("td", { class: typeof r[c] === "number" ? "num" : "" }, r[c] ?? ""))))));
  }
  const { categories, series } = toSeries(rows, params);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.id = "stat-chart";
  svg.style.height = "260px";
  const box = h("div", {}, svg, legend(series));
  const labels = params.bucket ? categories.map((c) => c.replace("T", " ").slice(5) || c) : categories;
  requestAnimationFrame(() => drawChart(svg, { categories, labels, series, type: params.chart,
    title: `${params.op} by ${[params.bucket, params.g1, params.g2].filter(Boolean).join(", ")}` }));
  return box;
}
