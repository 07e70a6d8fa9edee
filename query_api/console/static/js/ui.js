// DOM helpers and the view state kept in the URL (`#/<view>?<params>`): shareable, and the
// back button walks through it.

/** h("button", {onclick, class: "x"}, "text", child...) -> an element. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The current route: `{view, params}` from the hash. */
export function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  return { view: path || "events", params: Object.fromEntries(new URLSearchParams(query)) };
}

/** Go to a view with params (empty values dropped); a new history entry each time. */
export function navigate(view, params = {}, { replace = false } = {}) {
  const kept = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  const hash = `#/${view}` + (kept.length ? `?${new URLSearchParams(kept)}` : "");
  if (hash === location.hash) return;
  if (replace) {
    history.replaceState(null, "", hash);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    location.hash = hash;
  }
}

export function toast(message) {
  const node = document.getElementById("toast");
  node.textContent = message;
  node.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => node.classList.remove("show"), 2200);
}

export async function copy(text, what = "Copied") {
  try {
    await navigator.clipboard.writeText(text);
    toast(what);
  } catch {
    toast("Copy failed: select the text and copy it");
  }
}

/** An error line for a failed call: the API's code and message, as it sent them. */
export function errorBox(error) {
  return h("p", { class: "error", role: "alert" },
           error.code ? `${error.code}: ${error.message}` : String(error));
}

export function formatTime(value) {
  if (!value) return "";
  return String(value).replace("T", " ").replace(/\.\d+Z$|Z$/, "");
}

export function duration(from, to) {
  const ms = new Date(to || Date.now()) - new Date(from);
  if (!(ms >= 0)) return "";
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function severityBadge(value) {
  return h("span", { class: `sev sev-${value}` }, value || "");
}

/** An alert state as a badge (TRIGGERED, ACKNOWLEDGED, RESOLVED, ERROR). */
export function stateBadge(value) {
  return h("span", { class: `state-badge state-${value}`, "data-testid": "alert-state" }, value || "");
}

/** A `<details>` with the JSON a view sent and a copy-as-curl button. */
export function jsonPanel(path, body, toCurl) {
  return h("details", { class: "json" },
    h("summary", {}, `Query JSON (${path})`),
    // focusable: a keyboard scrolls a long query (WCAG 2.1.1)
    h("pre", { class: "query-json", tabindex: "0", "aria-label": `Query JSON sent to ${path}` },
      JSON.stringify(body, null, 2)),
    h("button", { type: "button", onclick: () => copy(toCurl(path, body), "curl command copied") },
      "Copy as curl"));
}
