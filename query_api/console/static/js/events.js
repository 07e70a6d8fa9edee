// Events (Discover-like): time range, query bar, histogram by severity, facets, results,
// an event's detail, and live follow. Every piece is one public API call; the URL holds
// the whole view: range|from|to, q, sort, page, cols, event, follow.

import { call, toCurl, withDomain } from "./api.js";
import { drawChart, legend } from "./chart.js";
import { addTerm, parseQuery } from "./querybar.js";
import { QUICK, bucketFor, bucketLabel, floorTo, rangeFilter, resolveRange } from "./timerange.js";
import { errorBox, formatTime, h, jsonPanel, navigate, severityBadge, toast } from "./ui.js";

const LIST = "/monitoring/v1/event/list";
const STAT = "/monitoring/v1/event/stat";
const GET = "/monitoring/v1/event/get";
const PAGE_SIZE = 50;
const SEVERITIES = ["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE", "NONE"];
export const FACETS = [
  ["severity", "Severity"], ["event_type", "Event type"], ["provider", "Provider"],
  ["project_id", "Project"], ["webhook_id", "Webhook"], ["rule", "Rule"],
  ["resource.resource_type", "Resource type"],
];
const COLUMNS = ["created_at", "severity", "event_type", "title", "provider", "project_id", "rule",
  "resource.resource_type", "resource.name", "account", "webhook_id", "alert_id", "event_key",
  "event_id", "occurred_at"];
const DEFAULT_COLUMNS = ["created_at", "severity", "event_type", "title", "provider", "project_id"];
const FOLLOW_EVERY_MS = 3000;

const pick = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);

/** The Query parts every request of the view shares: range, bar terms, keyword. */
export function baseQuery(params, now = new Date()) {
  const range = resolveRange(params, now);
  const parsed = parseQuery(params.q || "");
  const query = { filter: [...rangeFilter(range), ...parsed.filter] };
  if (parsed.keyword) query.keyword = parsed.keyword;
  return { range, query };
}

export function histogramBody(query, range) {
  const bucket = bucketFor(range);
  return {
    query: { ...query, aggregate: [{ group: {
      keys: [{ key: "created_at", name: "bucket", date_format: bucket.pattern },
             { key: "severity", name: "severity" }],
      fields: [{ operator: "count", name: "count" }],
    } }] },
  };
}

export function facetBody(query, field, limit = 8) {
  return {
    query: { ...query, aggregate: [
      { group: { keys: [{ key: field, name: "value" }], fields: [{ operator: "count", name: "count" }] } },
      { sort: { key: "count", desc: true } },
      { limit },
    ] },
  };
}

function listBody(query, params) {
  const [key, dir] = (params.sort || "created_at:desc").split(":");
  const page = Math.max(1, Number(params.page) || 1);
  return { query: { ...query, sort: [{ key, desc: dir !== "asc" }],
                    page: { start: (page - 1) * PAGE_SIZE + 1, limit: PAGE_SIZE } } };
}

export async function renderEvents(root, params, isCurrent) {
  performance.clearMeasures();
  performance.mark("view:events");
  const { range, query } = baseQuery(params);
  const columns = params.cols ? params.cols.split(",") : DEFAULT_COLUMNS;
  const go = (changes, options) => navigate("events", { ...params, page: "", ...changes }, options);

  const slots = {
    toolbar: toolbar(params, range, go),
    json: h("div"),
    facets: h("aside", { class: "facets", "aria-label": "Facets", "aria-busy": "true" }),
    histogram: h("section", { class: "histogram", "aria-label": "Events over time", "aria-busy": "true" }),
    follow: h("p", { class: "follow", role: "status" }),
    detail: h("div", { class: "detail-slot" }),
    results: h("section", { class: "results", "aria-label": "Events", "aria-busy": "true" }),
  };
  root.replaceChildren(
    h("h1", { class: "visually-hidden" }, "Events"),
    slots.toolbar, slots.json,
    h("div", { class: "layout" }, slots.facets,
      h("div", {}, slots.histogram, slots.follow, slots.detail, slots.results)),
  );
  root.dataset.ready = "false";

  const listRequest = withDomain(listBody(query, params));
  slots.json.replaceWith(jsonPanel(LIST, listRequest, toCurl));

  const results = drawResults(slots.results, listRequest, params, columns, go, isCurrent);
  const histogram = drawHistogram(slots.histogram, query, range, go, isCurrent);
  // The histogram is grouped by severity already: its rows give that facet's counts too,
  // one request fewer (the browser opens at most six connections to one host).
  const derived = { severity: histogram.then((rows) => (rows ? severityCounts(rows) : Promise.reject(new Error("the histogram request failed (above)")))) };
  const facets = drawFacets(slots.facets, query, params, go, isCurrent, derived);
  const detail = params.event ? drawDetail(slots.detail, params, go) : Promise.resolve();
  await Promise.allSettled([results, histogram, facets, detail]);
  if (!isCurrent()) return;
  performance.measure("paint:events", "view:events");
  root.dataset.ready = "true";
  if (params.follow === "1") follow(slots, listRequest, columns, go, isCurrent);
}

