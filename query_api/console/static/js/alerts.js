// Alerts: the list (title, severity, state, age, event count, assignee), filtered like events;
// one alert beside it with its events and notes, and what a responder does with it:
// acknowledge, resolve, assign, add a note (Cloudforet monitoring v1 alert/update and
// note/create). URL: state, q, range, sort, page, alert.

import { call, toCurl, withDomain } from "./api.js";
import { compileQuery } from "./querybar.js";
import { listBySeverity } from "./severity.js";
import { QUICK, rangeFilter, resolveRange } from "./timerange.js";
import { duration, errorBox, formatTime, h, jsonPanel, navigate, severityBadge, stateBadge, toast } from "./ui.js";

const LIST = "/monitoring/v1/alert/list";
const GET = "/monitoring/v1/alert/get";
const UPDATE = "/monitoring/v1/alert/update";
const NOTE_LIST = "/monitoring/v1/note/list";
const NOTE_CREATE = "/monitoring/v1/note/create";
const EVENT_STAT = "/monitoring/v1/event/stat";
const EVENT_LIST = "/monitoring/v1/event/list";
const ALERT_STAT = "/monitoring/v1/alert/stat";
const PAGE_SIZE = 50;
export const STATES = ["TRIGGERED", "ACKNOWLEDGED", "RESOLVED", "ERROR"];
// [key to sort by, header]; a null key is not sortable (counted from the events).
const COLUMNS = [["title", "Title"], ["state", "State"], ["severity", "Severity"], ["urgency", "Urgency"],
  ["created_at", "Age"], [null, "Events"], ["assignee", "Assignee"], ["alert_number", "#"]];

/** The alert's title, or what names it when it has none (an alert of the older index). */
export function titleOf(alert) {
  return alert.title || alert.event_key || alert.alert_id;
}

function createdOf(alert) {
  return alert.created_at || alert.first_event_at;
}

export async function renderAlerts(root, params, isCurrent) {
  const go = (changes) => navigate("alerts", { ...params, page: "", ...changes });
  const range = params.range || "all";
  const [sortKey, sortDir] = (params.sort || "").split(":");
  const page = Math.max(1, Number(params.page) || 1);
  let compiled = { filter: [], filter_or: [] };
  let queryError = null;
  try {
    compiled = await compileQuery(params.q || "", { target: "alerts", zone: "UTC" });
  } catch (error) {
    queryError = error;
  }
  const filter = [...(compiled.filter || [])];
  if (range !== "all") filter.push(...rangeFilter(resolveRange({ range }), "created_at"));
  const body = withDomain({
    state: params.state || undefined,
    query: { filter, ...(compiled.filter_or?.length ? { filter_or: compiled.filter_or } : {}),
             ...(sortKey ? { sort: [{ key: sortKey, desc: sortDir !== "asc" }] } : {}),
             page: { start: (page - 1) * PAGE_SIZE + 1, limit: PAGE_SIZE } },
  });
  const input = h("input", { type: "search", id: "alerts-q", "data-testid": "alerts-q", value: params.q || "",
    "aria-label": "Filter alerts (KQL)", placeholder: "title:disk and not urgency:low" });
  const stateSelect = h("select", { "aria-label": "State", id: "alerts-state", "data-testid": "alerts-state",
    onchange: (e) => go({ state: e.target.value }) },
    ["", ...STATES].map((s) => h("option", { value: s, selected: (params.state || "") === s }, s || "Any state")));
  const rangeSelect = h("select", { "aria-label": "Created within", id: "alerts-range",
    onchange: (e) => go({ range: e.target.value }) },
    h("option", { value: "all", selected: range === "all" }, "Created: any time"),
    QUICK.map(([v, label]) => h("option", { value: v, selected: range === v }, `Created: ${label.toLowerCase()}`)));
  const slot = h("section", { "aria-busy": "true", "aria-label": "Alerts", class: "alerts-list" });
  const detail = h("div", { class: "alerts-detail" });
  root.replaceChildren(h("h1", { class: "visually-hidden" }, "Alerts"),
    h("form", { class: "bar", role: "search", onsubmit: (e) => { e.preventDefault(); go({ q: input.value.trim() }); } },
      stateSelect, rangeSelect, h("span", { class: "grow" }, input), h("button", { type: "submit" }, "Search")),
    jsonPanel(LIST, body, toCurl),
    h("div", { class: params.alert ? "split" : "" }, slot, detail));
  root.dataset.ready = "false";
  if (queryError) {
    slot.replaceChildren(errorBox(queryError));
    slot.setAttribute("aria-busy", "false");
    root.dataset.ready = "true";
    return;
  }
  const work = [listAlerts(slot, body, { sortKey, sortDir, page, selected: params.alert }, go, isCurrent)];
  if (params.alert) work.push(alertDetail(detail, params.alert, go, isCurrent));
  await Promise.allSettled(work);
  if (isCurrent()) root.dataset.ready = "true";
}

