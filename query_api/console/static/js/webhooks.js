// Webhooks: list, create (URL and access key shown once, with copy buttons and the
// Alertmanager webhook_configs snippet), enable/disable, rotate key, delete.

import { call, session, withDomain } from "./api.js";
import { copy, errorBox, formatTime, h, toast } from "./ui.js";

const BASE = "/monitoring/v1/webhook";
const PLUGINS = ["prometheus", "grafana", "aws-sns", "azure-monitor", "google-monitoring", "zabbix", "standard"];

export function alertmanagerSnippet(url, name = "eventpipe") {
  return ["receivers:", `  - name: ${name}`, "    webhook_configs:", `      - url: '${url}'`,
    "        send_resolved: true"].join("\n");
}

export async function renderWebhooks(root, params, isCurrent) {
  const secret = h("div", { id: "webhook-secret" });
  const list = h("section", { "aria-label": "Webhooks", "aria-busy": "true" });
  const domainInput = session.caller?.admin
    ? h("label", {}, "Webhook domain", h("input", { name: "domain_id", required: true, value: session.domain || "" })) : null;
  const form = h("form", { class: "card form-grid", id: "webhook-form" },
    h("label", {}, "Name", h("input", { name: "name", required: true, placeholder: "prod alertmanager" })),
    h("label", {}, "Source", h("select", { name: "plugin_id" }, PLUGINS.map((p) => h("option", { value: p }, p)))),
    h("label", {}, "Project", h("input", { name: "project_id", required: true, placeholder: "project-1" })),
    domainInput,
    h("div", {}, h("button", { type: "submit" }, "Create webhook")));
  const refresh = (expected) => renderList(list, secret, isCurrent, expected);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      const created = await call(`${BASE}/create`, {
        name: data.name, plugin_info: { plugin_id: data.plugin_id, options: {} }, project_id: data.project_id,
        domain_id: data.domain_id || (session.caller?.admin ? session.domain : undefined) || undefined,
      }, "webhook-create");
      showSecret(secret, created, "created");
      form.reset();
      await refresh((hooks) => hooks.some((hook) => hook.webhook_id === created.webhook_id));
    } catch (error) {
      secret.replaceChildren(errorBox(error));
    }
  });
  root.replaceChildren(h("h1", { class: "visually-hidden" }, "Webhooks"),
    h("h2", {}, "New webhook"), form, secret, h("h2", {}, "Webhooks"), list);
  root.dataset.ready = "false";
  await refresh();
  if (isCurrent()) root.dataset.ready = "true";
}

function showSecret(slot, created, what) {
  const snippet = alertmanagerSnippet(created.webhook_url, created.name.replace(/[^\w-]+/g, "-"));
  slot.replaceChildren(h("section", { class: "secret", role: "alert" },
    h("h3", {}, `Webhook ${created.name} ${what}: copy its URL and key now, they are not shown again`),
    h("p", {}, "URL ", h("code", { id: "new-webhook-url" }, created.webhook_url), " ",
      h("button", { type: "button", onclick: () => copy(created.webhook_url, "URL copied") }, "Copy URL")),
    h("p", {}, "Access key ", h("code", { id: "new-webhook-key" }, created.access_key), " ",
      h("button", { type: "button", onclick: () => copy(created.access_key, "Access key copied") }, "Copy key")),
    h("p", {}, "Alertmanager (alertmanager.yml):"),
    h("pre", { id: "alertmanager-snippet" }, snippet),
    h("button", { type: "button", onclick: () => copy(snippet, "Snippet copied") }, "Copy snippet"),
    h("button", { type: "button", onclick: () => slot.replaceChildren() }, "I have copied them")));
}

// The list is a search, which sees a change about a second after it is made: after a
// change, ask again (a few times) until the list shows it.
async function renderList(slot, secret, isCurrent, expected = () => true) {
  let answer;
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      answer = await call(`${BASE}/list`, withDomain({ query: { sort: [{ key: "created_at", desc: true }] } }), "webhooks");
      if (expected(answer.results)) break;
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    return;
  }
  if (!isCurrent()) return;
  const act = async (action, hook, confirmText) => {
    if (confirmText && !confirm(confirmText)) return;
    try {
      const answerOf = await call(`${BASE}/${action}`, { webhook_id: hook.webhook_id }, `webhook-${action}`);
      if (action === "rotate_key") showSecret(secret, answerOf, "has a new key");
      else toast(`${hook.name}: ${action}d`);
      const changed = {
        enable: (hooks) => hooks.some((h) => h.webhook_id === hook.webhook_id && h.state === "ENABLED"),
        disable: (hooks) => hooks.some((h) => h.webhook_id === hook.webhook_id && h.state === "DISABLED"),
        delete: (hooks) => !hooks.some((h) => h.webhook_id === hook.webhook_id),
      }[action];
      await renderList(slot, secret, isCurrent, changed);
    } catch (error) {
      secret.replaceChildren(errorBox(error));
    }
  };
  const rows = answer.results.map((hook) => h("tr", { "data-webhook-id": hook.webhook_id },
    h("td", {}, hook.name), h("td", { class: "mono" }, hook.webhook_id), h("td", {}, hook.plugin_info.plugin_id),
    h("td", {}, hook.project_id), h("td", {}, hook.domain_id), h("td", { class: "state" }, hook.state),
    h("td", { class: "mono" }, formatTime(hook.created_at)),
    h("td", { class: "row-actions" },
      hook.state === "ENABLED"
        ? h("button", { type: "button", onclick: () => act("disable", hook) }, "Disable")
        : h("button", { type: "button", onclick: () => act("enable", hook) }, "Enable"),
      h("button", { type: "button", onclick: () => act("rotate_key", hook, `Rotate the key of ${hook.name}? The old key stops working.`) }, "Rotate key"),
      h("button", { type: "button", onclick: () => act("delete", hook, `Delete ${hook.name}?`) }, "Delete"),
      h("a", { href: `#/events?${new URLSearchParams({ q: `webhook_id:${hook.webhook_id}` })}` }, "Events"))));
  slot.replaceChildren(
    h("p", {}, `${answer.total_count} webhooks`),
    h("table", { id: "webhooks-table" },
      h("thead", {}, h("tr", {}, ["Name", "Id", "Source", "Project", "Domain", "State", "Created", "Actions"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
  slot.setAttribute("aria-busy", "false");
}