function toolbar(params, range, go) {
  const custom = Boolean(params.from && params.to);
  const select = h("select", { id: "range", "aria-label": "Time range" },
    QUICK.map(([value, label]) => h("option", { value, selected: !custom && (params.range || "24h") === value }, label)),
    h("option", { value: "custom", selected: custom }, "Absolute range"));
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const from = h("input", { type: "datetime-local", id: "from", "aria-label": "From", value: local(range[0]) });
  const to = h("input", { type: "datetime-local", id: "to", "aria-label": "To", value: local(range[1]) });
  const absolute = h("span", { class: "absolute", hidden: !custom }, from, " – ", to,
    h("button", { type: "button", onclick: () => go({ range: "", from: new Date(from.value).toISOString(),
                                                     to: new Date(to.value).toISOString() }) }, "Apply"));
  select.addEventListener("change", () => {
    if (select.value === "custom") { absolute.hidden = false; from.focus(); return; }
    go({ range: select.value, from: "", to: "" });
  });
  const input = h("input", { id: "q", type: "search", value: params.q || "", "aria-label": "Query",
    placeholder: 'words, field:value, -field:value, field:>x  (e.g. severity:CRITICAL -provider:zabbix)' });
  const form = h("form", { class: "grow", role: "search", onsubmit: (e) => { e.preventDefault(); go({ q: input.value.trim() }); } },
    input);
  const span = range[1] - range[0];
  const zoomOut = h("button", { type: "button", onclick: () => go({ range: "",
    from: new Date(range[0].getTime() - span / 2).toISOString(),
    to: new Date(Math.min(Date.now(), range[1].getTime() + span / 2)).toISOString() }) }, "Zoom out");
  const followBox = h("input", { type: "checkbox", id: "follow", checked: params.follow === "1",
    onchange: (e) => go({ follow: e.target.checked ? "1" : "", page: "" }) });
  return h("div", { class: "bar" }, select, absolute, form,
    h("button", { type: "button", class: "primary", onclick: () => go({ q: input.value.trim() }) }, "Search"),
    zoomOut, h("label", {}, followBox, "Follow new events"));
}

async function drawResults(slot, body, params, columns, go, isCurrent) {
  let answer;
  try {
    answer = await call(LIST, body, "list");
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    slot.setAttribute("aria-busy", "false");
    return;
  }
  if (!isCurrent()) return;
  const page = Math.max(1, Number(params.page) || 1);
  const pages = Math.max(1, Math.ceil(answer.total_count / PAGE_SIZE));
  const [sortKey, sortDir] = (params.sort || "created_at:desc").split(":");
  const header = h("tr", {}, columns.map((col) => {
    const active = col === sortKey;
    const next = active && sortDir !== "asc" ? "asc" : "desc";
    return h("th", { scope: "col", "aria-sort": active ? (sortDir === "asc" ? "ascending" : "descending") : null },
      h("button", { type: "button", onclick: () => go({ sort: `${col}:${next}` }) },
        col + (active ? (sortDir === "asc" ? " ▲" : " ▼") : "")));
  }), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Open")));
  const tbody = h("tbody", {}, answer.results.map((event) => eventRow(event, columns, go)));
  slot.replaceChildren(
    h("div", { class: "bar" },
      h("strong", { id: "total", "data-count": answer.total_count }, `${answer.total_count.toLocaleString()} events`),
      h("span", { class: "spacer" }),
      columnChooser(columns, go)),
    h("table", { id: "events-table" }, h("thead", {}, header), tbody),
    h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: page <= 1, onclick: () => go({ page: String(page - 1) }) }, "Previous"),
      h("span", {}, `Page ${page} of ${pages.toLocaleString()}`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => go({ page: String(page + 1) }) }, "Next")),
  );
  slot.setAttribute("aria-busy", "false");
}