/** How many events each alert of a page has, from the events themselves. */
async function eventCounts(alertIds) {
  if (!alertIds.length) return new Map();
  const answer = await call(EVENT_STAT, withDomain({ query: {
    filter: [{ k: "alert_id", v: alertIds, o: "in" }],
    aggregate: [{ group: { keys: [{ key: "alert_id", name: "alert_id" }], fields: [{ operator: "count", name: "n" }] } }],
  } }), "alert-event-counts");
  return new Map(answer.results.map((r) => [r.alert_id, r.n]));
}

/** A page of alerts sorted by severity order (`listBySeverity`), counted by alert stat. */
function alertsBySeverity(body) {
  const state = body.state ? [{ k: "state", v: body.state, o: "eq" }] : [];
  const statBody = (query) => ({ ...(body.domain_id ? { domain_id: body.domain_id } : {}),
    query: { ...query, filter: [...(query.filter || []), ...state] } });
  return listBySeverity(body, { list: LIST, stat: ALERT_STAT, label: "alerts", statBody });
}

async function listAlerts(slot, body, { sortKey, sortDir, page, selected }, go, isCurrent) {
  let answer, counts;
  try {
    answer = await (sortKey === "severity" ? alertsBySeverity(body) : call(LIST, body, "alerts"));
    counts = await eventCounts(answer.results.map((a) => a.alert_id)).catch(() => new Map());
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    slot.setAttribute("aria-busy", "false");
    return;
  }
  if (!isCurrent()) return;
  const pages = Math.max(1, Math.ceil(answer.total_count / PAGE_SIZE));
  const head = h("tr", {}, COLUMNS.map(([key, label]) => {
    if (!key) return h("th", { scope: "col", class: "num" }, label);
    const active = key === sortKey;
    return h("th", { scope: "col", "aria-sort": active ? (sortDir === "asc" ? "ascending" : "descending") : null },
      h("button", { type: "button", onclick: () => go({ sort: `${key}:${active && sortDir !== "asc" ? "asc" : "desc"}` }) },
        label + (active ? (sortDir === "asc" ? " ▲" : " ▼") : "")));
  }));
  const rows = answer.results.map((a) => h("tr", { "data-alert-id": a.alert_id, "data-testid": "alert-row",
    class: a.alert_id === selected ? "selected" : null, "aria-selected": a.alert_id === selected ? "true" : null },
    h("td", {}, h("button", { type: "button", class: "link open-alert", "aria-label": `Open alert ${titleOf(a)}`,
      onclick: () => go({ alert: a.alert_id, page: String(page) }) }, titleOf(a))),
    h("td", {}, stateBadge(a.state)), h("td", {}, a.severity ? severityBadge(a.severity) : ""),
    h("td", {}, a.urgency || ""),
    h("td", { title: formatTime(createdOf(a)) }, duration(createdOf(a))),
    h("td", { class: "num", "data-testid": "alert-event-count" },
      counts.has(a.alert_id) ? counts.get(a.alert_id).toLocaleString("en") : (a.event_count ?? "0")),
    h("td", {}, a.assignee || ""), h("td", { class: "num muted" }, a.alert_number ?? "")));
  slot.replaceChildren(
    h("p", {}, h("strong", { id: "alerts-total", "data-testid": "alerts-total" }, `${answer.total_count.toLocaleString()} alerts`)),
    h("table", { id: "alerts-table", "data-testid": "alerts-table" },
      h("caption", { class: "visually-hidden" }, "Alerts, newest first unless sorted"),
      h("thead", {}, head), h("tbody", {}, rows)),
    h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: page <= 1, onclick: () => go({ page: String(page - 1) }) }, "Previous"),
      h("span", {}, `Page ${page} of ${pages}`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => go({ page: String(page + 1) }) }, "Next")));
  slot.setAttribute("aria-busy", "false");
}

