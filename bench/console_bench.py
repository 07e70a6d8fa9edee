"""The console's Events view in headless Chromium over N synthetic events: first paint and
each facet / histogram / list request, measured in the browser with the Performance API.

    python -m bench.console_bench [--events 1000000] [--days 30] [--rounds 40] [--keep]
    python -m bench.console_bench --reuse bench-<hex> [--keep]   # indices kept by --keep

1. Events as `bench.query_bench` makes them (same generator, same loading into daily
   indices behind a unique `bench-<hex>-events` alias), and a domain API key.
2. The API as `eventpipe api` serves it (a uvicorn subprocess), console included.
3. Debian's Chromium through Playwright: sign in, then
   - cold: a full page load of the Events view per round (new page, key already in the
     tab's sessionStorage): time from navigation start until results, histogram and
     facets are all drawn (the `paint:events` measure ends there);
   - warm: a change of query or range within the page (what a click on a facet does):
     the same measure from the view's start;
   - each API call the view made (`api:list`, `api:histogram`, `api:facet:<field>`):
     request start to parsed answer, as the browser saw it (9 calls run concurrently).
   Figures printed with the targets beside them; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from elasticsearch import AsyncElasticsearch

from bench.query_bench import DOMAIN, api_server, cleanup, load_events
from schemas.settings import Settings

FIRST_PAINT_TARGET_MS = 1000
QUERY_P99_TARGET_MS = 300
VIEWS = [  # (range, query bar): what people look at and click
    ("24h", ""),
    ("7d", ""),
    ("30d", ""),
    ("24h", "severity:CRITICAL"),
    ("7d", "-provider:zabbix"),
    ("7d", "event_type:RECOVERY severity:WARNING"),
    ("30d", "disk"),
]
READY = "#content[data-ready='true']"
MEASURES = """() => performance.getEntriesByType('measure')
    .map(m => ({name: m.name, start: m.startTime, duration: m.duration}))"""
# The network's view of the same calls (Resource Timing): fetch start to last byte, and the
# part spent waiting for a free connection (the browser opens at most 6 per host).
RESOURCES = """() => performance.getEntriesByType('resource')
    .filter(r => r.name.includes('/monitoring/v1/event/'))
    .map(r => ({path: new URL(r.name).pathname, total: r.responseEnd - r.startTime,
                queued: r.requestStart - r.startTime}))"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def line(label: str, values: list[float], target: float | None = None) -> str:
    if not values:
        return f"  {label:<28} no samples"
    figures = (
        "  ".join(f"p{p} {percentile(values, p):7.1f}" for p in (50, 95, 99))
        + f"  max {max(values):7.1f} ms  n={len(values)}"
    )
    verdict = ""
    if target is not None:
        verdict = (
            f"  (target {target:g} ms: {'met' if percentile(values, 99) <= target else 'NOT met'})"
        )
    return f"  {label:<28} {figures}{verdict}"


async def browse(
    base: str, key: str, rounds: int
) -> tuple[dict[str, list[float]], list[list[tuple[str, bytes]]]]:
    """Cold and warm Events views in Chromium: milliseconds per measure name, and the
    requests (path, body) each cold view sent."""
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("console_bench needs Debian's chromium (apt-get install chromium)")
    samples: dict[str, list[float]] = defaultdict(list)
    sent: list[list[tuple[str, bytes]]] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        context = await browser.new_context(viewport={"width": 1366, "height": 900})
        await context.add_init_script(f"sessionStorage.setItem('eventpipe.apikey', {key!r})")
        try:
            for n in range(rounds + 2):  # two warm-up rounds, not counted
                range_, q = VIEWS[n % len(VIEWS)]
                page = await context.new_page()
                view_requests: list[tuple[str, bytes]] = []
                page.on(
                    "request",
                    lambda request, into=view_requests: (
                        "/monitoring/v1/event/" in request.url
                        and into.append((request.url, request.post_data_buffer or b""))
                    ),
                )
                hash_ = f"#/events?range={range_}" + (f"&q={q}" if q else "")
                await page.goto(f"{base}/console/{hash_}")
                await page.wait_for_selector(READY, timeout=60_000)
                cold = await page.evaluate(MEASURES)
                network = await page.evaluate(RESOURCES)
                sent.append(list(view_requests))
                next_range, next_q = VIEWS[(n + 3) % len(VIEWS)]
                await page.evaluate("document.getElementById('content').dataset.ready = 'false'")
                await page.evaluate(
                    "([r, q]) => { location.hash = `#/events?range=${r}&q=${q}`; }",
                    [next_range, next_q],
                )
                await page.wait_for_selector(READY, timeout=60_000)
                warm = await page.evaluate(MEASURES)
                await page.close()
                if n < 2:
                    continue
                for measure in cold:
                    if measure["name"] == "paint:events":
                        samples["first paint (page load)"].append(
                            measure["start"] + measure["duration"]
                        )
                        samples["  of which page + sign-in"].append(measure["start"])
                        samples["  of which the queries"].append(measure["duration"])
                for measure in warm:
                    name = measure["name"]
                    if name == "paint:events":
                        samples["view paint (in page)"].append(measure["duration"])
                    elif name.startswith("api:"):
                        samples[name].append(measure["duration"])
                for entry in network:
                    kind = entry["path"].rsplit("/", 1)[1]
                    samples[f"network:{kind}"].append(entry["total"])
                    samples["network:queued"].append(entry["queued"])
                for measure in cold:
                    if measure["name"].startswith("api:") and measure["name"] != "api:whoami":
                        samples[measure["name"]].append(measure["duration"])
        finally:
            await browser.close()
    return samples, sent