function eventRow(event, columns, go) {
  return h("tr", { "data-event-id": event.event_id },
    columns.map((col) => {
      const value = pick(event, col);
      if (col === "severity") return h("td", {}, severityBadge(value));
      if (col === "created_at" || col === "occurred_at") return h("td", { class: "mono" }, formatTime(value));
      return h("td", {}, value ?? "");
    }),
    h("td", {}, h("button", { type: "button", class: "link open-event",
      "aria-label": `Details of ${event.title || event.event_id}`,
      onclick: () => go({ event: event.event_id, page: new URLSearchParams(location.hash.split("?")[1]).get("page") || "" }) },
      "Details")));
}

function columnChooser(columns, go) {
  const box = h("fieldset", { hidden: true }, h("legend", {}, "Columns"),
    COLUMNS.map((col) => h("label", {}, h("input", { type: "checkbox", value: col, checked: columns.includes(col),
      onchange: () => {
        const chosen = [...box.querySelectorAll("input:checked")].map((i) => i.value);
        go({ cols: chosen.join(",") });
      } }), col)));
  const toggle = h("button", { type: "button", "aria-expanded": "false", onclick: () => {
    box.hidden = !box.hidden;
    toggle.setAttribute("aria-expanded", String(!box.hidden));
  } }, "Columns");
  return h("div", { class: "columns" }, toggle, box);
}

/** Facet rows (`{value, count}`, most first) of severity from the histogram's rows. */
export function severityCounts(rows, limit = 8) {
  const counts = new Map();
  for (const row of rows) counts.set(row.severity ?? null, (counts.get(row.severity ?? null) || 0) + row.count);
  return [...counts].map(([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || String(a.value).localeCompare(String(b.value))).slice(0, limit);
}

/** Draws the histogram; resolves with its stat rows (null when the request failed). */
async function drawHistogram(slot, query, range, go, isCurrent) {
  const body = withDomain(histogramBody(query, range));
  let answer;
  try {
    answer = await call(STAT, body, "histogram");
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    slot.setAttribute("aria-busy", "false");
    return null;
  }
  if (!isCurrent()) return answer.results;
  const bucket = bucketFor(range);
  const starts = [];
  for (let t = floorTo(range[0], bucket); t <= range[1] && starts.length < 1000;) {
    starts.push(t);
    t = bucket.name === "month" ? new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1))
                                : new Date(t.getTime() + bucket.step);
  }
  const index = new Map(starts.map((t, i) => [t.getTime(), i]));
  const counts = new Map();
  let total = 0;
  for (const row of answer.results) {
    const i = index.get(bucket.parse(row.bucket).getTime());
    if (i === undefined) continue;
    const name = row.severity || "NONE";
    if (!counts.has(name)) counts.set(name, starts.map(() => 0));
    counts.get(name)[i] += row.count;
    total += row.count;
  }
  const series = SEVERITIES.filter((s) => counts.has(s)).map((s) => ({ name: s, values: counts.get(s) }))
    .concat([...counts.keys()].filter((s) => !SEVERITIES.includes(s)).map((s) => ({ name: s, values: counts.get(s) })));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.id = "histogram";
  slot.replaceChildren(
    h("div", { class: "bar" }, h("strong", {}, `Events per ${bucket.name}`),
      h("span", { class: "muted" }, `${formatTime(range[0].toISOString())} – ${formatTime(range[1].toISOString())} UTC · drag to zoom`)),
    svg, legend(series));
  slot.dataset.total = String(total);
  slot.dataset.buckets = String(starts.length);
  drawChart(svg, {
    title: "Events over time by severity",
    categories: starts.map((t) => t.toISOString()),
    labels: starts.map((t) => bucketLabel(t, bucket)),
    series,
    onBrush: (i, j) => go({ range: "", from: starts[i].toISOString(),
      to: new Date(Math.min(starts[j].getTime() + bucket.step, range[1].getTime())).toISOString() }),
  });
  slot.append(jsonPanel(STAT, body, toCurl));
  slot.setAttribute("aria-busy", "false");
  return answer.results;
}

