// An event's detail in a side panel beside the list (which keeps its scroll): a table and
// a JSON tab, previous / next through the listed events, and per field: filter for or
// against the value, add or remove it as a column.

import { call, withDomain } from "./api.js";
import { formatInstant, zoneLabel } from "./timezone.js";
import { errorBox, h, severityBadge } from "./ui.js";

const GET = "/monitoring/v1/event/get";
const DATES = new Set(["created_at", "occurred_at"]);
let tab = "table";
let escapeHandler = null;

/** `[path, value]` of every leaf (objects flattened to dotted paths), raw_data aside. */
export function leaves(event) {
  const out = [];
  const walk = (value, path) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    } else {
      out.push([path, value]);
    }
  };
  for (const [k, v] of Object.entries(event)) if (k !== "raw_data") walk(v, k);
  return out;
}

function listedIds() {
  return [...document.querySelectorAll("#events-table tbody tr[data-event-id]")].map((tr) => tr.dataset.eventId);
}

function markRow(id) {
  for (const tr of document.querySelectorAll("#events-table tbody tr.open")) tr.classList.remove("open");
  const row = id && document.querySelector(`#events-table tbody tr[data-event-id="${CSS.escape(id)}"]`);
  if (row) {
    row.classList.add("open");
    row.scrollIntoView({ block: "nearest" });
  }
}

/** The open panel's top follows the page header's bottom, so the header stays usable. */
function placePanel() {
  const panel = document.querySelector(".detail-panel:not([hidden])");
  if (!panel) return;
  const header = document.querySelector("header.top");
  panel.style.top = `${Math.max(0, header ? header.getBoundingClientRect().bottom : 0)}px`;
}
window.addEventListener("scroll", placePanel, { passive: true });
window.addEventListener("resize", placePanel, { passive: true });

/** Show (or hide, without `params.event`) the panel for the event the params name. */
export async function showDetail(panel, params, ctx) {
  const { go, columns, filterFor } = ctx;
  const id = params.event;
  if (escapeHandler) document.removeEventListener("keydown", escapeHandler);
  const close = () => go({ event: "", page: params.page || "" });
  if (!id) {
    const wasOpen = !panel.hidden;
    panel.hidden = true;
    panel.replaceChildren();
    // Keyboard users land back on the row they opened.
    if (wasOpen) document.querySelector("#events-table tbody tr.open .open-event")?.focus({ preventScroll: true });
    markRow(null);
    return;
  }
  escapeHandler = (e) => { if (e.key === "Escape" && !e.defaultPrevented) close(); };
  document.addEventListener("keydown", escapeHandler);
  panel.hidden = false;
  placePanel();
  panel.setAttribute("aria-busy", "true");
  markRow(id);
  let event;
  try {
    event = await call(GET, withDomain({ event_id: id }), "get");
  } catch (error) {
    panel.replaceChildren(h("div", { class: "bar" }, h("span", { class: "spacer" }),
      h("button", { type: "button", onclick: close }, "Close")), errorBox(error));
    panel.setAttribute("aria-busy", "false");
    return;
  }
  if (params.event !== id) return;
  const zone = ctx.zone;
  const ids = listedIds();
  const at = ids.indexOf(id);
  const goTo = (other) => go({ event: other, page: params.page || "" });
  const heading = h("h2", { tabindex: "-1" }, event.title || event.event_id);
  const setColumns = (next) => go({ cols: next.join(","), event: id, page: params.page || "" });

  const rows = leaves(event).map(([path, value]) => {
    const text = DATES.has(path) ? formatInstant(value, zone) : Array.isArray(value) ? JSON.stringify(value) : String(value ?? "");
    const isColumn = columns.includes(path);
    const filterable = !Array.isArray(value) && (value === null || typeof value !== "object");
    return h("tr", { "data-field": path },
      h("th", { scope: "row" }, path),
      h("td", { class: "mono" }, path === "severity" ? severityBadge(value) : text),
      h("td", { class: "row-actions" },
        filterable ? h("button", { type: "button", class: "filter-for", title: "Filter for value",
          "aria-label": `Filter for ${path}: ${text}`, onclick: () => filterFor(path, value, false) }, "+") : null,
        filterable ? h("button", { type: "button", class: "filter-out", title: "Filter out value",
          "aria-label": `Filter out ${path}: ${text}`, onclick: () => filterFor(path, value, true) }, "−") : null,
        h("button", { type: "button", class: "toggle-column", "aria-pressed": String(isColumn),
          title: isColumn ? "Remove column" : "Add as column",
          "aria-label": `${isColumn ? "Remove column" : "Add as column"} ${path}`,
          onclick: () => setColumns(isColumn ? columns.filter((c) => c !== path) : [...columns, path]) },
          isColumn ? "col −" : "col +")));
  });
  const table = h("table", { class: "detail-table" }, h("tbody", {}, rows));
  const json = h("pre", { id: "event-json" }, JSON.stringify(event, null, 2));
  const tabs = [["table", "Table", table], ["json", "JSON", json]];
  const tabButtons = tabs.map(([name, label]) => h("button", {
    type: "button", role: "tab", id: `tab-${name}`, "aria-controls": `tabpanel-${name}`,
    "aria-selected": String(tab === name), tabindex: tab === name ? "0" : "-1",
    onclick: () => choose(name),
    onkeydown: (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const next = tabs[(tabs.findIndex(([n]) => n === name) + 1) % tabs.length][0];
      choose(next);
      panel.querySelector(`#tab-${next}`).focus();
    },
  }, label));
  const tabPanels = tabs.map(([name, , content]) => h("div", { role: "tabpanel", id: `tabpanel-${name}`,
    "aria-labelledby": `tab-${name}`, hidden: tab !== name }, content));
  function choose(name) {
    tab = name;
    tabButtons.forEach((b, i) => {
      const selected = tabs[i][0] === name;
      b.setAttribute("aria-selected", String(selected));
      b.setAttribute("tabindex", selected ? "0" : "-1");
    });
    tabPanels.forEach((p, i) => { p.hidden = tabs[i][0] !== name; });
  }

  panel.replaceChildren(
    h("div", { class: "bar" }, heading, h("span", { class: "spacer" }),
      h("button", { type: "button", id: "detail-prev", disabled: at <= 0, onclick: () => goTo(ids[at - 1]) }, "Previous"),
      h("button", { type: "button", id: "detail-next", disabled: at < 0 || at >= ids.length - 1, onclick: () => goTo(ids[at + 1]) }, "Next"),
      h("button", { type: "button", id: "detail-close", onclick: close }, "Close")),
    h("p", { class: "muted" }, at >= 0 ? `Event ${at + 1} of ${ids.length} on this page · times in ${zoneLabel(zone)}` : `times in ${zoneLabel(zone)}`),
    h("p", {},
      event.alert_id ? h("a", { href: `#/alerts?alert=${encodeURIComponent(event.alert_id)}`, id: "to-alert" },
        `Its alert ${event.alert_id}`) : "No alert",
      " · ",
      h("button", { type: "button", class: "link", id: "same-key",
        onclick: () => filterFor("event_key", event.event_key, false) }, `Events with this event_key`)),
    h("div", { role: "tablist", "aria-label": "Detail view" }, tabButtons),
    ...tabPanels);
  panel.setAttribute("aria-busy", "false");
  heading.focus({ preventScroll: true });
}
