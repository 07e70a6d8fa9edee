// The console's shell: theme, sign-in, navigation, and which view the URL shows.

import { call, session, ApiError } from "./api.js";
import { navigate, route } from "./ui.js";
import { renderEvents } from "./events.js";
import { renderAlerts } from "./alerts.js";
import { renderStats } from "./stats.js";
import { renderWebhooks } from "./webhooks.js";

const VIEWS = { events: renderEvents, alerts: renderAlerts, stats: renderStats, webhooks: renderWebhooks };
const $ = (id) => document.getElementById(id);

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("theme").setAttribute("aria-pressed", String(theme === "dark"));
  $("theme").textContent = theme === "dark" ? "Light theme" : "Dark theme";
}

function setupTheme() {
  const stored = localStorage.getItem("eventpipe.theme");
  const prefersDark = matchMedia("(prefers-color-scheme: dark)").matches;
  applyTheme(stored || (prefersDark ? "dark" : "light"));
  $("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("eventpipe.theme", next);
    applyTheme(next);
  });
}

/** Who the key is; a wrong key is said plainly, as the API said it. */
async function signIn(key) {
  try {
    session.caller = await call("/monitoring/v1/apikey/whoami", {}, "whoami", key);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new Error("That API key was not accepted: it is unknown or revoked. " +
                      "Check it, or make one with `eventpipe apikey create`.");
    }
    throw new Error(`Could not sign in: ${error.message}`);
  }
  session.key = key;
}

function signOut() {
  session.key = "";
  session.domain = "";
  session.caller = null;
  location.hash = "";
  showSignedIn(false);
}

function showSignedIn(yes) {
  $("signin").hidden = yes;
  $("content").hidden = !yes;
  $("nav").hidden = !yes;
  $("signout").hidden = !yes;
  $("domain-picker").hidden = !(yes && session.caller?.admin);
  $("who").textContent = yes
    ? (session.caller.admin ? "admin key" : `domain ${session.caller.domain_id}`) : "";
  if (!yes) $("content").replaceChildren();
}

async function fillDomains() {
  try {
    const answer = await call("/monitoring/v1/event/stat", { query: { distinct: "domain_id" } }, "domains");
    $("domains").replaceChildren(...answer.results.map((d) => new Option(d, d)));
  } catch { /* the picker still takes typed domains */ }
}

/**
 * An admin key's domain lives in the URL (`domain=`), so a shared link shows the same
 * domain: the URL's wins; a URL without one gets the picked one. True when the URL changed.
 */
function syncDomain(view, params) {
  if ("domain" in params) {
    session.domain = params.domain;
    $("domain").value = params.domain;
    return false;
  }
  if (!session.domain) return false;
  navigate(view, { ...params, domain: session.domain }, { replace: true });
  return true;
}

let rendering = 0;
async function render() {
  if (!session.caller) return;
  const { view, params } = route();
  if (session.caller.admin && syncDomain(view, params)) return; // the URL was completed
  const draw = VIEWS[view] || renderEvents;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const token = ++rendering;
  document.title = `${view} · eventpipe console`;
  await draw($("content"), params, () => token === rendering);
}

async function start() {
  setupTheme();
  $("signout").addEventListener("click", signOut);
  $("domain").value = session.domain;
  $("domain").addEventListener("change", () => {
    session.domain = $("domain").value.trim();
    const { view, params } = route();
    navigate(view, { ...params, domain: session.domain, page: "" });
  });
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signin-error").textContent = "";
    try {
      await signIn($("apikey").value.trim());
    } catch (error) {
      $("signin-error").textContent = error.message;
      $("apikey").focus();
      return;
    }
    $("apikey").value = "";
    showSignedIn(true);
    if (session.caller.admin) fillDomains();
    render();
  });
  window.addEventListener("hashchange", render);
  if (session.key) {
    try {
      await signIn(session.key);
      showSignedIn(true);
      if (session.caller.admin) fillDomains();
      await render();
      return;
    } catch (error) {
      session.key = "";
      $("signin-error").textContent = error.message;
    }
  }
  showSignedIn(false);
  $("apikey").focus();
}

start();