async function drawFacets(slot, query, params, go, isCurrent, derived = {}) {
  const sections = FACETS.map(([field, label]) => {
    const section = h("section", { "data-facet": field }, h("h3", {}, label), h("p", { class: "muted" }, "…"));
    slot.append(section);
    const rows = derived[field]
      || call(STAT, withDomain(facetBody(query, field)), `facet:${field}`).then((answer) => answer.results);
    return rows.then((results) => {
      if (!isCurrent()) return;
      const items = results.map((row) => {
        const value = row.value ?? "";
        const shown = value === "" ? "(empty)" : value;
        const filterIn = (event) => go({ q: addTerm(params.q, field, value, event.altKey) });
        return h("li", {},
          h("button", { type: "button", class: "facet-value", "data-value": value, onclick: filterIn,
                        title: "Click: only these. Alt+click: all but these.",
                        "aria-label": `${label} ${shown}: ${row.count} events. Filter in; Alt for filter out` },
            h("span", { class: "value" }, shown), h("span", { class: "count" }, row.count.toLocaleString())));
      });
      section.replaceChildren(h("h3", {}, label),
        items.length ? h("ul", {}, items) : h("p", { class: "muted" }, "none"));
    }, (error) => section.replaceChildren(h("h3", {}, label), errorBox(error)));
  });
  await Promise.allSettled(sections);
  slot.setAttribute("aria-busy", "false");
}

async function drawDetail(slot, params, go) {
  let event;
  try {
    event = await call(GET, withDomain({ event_id: params.event }), "get");
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    return;
  }
  const plain = Object.entries(event).filter(([k]) => !["raw_data", "additional_info", "resource"].includes(k));
  const resource = Object.entries(event.resource || {}).map(([k, v]) => [`resource.${k}`, v]);
  const heading = h("h2", { tabindex: "-1" }, event.title || event.event_id);
  slot.replaceChildren(h("section", { class: "detail card", id: "event-detail", "aria-label": "Event detail" },
    h("div", { class: "bar" }, heading, h("span", { class: "spacer" }),
      h("button", { type: "button", onclick: () => go({ event: "", page: params.page || "" }) }, "Close")),
    h("p", {},
      event.alert_id ? h("a", { href: `#/alerts?alert=${encodeURIComponent(event.alert_id)}`, id: "to-alert" },
        `Its alert ${event.alert_id}`) : "No alert",
      " · ",
      h("a", { id: "same-key", href: `#/events?${new URLSearchParams({ range: "30d",
        q: addTerm("", "event_key", event.event_key) })}` }, `Events with event_key ${event.event_key}`)),
    h("dl", {}, [...plain, ...resource].flatMap(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, String(v ?? ""))])),
    h("h3", {}, "raw_data"), h("pre", { id: "raw-data" }, JSON.stringify(event.raw_data ?? {}, null, 2)),
    h("h3", {}, "additional_info"), h("pre", {}, JSON.stringify(event.additional_info ?? {}, null, 2))));
  heading.focus();
}

/** Poll for events newer than the newest shown; put them on top without a reload. */
function follow(slots, listRequest, columns, go, isCurrent) {
  let newest = new Date().toISOString();
  let arrived = 0;
  const seen = new Set([...document.querySelectorAll("#events-table tbody tr")].map((tr) => tr.dataset.eventId));
  slots.follow.textContent = "Following: new events appear on top.";
  const timer = setInterval(async () => {
    if (!isCurrent()) { clearInterval(timer); return; }
    const filter = listRequest.query.filter.filter((c) => !(c.k === "created_at" && c.o === "lte"))
      .map((c) => (c.k === "created_at" && c.o === "gte" ? { k: "created_at", v: newest, o: "gte" } : c));
    const body = { ...listRequest, query: { ...listRequest.query, filter,
      sort: [{ key: "created_at", desc: true }], page: { start: 1, limit: PAGE_SIZE } } };
    let answer;
    try { answer = await call(LIST, body, "follow"); } catch { return; }
    if (!isCurrent()) return;
    const fresh = answer.results.filter((e) => !seen.has(e.event_id));
    if (!fresh.length) return;
    fresh.forEach((e) => seen.add(e.event_id));
    newest = fresh.map((e) => e.created_at).sort().at(-1);
    arrived += fresh.length;
    const tbody = document.querySelector("#events-table tbody");
    tbody?.prepend(...fresh.map((e) => eventRow(e, columns, go)));
    slots.follow.textContent = `Following: ${arrived} new event${arrived === 1 ? "" : "s"} arrived.`;
    const total = document.getElementById("total");
    if (total) {
      total.dataset.count = String(Number(total.dataset.count) + fresh.length);
      total.textContent = `${Number(total.dataset.count).toLocaleString()} events`;
    }
    toast(`${fresh.length} new events`);
  }, FOLLOW_EVERY_MS);
}