/** Whether this service has the Note API (and so alert/update): a 404 means it has not. */
async function notes(alertId) {
  try {
    const answer = await call(NOTE_LIST, withDomain({ alert_id: alertId,
      query: { sort: [{ key: "created_at", desc: false }] } }), "notes");
    return { available: true, notes: answer.results };
  } catch (error) {
    if (error.status === 404 || error.status === 405) return { available: false, reason: `${NOTE_LIST} answered ${error.status}` };
    return { available: true, notes: [], error };
  }
}

async function alertDetail(slot, alertId, go, isCurrent) {
  let alert, events, noted;
  try {
    [alert, events, noted] = await Promise.all([
      call(GET, withDomain({ alert_id: alertId }), "alert"),
      call(EVENT_LIST, withDomain({ alert_id: alertId, query: {
        sort: [{ key: "created_at", desc: false }], page: { start: 1, limit: 200 },
        only: ["event_id", "created_at", "event_type", "severity", "title"] } }), "alert-events"),
      notes(alertId),
    ]);
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    return;
  }
  if (!isCurrent()) return;
  const status = h("p", { class: "muted", role: "status", "data-testid": "alert-action-status" });
  const act = async (label, path, body, done) => {
    status.textContent = `${label}…`;
    // not ready until the view is drawn again with the change (tests wait on this)
    const content = document.getElementById("content");
    content.dataset.ready = "false";
    try {
      await call(path, withDomain(body), label);
    } catch (error) {
      status.replaceChildren(errorBox(error));
      content.dataset.ready = "true";
      return;
    }
    toast(done);
    // Draw the view again: the list shows the new state, the alert stays open.
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  };
  const off = !noted.available;
  const assignee = h("input", { id: "alert-assignee", "data-testid": "alert-assignee", value: alert.assignee || "",
    placeholder: "user id or e-mail", autocomplete: "off", disabled: off });
  const noteText = h("textarea", { id: "alert-note", "data-testid": "alert-note", rows: 3, disabled: off,
    placeholder: "What you found, what you did" });
  const actions = h("div", { class: "alert-actions", role: "group", "aria-label": "Act on this alert" },
    h("button", { type: "button", "data-testid": "alert-ack", class: "primary",
      disabled: off || !["TRIGGERED", "ERROR"].includes(alert.state),
      onclick: () => act("Acknowledging", UPDATE, { alert_id: alertId, state: "ACKNOWLEDGED" }, "Acknowledged") }, "Acknowledge"),
    h("button", { type: "button", "data-testid": "alert-resolve", disabled: off || alert.state === "RESOLVED",
      onclick: () => act("Resolving", UPDATE, { alert_id: alertId, state: "RESOLVED" }, "Resolved") }, "Resolve"),
    h("form", { class: "inline", onsubmit: (e) => {
      e.preventDefault();
      const who = assignee.value.trim();
      act("Assigning", UPDATE, who ? { alert_id: alertId, assignee: who } : { alert_id: alertId, reset_assignee: true },
          who ? `Assigned to ${who}` : "Unassigned");
    } }, h("label", { for: "alert-assignee" }, "Assignee"), assignee,
      h("button", { type: "submit", "data-testid": "alert-assign", disabled: off }, "Assign")));
  const noteForm = h("form", { class: "note-form", onsubmit: (e) => {
    e.preventDefault();
    const text = noteText.value.trim();
    if (!text) { status.textContent = "Write the note first."; noteText.focus(); return; }
    act("Adding the note", NOTE_CREATE, { alert_id: alertId, note: text }, "Note added");
  } }, h("label", { for: "alert-note" }, "Add a note"), noteText,
    h("button", { type: "submit", "data-testid": "alert-add-note", disabled: off }, "Add note"));
  const unavailable = off ? h("p", { class: "notice", role: "status", "data-testid": "alert-actions-unavailable" },
    "Acknowledge, resolve, assign and notes are not available: this service has no Alert and Note API " +
    `yet (${noted.reason}).`) : null;
  const fields = [["state", stateBadge(alert.state)], ["severity", alert.severity ? severityBadge(alert.severity) : "—"],
    ["urgency", alert.urgency], ["assignee", alert.assignee || "—"], ["alert_id", alert.alert_id],
    ["alert_number", alert.alert_number], ["project_id", alert.project_id], ["triggered_by", alert.triggered_by],
    ["created", formatTime(createdOf(alert))], ["acknowledged", formatTime(alert.acknowledged_at)],
    ["resolved", formatTime(alert.resolved_at)], ["updated", formatTime(alert.updated_at)],
    ["open for", duration(createdOf(alert), alert.resolved_at)], ["description", alert.description]]
    .filter(([, v]) => v !== undefined && v !== null && v !== "");
  const heading = h("h2", { tabindex: "-1", id: "alert-title" },
    alert.alert_number ? `#${alert.alert_number} ` : "", titleOf(alert));
  const noteItems = noted.available
    ? (noted.error ? [errorBox(noted.error)] : noted.notes.length ? noted.notes.map((n) => h("li", { "data-note-id": n.note_id },
      h("p", { class: "note-text" }, n.note),
      h("p", { class: "muted small" }, `${n.created_by || "someone"} · ${formatTime(n.created_at)}`)))
      : [h("li", { class: "muted" }, "No notes yet.")])
    : [h("li", { class: "muted" }, "Notes are not available on this service.")];
  const panel = h("section", { class: "detail card side", id: "alert-detail", "data-testid": "alert-detail",
    "aria-labelledby": "alert-title", onkeydown: (e) => { if (e.key === "Escape") go({ alert: "" }); } },
    h("div", { class: "bar" }, heading, h("span", { class: "spacer" }),
      h("button", { type: "button", "data-testid": "alert-close", onclick: () => go({ alert: "" }) }, "Close")),
    unavailable, actions, status,
    h("dl", { "data-testid": "alert-fields" }, fields.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    noteForm,
    h("h3", {}, `Notes (${noted.notes?.length ?? 0})`),
    h("ul", { class: "notes-list", "data-testid": "alert-notes" }, noteItems),
    h("h3", {}, `Events (${events.total_count})`),
    h("ol", { class: "timeline", "data-testid": "alert-events" }, events.results.map((e) => h("li", {},
      h("span", { class: "mono" }, formatTime(e.created_at)), " ", severityBadge(e.severity), ` ${e.event_type} `,
      h("a", { href: `#/events?${new URLSearchParams({ range: "365d", event: e.event_id, q: `alert_id:${alert.alert_id}` })}` },
        e.title || e.event_id)))),
    h("p", {}, h("a", { href: `#/events?${new URLSearchParams({ range: "365d", q: `alert_id:${alert.alert_id}` })}` },
      "Open these events in Events")));
  slot.replaceChildren(panel);
  heading.focus({ preventScroll: true });
}