async def replay(key: str, views: list[list[tuple[str, bytes]]]) -> list[float]:
    """The cold views' requests sent again from Python, each view's at once over six
    connections as the browser does: the server's share of the figures above."""
    import httpx

    times: list[float] = []
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=6)
    async with httpx.AsyncClient(headers=auth, timeout=60, limits=limits) as client:

        async def one(url: str, body: bytes) -> None:
            started = time.perf_counter()
            response = await client.post(url, content=body)
            response.raise_for_status()
            times.append((time.perf_counter() - started) * 1000)

        for requests in views:
            await asyncio.gather(*(one(url, body) for url, body in requests))
    return times


def report(samples: dict[str, list[float]]) -> None:
    print("\n== the Events view in Chromium (Performance API), milliseconds")
    print(line("first paint (page load)", samples.pop("first paint (page load)", []),
               FIRST_PAINT_TARGET_MS))  # fmt: skip
    for part in ("  of which page + sign-in", "  of which the queries"):
        print(line(part, samples.pop(part, [])))
    print(line("view paint (in page)", samples.pop("view paint (in page)", []),
               FIRST_PAINT_TARGET_MS))  # fmt: skip
    facets = [
        v for name, values in samples.items() if name.startswith("api:facet:") for v in values
    ]
    print(line("each facet query (pooled)", facets, QUERY_P99_TARGET_MS))
    print(line("histogram query", samples.get("api:histogram", []), QUERY_P99_TARGET_MS))
    print(line("results (list) query", samples.get("api:list", [])))
    for name in sorted(samples):
        if name.startswith("api:facet:"):
            print(line(f"  {name[4:]}", samples[name]))
    print("  the same calls as the network saw them (Resource Timing, cold loads):")
    for name in ("network:list", "network:stat", "network:queued"):
        label = {"network:queued": "  waiting for a connection"}.get(name, f"  {name[8:]} request")
        print(line(label, samples.get(name, [])))


async def run(args: argparse.Namespace) -> int:
    from ingest.elasticsearch.indices import ensure_events_template
    from query_api.services.apikeys import ApiKeyStore

    settings = Settings()
    prefix = args.reuse or f"bench-{secrets.token_hex(4)}"
    names = {kind: f"{prefix}-{kind}" for kind in ("events", "apikeys", "webhooks", "alerts")}
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    log_path = Path(tempfile.gettempdir()) / f"{prefix}-api.log"
    env = dict(os.environ)
    env |= {f"EVENTPIPE_INDICES__{kind.upper()}": name for kind, name in names.items()}
    env["EVENTPIPE_INDICES__RETENTION_DAYS"] = str(args.days + 30)
    env["EVENTPIPE_INGEST__SIGNING_SECRET"] = secrets.token_urlsafe(32)
    if settings.elasticsearch.password is not None:
        env["EVENTPIPE_ELASTICSEARCH__PASSWORD"] = (
            settings.elasticsearch.password.get_secret_value()
        )
    try:
        if args.reuse:
            count = (await es.count(index=names["events"]))["count"]
            print(f"prefix {prefix} (reused): {count:,} events; {os.cpu_count()} CPUs; "
                  f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        else:
            print(f"prefix {prefix}; {args.events:,} events over {args.days} days; "
                  f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
            end = datetime.now(UTC).replace(microsecond=0)
            start = end - timedelta(days=args.days)
            await ensure_events_template(es, names["events"])
            await load_events(es, names["events"], args, start, end)
        key, _ = await ApiKeyStore(es, names["apikeys"]).create(DOMAIN)
        async with api_server(env, log_path) as base:
            print(
                f"API and console at {base}/console/ (uvicorn subprocess); key for {DOMAIN}; "
                f"2 warm-up + {args.rounds} rounds: a cold load, then an in-page change"
            )
            samples, views = await browse(base, key, args.rounds)
            report(samples)
            print(line("server: same requests from Python", await replay(key, views)))
        return 0
    finally:
        try:
            if args.keep:
                print(f"kept: indices {prefix}-*; API log {log_path}")
            else:
                await cleanup(es, names)
                log_path.unlink(missing_ok=True)
        finally:
            await es.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.console_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load")
    parser.add_argument("--days", type=int, default=30, help="days the events span, ending now")
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds")
    parser.add_argument("--keep", action="store_true", help="keep the indices")
    parser.add_argument("--reuse", metavar="PREFIX", help="measure indices kept by --keep")
    parser.add_argument("--streams", type=int, default=3, help="concurrent bulk streams")
    parser.add_argument("--chunk", type=int, default=5000, help="documents per bulk request")
    parser.add_argument("--max-segments", type=int, default=4, help="force-merge (0: don't)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
