// Alerts: open and resolved alerts with their event counts, first/last seen and duration,
// filtered like events; one alert's timeline of events. URL: state, q, range, sort, page, alert.

import { call, toCurl, withDomain } from "./api.js";
import { parseQuery } from "./querybar.js";
import { QUICK, rangeFilter, resolveRange } from "./timerange.js";
import { duration, errorBox, formatTime, h, jsonPanel, navigate, severityBadge } from "./ui.js";

const LIST = "/monitoring/v1/alert/list";
const PAGE_SIZE = 50;
const COLUMNS = [["alert_id", "Alert"], ["state", "State"], ["urgency", "Urgency"],
  ["project_id", "Project"], ["event_key", "Event key"], ["event_count", "Events"],
  ["first_event_at", "First seen"], ["last_event_at", "Last seen"]];

export async function renderAlerts(root, params, isCurrent) {
  const go = (changes) => navigate("alerts", { ...params, page: "", ...changes });
  const parsed = parseQuery(params.q || "");
  const filter = [...parsed.filter];
  if (params.range !== "all") filter.push(...rangeFilter(resolveRange({ range: params.range || "30d" }), "last_event_at"));
  const [sortKey, sortDir] = (params.sort || "last_event_at:desc").split(":");
  const page = Math.max(1, Number(params.page) || 1);
  const body = withDomain({
    state: params.state || undefined,
    query: { filter, keyword: parsed.keyword, sort: [{ key: sortKey, desc: sortDir !== "asc" }],
             page: { start: (page - 1) * PAGE_SIZE + 1, limit: PAGE_SIZE } },
  });
  const input = h("input", { type: "search", id: "alerts-q", value: params.q || "", "aria-label": "Filter alerts",
    placeholder: "alert or event key words, project_id:p1, -urgency:LOW, event_count:>5" });
  const stateSelect = h("select", { "aria-label": "State", onchange: (e) => go({ state: e.target.value }) },
    ["", "TRIGGERED", "RESOLVED", "ERROR"].map((s) => h("option", { value: s, selected: (params.state || "") === s }, s || "Any state")));
  const rangeSelect = h("select", { "aria-label": "Last seen within", onchange: (e) => go({ range: e.target.value }) },
    QUICK.map(([v, label]) => h("option", { value: v, selected: (params.range || "30d") === v }, `Last seen: ${label.toLowerCase()}`)),
    h("option", { value: "all", selected: params.range === "all" }, "Any time"));
  const slot = h("section", { "aria-busy": "true", "aria-label": "Alerts" });
  const detail = h("div");
  root.replaceChildren(h("h1", { class: "visually-hidden" }, "Alerts"),
    h("form", { class: "bar", role: "search", onsubmit: (e) => { e.preventDefault(); go({ q: input.value.trim() }); } },
      stateSelect, rangeSelect, h("span", { class: "grow" }, input), h("button", { type: "submit" }, "Search")),
    jsonPanel(LIST, body, toCurl), detail, slot);
  root.dataset.ready = "false";
  const work = [listAlerts(slot, body, { sortKey, sortDir, page }, go, isCurrent)];
  if (params.alert) work.push(alertDetail(detail, params.alert, go));
  await Promise.allSettled(work);
  if (isCurrent()) root.dataset.ready = "true";
}

async function listAlerts(slot, body, { sortKey, sortDir, page }, go, isCurrent) {
  let answer;
  try {
    answer = await call(LIST, body, "alerts");
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    return;
  }
  if (!isCurrent()) return;
  const pages = Math.max(1, Math.ceil(answer.total_count / PAGE_SIZE));
  const head = h("tr", {}, COLUMNS.map(([key, label]) => {
    const active = key === sortKey;
    return h("th", { scope: "col", "aria-sort": active ? (sortDir === "asc" ? "ascending" : "descending") : null },
      h("button", { type: "button", onclick: () => go({ sort: `${key}:${active && sortDir !== "asc" ? "asc" : "desc"}` }) },
        label + (active ? (sortDir === "asc" ? " ▲" : " ▼") : "")));
  }), h("th", { scope: "col" }, "Duration"));
  const rows = answer.results.map((a) => h("tr", { "data-alert-id": a.alert_id },
    h("td", {}, h("button", { type: "button", class: "link", onclick: () => go({ alert: a.alert_id, page: String(page) }) }, a.alert_id)),
    h("td", {}, a.state), h("td", {}, a.urgency), h("td", {}, a.project_id), h("td", { class: "mono" }, a.event_key),
    h("td", { class: "num" }, a.event_count), h("td", { class: "mono" }, formatTime(a.first_event_at)),
    h("td", { class: "mono" }, formatTime(a.last_event_at)),
    h("td", {}, duration(a.first_event_at, a.resolved_at))));
  slot.replaceChildren(
    h("p", {}, h("strong", { id: "alerts-total" }, `${answer.total_count.toLocaleString()} alerts`)),
    h("table", { id: "alerts-table" }, h("thead", {}, head), h("tbody", {}, rows)),
    h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: page <= 1, onclick: () => go({ page: String(page - 1) }) }, "Previous"),
      h("span", {}, `Page ${page} of ${pages}`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => go({ page: String(page + 1) }) }, "Next")));
  slot.setAttribute("aria-busy", "false");
}

async function alertDetail(slot, alertId, go) {
  let alert, events;
  try {
    [alert, events] = await Promise.all([
      call("/monitoring/v1/alert/get", withDomain({ alert_id: alertId }), "alert"),
      call("/monitoring/v1/event/list", withDomain({ alert_id: alertId, query: {
        sort: [{ key: "created_at", desc: false }], page: { start: 1, limit: 200 },
        only: ["event_id", "created_at", "event_type", "severity", "title"] } }), "alert-events"),
    ]);
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    return;
  }
  const heading = h("h2", { tabindex: "-1" }, `Alert ${alert.alert_id}`);
  slot.replaceChildren(h("section", { class: "detail card", id: "alert-detail" },
    h("div", { class: "bar" }, heading, h("span", { class: "spacer" }),
      h("button", { type: "button", onclick: () => go({ alert: "" }) }, "Close")),
    h("dl", {}, Object.entries(alert).flatMap(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, String(v ?? ""))]),
      h("dt", {}, "duration"), h("dd", {}, duration(alert.first_event_at, alert.resolved_at))),
    h("h3", {}, `Timeline (${events.total_count} events)`),
    h("ol", { class: "timeline" }, events.results.map((e) => h("li", {},
      h("span", { class: "mono" }, formatTime(e.created_at)), " ", severityBadge(e.severity), ` ${e.event_type} `,
      h("a", { href: `#/events?${new URLSearchParams({ range: "365d", event: e.event_id, q: `alert_id:${alert.alert_id}` })}` },
        e.title || e.event_id)))),
    h("p", {}, h("a", { href: `#/events?${new URLSearchParams({ range: "365d", q: `alert_id:${alert.alert_id}` })}` },
      "Open these events in Events"))));
  heading.focus();
}
