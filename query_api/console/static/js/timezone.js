// One time zone for everything the Events view shows and reads: the browser's, or UTC when
// the URL says `tz=utc`. Instants stay ISO UTC in the URL and the API; only what people
// see and type is wall time in the zone. Pure (Intl only).

export const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** The zone a view's params ask for. */
export function zoneOf(params) {
  return params.tz === "utc" ? "UTC" : BROWSER_ZONE;
}

const formatters = new Map();
function formatter(zone) {
  if (!formatters.has(zone)) {
    formatters.set(zone, new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3,
    }));
  }
  return formatters.get(zone);
}

/** `{year, month, day, hour, minute, second, ms}` of an instant's wall time in `zone`. */
export function wallParts(date, zone) {
  const out = {};
  for (const { type, value } of formatter(zone).formatToParts(date)) {
    if (type === "fractionalSecond") out.ms = Number(value);
    else if (type !== "literal") out[type] = Number(value);
  }
  return out;
}

/** Minutes the zone is ahead of UTC at that instant (New York in winter: -300). */
export function offsetMinutes(date, zone) {
  const p = wallParts(date, zone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second, p.ms);
  return Math.round((asUtc - date.getTime()) / 60_000);
}

/** The instant a wall time in `zone` names (the earlier one in a DST overlap). */
export function fromWall(year, month, day, hour = 0, minute = 0, second = 0, zone = "UTC") {
  const guess = Date.UTC(year, month - 1, day, hour, minute, second);
  const first = guess - offsetMinutes(new Date(guess), zone) * 60_000;
  return new Date(guess - offsetMinutes(new Date(first), zone) * 60_000);
}

/** `YYYY-MM-DDTHH:MM[:SS]` read as wall time in `zone`; null when it does not parse. */
export function parseWall(text, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(String(text || "").trim());
  if (!m) return null;
  const [, y, mo, d, h = 0, mi = 0, s = 0] = m;
  return fromWall(+y, +mo, +d, +h, +mi, +s, zone);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** `YYYY-MM-DD HH:MM:SS.mmm` in `zone` (ISO strings and Dates alike); "" for nothing. */
export function formatInstant(value, zone, { ms = true, seconds = true } = {}) {
  if (!value) return "";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const p = wallParts(date, zone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}` +
    (seconds ? `:${pad(p.second)}` : "") + (seconds && ms ? `.${pad(p.ms, 3)}` : "");
}

/** The value of a `datetime-local` input showing `date` in `zone`. */
export function toInput(date, zone) {
  return formatInstant(date, zone, { seconds: false }).replace(" ", "T");
}

/** "America/New_York (UTC−05:00)" at that instant. */
export function zoneLabel(zone, date = new Date()) {
  const minutes = offsetMinutes(date, zone);
  const sign = minutes < 0 ? "−" : "+";
  const abs = Math.abs(minutes);
  const name = zone === "UTC" ? "UTC" : zone;
  return minutes === 0 && zone === "UTC" ? "UTC" : `${name} (UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)})`;
}
