// The public API, as the console calls it: POST JSON with the key in the Authorization header.
// The key lives in sessionStorage (this tab only) and never in a URL. Every call is timed
// with the Performance API (measure "api:<label>") so a bench can read the figures.

const KEY = "eventpipe.apikey";
const DOMAIN = "eventpipe.domain";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  get domain() { return sessionStorage.getItem(DOMAIN) || ""; },
  set domain(value) { value ? sessionStorage.setItem(DOMAIN, value) : sessionStorage.removeItem(DOMAIN); },
  caller: null, // {key_id, domain_id, admin} from whoami
};

let sequence = 0;

/** POST `body` to `path`; resolves with the JSON answer or rejects with an ApiError. */
export async function call(path, body = {}, label = path, key = session.key) {
  const mark = `api:${label}:${++sequence}`;
  performance.mark(mark);
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Authorization": `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, "ERROR_NETWORK", `the eventpipe service did not answer (${error.message})`);
  }
  const text = await response.text();
  performance.measure(`api:${label}`, mark);
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = {}; }
  if (!response.ok) {
    const error = data.error || {};
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`,
                       error.message || `HTTP ${response.status}`);
  }
  return data;
}

/** The body with the picked domain added, for admin keys that picked one. */
export function withDomain(body) {
  return session.caller?.admin && session.domain ? { ...body, domain_id: session.domain } : body;
}

/** A curl command that sends the same request; the key stays a shell variable. */
export function toCurl(path, body) {
  const json = JSON.stringify(body).replaceAll("'", "'\\''");
  return `curl -s -X POST '${location.origin}${path}' \\\n` +
    `  -H "Authorization: Bearer $EVENTPIPE_API_KEY" -H 'Content-Type: application/json' \\\n` +
    `  -d '${json}'`;
}
