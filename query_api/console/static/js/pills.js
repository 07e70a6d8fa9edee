// Filters you can see: pills above the results, each `field: value`, which can be negated,
// disabled or removed, by mouse or keyboard. They live in the URL (`filters=` JSON) with
// the query, so a link shows the same view.

import { h } from "./ui.js";

/** The pills of a URL param (bad JSON: none). */
export function decodePills(text) {
  if (!text) return [];
  try {
    const list = JSON.parse(text);
    return Array.isArray(list)
      ? list.filter((p) => p && typeof p.field === "string" && p.field)
        .map((p) => ({ field: p.field, value: p.value ?? null, negate: Boolean(p.negate), disabled: Boolean(p.disabled) }))
      : [];
  } catch {
    return [];
  }
}

/** The URL param of pills ("" for none). */
export function encodePills(pills) {
  if (!pills.length) return "";
  return JSON.stringify(pills.map(({ field, value, negate, disabled }) =>
    ({ field, value, ...(negate ? { negate: true } : {}), ...(disabled ? { disabled: true } : {}) })));
}

/** Pills with `field = value` (or its negation) added; the same pill flips instead. */
export function addPill(pills, field, value, negate = false) {
  const same = pills.findIndex((p) => p.field === field && p.value === value);
  if (same >= 0) {
    const next = [...pills];
    next[same] = { ...pills[same], negate, disabled: false };
    return next;
  }
  return [...pills, { field, value, negate, disabled: false }];
}

const shown = (value) => (value === null || value === "" ? "(missing)" : String(value));

/** The pill bar: `onChange(pills)` with the new list after a click. */
export function pillBar(pills, onChange) {
  if (!pills.length) return h("div", { class: "pills", hidden: true });
  const items = pills.map((pill, i) => {
    const label = `${pill.negate ? "NOT " : ""}${pill.field}: ${shown(pill.value)}`;
    const change = (patch) => onChange(pills.map((p, j) => (j === i ? { ...p, ...patch } : p)));
    return h("li", { class: `pill${pill.negate ? " negated" : ""}${pill.disabled ? " disabled" : ""}`,
                     "data-field": pill.field },
      h("span", { class: "pill-label" }, label, pill.disabled ? " (off)" : ""),
      h("button", { type: "button", class: "pill-negate", "aria-label": `${pill.negate ? "Include" : "Exclude"} ${pill.field}: ${shown(pill.value)}`,
                    title: pill.negate ? "Include these" : "Exclude these",
                    onclick: () => change({ negate: !pill.negate }) }, pill.negate ? "include" : "exclude"),
      h("button", { type: "button", class: "pill-toggle", "aria-pressed": String(!pill.disabled),
                    "aria-label": `${pill.disabled ? "Enable" : "Disable"} filter ${label}`,
                    onclick: () => change({ disabled: !pill.disabled }) }, pill.disabled ? "enable" : "disable"),
      h("button", { type: "button", class: "pill-remove", "aria-label": `Remove filter ${label}`,
                    onclick: () => onChange(pills.filter((_, j) => j !== i)) }, "×"));
  });
  return h("ul", { class: "pills", "aria-label": "Filters" }, items,
    h("li", {}, h("button", { type: "button", class: "link", onclick: () => onChange([]) }, "Clear filters")));
}
