// The query bar's language -> the Query language (SPEC §5). Pure: no DOM, no fetch.
//
//   error disk            keyword words (an event matches any of them)
//   severity:CRITICAL     {k: "severity", v: "CRITICAL", o: "eq"}
//   -provider:zabbix      {o: "not"}
//   title:*disk*          {o: "contain"}          (a * at either end)
//   created_at:>2024-05-01 / :>= / :< / :<=       {o: "gt" | "gte" | "lt" | "lte"}
//   rule:"High CPU"       quotes keep spaces; \" inside quotes is a quote
//   field:*               {o: "exists", v: true};  -field:*  {o: "exists", v: false}

const COMPARE = [[">=", "gte"], ["<=", "lte"], [">", "gt"], ["<", "lt"]];

/** Split on whitespace outside double quotes; quotes are kept for `term` to read. */
export function tokens(text) {
  const out = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\" && quoted && i + 1 < text.length) { current += ch + text[++i]; continue; }
    if (ch === '"') { quoted = !quoted; current += ch; continue; }
    if (/\s/.test(ch) && !quoted) { if (current) out.push(current); current = ""; continue; }
    current += ch;
  }
  if (current) out.push(current);
  return out;
}

function unquote(value) {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return { text: value.slice(1, -1).replace(/\\(.)/g, "$1"), quoted: true };
  }
  return { text: value, quoted: false };
}

/** One token -> a condition, or null when it is a keyword word. */
export function term(token) {
  const match = /^(-?)([A-Za-z_][\w.]*):(.*)$/s.exec(token);
  if (!match) return null;
  const [, minus, key, rest] = match;
  const negate = minus === "-";
  for (const [prefix, operator] of COMPARE) {
    if (rest.startsWith(prefix) && !negate) {
      return { k: key, v: unquote(rest.slice(prefix.length)).text, o: operator };
    }
  }
  const { text, quoted } = unquote(rest);
  if (!quoted && text === "*") return { k: key, v: !negate, o: "exists" };
  if (!quoted && text.length > 1 && (text.startsWith("*") || text.endsWith("*"))) {
    return { k: key, v: text.replace(/^\*+|\*+$/g, ""), o: negate ? "not_contain" : "contain" };
  }
  return { k: key, v: text, o: negate ? "not" : "eq" };
}

/** The query text -> `{filter, keyword}` of a Query. */
export function parseQuery(text) {
  const filter = [];
  const words = [];
  for (const token of tokens(text || "")) {
    const condition = term(token);
    if (condition) filter.push(condition);
    else words.push(unquote(token).text);
  }
  const query = { filter };
  if (words.length) query.keyword = words.join(" ");
  return query;
}

/** A `field:value` term for the bar, quoted when the value needs it. */
export function formatTerm(key, value, negate = false) {
  const text = String(value ?? "");
  const plain = /^[^\s"*:<>=-][^\s"]*$/.test(text) && !text.endsWith("*");
  const shown = plain ? text : `"${text.replace(/(["\\])/g, "\\$1")}"`;
  return `${negate ? "-" : ""}${key}:${shown}`;
}

/** The query text with a term added, or removed when its opposite is there (toggle). */
export function addTerm(text, key, value, negate = false) {
  const wanted = formatTerm(key, value, negate);
  const opposite = formatTerm(key, value, !negate);
  const kept = tokens(text || "").filter((t) => t !== wanted && t !== opposite);
  return [...kept, wanted].join(" ");
}
