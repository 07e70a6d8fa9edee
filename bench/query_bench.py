"""Event API list/stat latency over N synthetic events, against the same DSL sent straight to ES.

    python -m bench.query_bench [--events 1000000] [--days 30] [--repeat 200] [--keep]

1. A unique prefix `bench-<hex>`: events alias `bench-<hex>-events` over the daily indices
   `bench-<hex>-events-YYYY.MM.DD` made from the project's own template, plus keys and
   webhooks indices of the same prefix.
2. N synthetic events spread over D days ending now, bulk-loaded straight into the daily
   indices with `async_streaming_bulk` (a few concurrent streams, refresh off meanwhile),
   then refresh back to the template's value, a refresh and a force-merge.
3. The real API: `create_app(settings)` served by uvicorn in a subprocess exactly as
   `eventpipe api` serves it (JSON logging included). The only addition: its Elasticsearch
   client notes every request it sends, readable at `GET /_bench/es-requests` (not timed).
4. Per query, interleaved and one request at a time after a warm-up:
   - api:        POST over one keep-alive httpx client, response parsed;
   - direct:     the search carrying the query's DSL (the first one the API sent),
                 replayed byte-for-byte with the official async client;
   - direct-all: every Elasticsearch request one API call makes, replayed in sequence.
   Ratio = api / direct. Figures only: nothing here asserts anything about time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_streaming_bulk

from schemas.event import format_timestamp
from schemas.index import events_index_for, events_template
from schemas.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "domain-1"  # the largest domain: the API scopes every read to the key's domain
LIST_P99_TARGET_MS = 50.0
STAT_P99_TARGET_MS = 250.0
RATIO_TARGET = 1.2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_MASK = (1 << 48) - 1

# ---- synthetic events -----------------------------------------------------------------------

DOMAINS = [("domain-1", 40), ("domain-2", 25), ("domain-3", 15), ("domain-4", 12), ("domain-5", 8)]
PROJECTS_PER_DOMAIN = 6
SEVERITIES = [
    ("CRITICAL", 5),
    ("ERROR", 15),
    ("WARNING", 30),
    ("INFO", 38),
    ("NOT_AVAILABLE", 4),
    ("NONE", 8),
]
EVENT_TYPES = [("ALERT", 70), ("RECOVERY", 26), ("ERROR", 4)]
PROVIDERS: dict[str, tuple[int, list[str], list[str]]] = {  # weight, resource types, accounts
    "prometheus": (30, ["instance", "pod", "container"], [""]),
    "aws": (20, ["AWS/EC2", "AWS/RDS", "AWS/ELB", "AWS/Lambda"], ["123456789012", "210987654321"]),
    "grafana": (15, ["dashboard"], [""]),
    "azure": (10, ["virtualMachines", "sqlDatabases"], ["sub-7f3a", "sub-91c2"]),
    "google_cloud": (
        10,
        ["gce_instance", "cloudsql_database", "k8s_container"],
        ["proj-alpha", "proj-beta"],
    ),
    "zabbix": (10, ["host"], [""]),
    "standard": (5, ["service"], [""]),
}
SYMPTOMS = [  # title, description detail, metric
    ("High CPU usage", "CPU usage above {n}% for 5 minutes", "cpu"),
    ("Memory pressure", "available memory below {n}% of the limit", "memory"),
    ("Disk almost full", "filesystem /var is {n}% full", "disk"),
    ("Latency SLO burn", "p99 latency above {n} ms over the last hour", "latency"),
    ("Error rate high", "5xx responses at {n}% of requests", "errors"),
    ("Pod crash looping", "container restarted {n} times in 10 minutes", "restarts"),
    ("Instance unreachable", "no heartbeat received for {n} seconds", "heartbeat"),
    ("Certificate expiring", "TLS certificate expires in {n} days", "tls"),
    ("Queue backlog growing", "consumer lag at {n} thousand messages", "lag"),
    ("Replication lag", "replica is {n} seconds behind the primary", "replication"),
]
SERVICES = [
    "checkout",
    "payments",
    "search",
    "auth",
    "catalog",
    "orders",
    "billing",
    "gateway",
    "inventory",
    "notifications",
]
REGIONS = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-2",
    "ap-southeast-1",
]
ENVS = [("prod", 60), ("staging", 25), ("dev", 15)]
TEAMS = ["sre", "platform", "data", "payments", "web"]


def _hex12(*parts: object) -> str:
    return hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()[:12]


def _weighted(pairs: list[tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    values, cumulative, total = [], [], 0
    for value, weight in pairs:
        total += weight
        values.append(value)
        cumulative.append(total)
    return values, cumulative


class EventFactory:
    """Event `i` of `total`, spread evenly over [start, start + span) in index order."""

    def __init__(self, seed: int, start: datetime, span: timedelta, total: int, alias: str):
        self.rng = random.Random(seed)
        self.start_ms = int(start.timestamp() * 1000)
        self.span_ms = int(span.total_seconds() * 1000)
        self.step_ms = max(1, self.span_ms // max(1, total))
        self.total = max(1, total)
        self.alias = alias
        self.salt = int(_hex12("salt", alias), 16)
        self.domains = _weighted(DOMAINS)
        self.severities = _weighted(SEVERITIES)
        self.event_types = _weighted(EVENT_TYPES)
        self.providers = _weighted([(name, spec[0]) for name, spec in PROVIDERS.items()])
        self.envs = _weighted(ENVS)
        self.projects = {
            domain: [f"project-{_hex12(domain, p)}" for p in range(PROJECTS_PER_DOMAIN)]
            for domain, _ in DOMAINS
        }

    def _pick(self, table: tuple[list[Any], list[int]]) -> Any:
        return self.rng.choices(table[0], cum_weights=table[1])[0]

    def action(self, i: int) -> dict[str, Any]:
        rng = self.rng
        created_ms = self.start_ms + self.span_ms * i // self.total + rng.randrange(self.step_ms)
        created = EPOCH + timedelta(milliseconds=created_ms)
        domain = self._pick(self.domains)
        project = rng.choice(self.projects[domain])
        provider = self._pick(self.providers)
        _, resource_types, accounts = PROVIDERS[provider]
        service, region = rng.choice(SERVICES), rng.choice(REGIONS)
        env = self._pick(self.envs)
        host = f"{service}-{rng.randrange(40):02d}"
        title, detail, metric = rng.choice(SYMPTOMS)
        severity = self._pick(self.severities)
        event_type = self._pick(self.event_types)
        if event_type == "RECOVERY":
            severity = "INFO"
        event_key = hashlib.md5(f"{domain}:{project}:{host}:{metric}".encode()).hexdigest()
        event_id = f"event-{(i * 0x5DEECE66D + self.salt) & ID_MASK:012x}"
        occurred = created - timedelta(milliseconds=rng.randrange(300_000))
        doc = {
            "event_id": event_id,
            "event_key": event_key,
            "event_type": event_type,
            "title": f"{title} on {host}",
            "description": (
                f"{host} in {region} ({env}): {detail.format(n=rng.randrange(5, 100))}. "
                f"Runbook: https://runbooks.example.com/{service}/{metric}"
            ),
            "severity": severity,
            "rule": f"{service}-{metric}",
            "resource": {
                "resource_id": f"{host}.{region}.{domain}.internal",
                "resource_type": rng.choice(resource_types),
                "name": host,
            },
            "provider": provider,
            "account": rng.choice(accounts),
            "image_url": "",
            "raw_data": {
                "status": "resolved" if event_type == "RECOVERY" else "firing",
                "labels": {"alertname": title, "severity": severity.lower(), "instance": host},
            },
            "additional_info": {
                "env": env,
                "region": region,
                "team": rng.choice(TEAMS),
                "service": service,
            },
            "alert_id": f"alert-{event_key[:12]}",
            "webhook_id": f"webhook-{_hex12(project, provider)}",
            "project_id": project,
            "domain_id": domain,
            "created_at": format_timestamp(created),
            "occurred_at": None if rng.random() < 0.1 else format_timestamp(occurred),
        }
        return {"_index": events_index_for(self.alias, created), "_id": event_id, "_source": doc}

    def actions(self, lo: int, hi: int) -> Iterator[dict[str, Any]]:
        for i in range(lo, hi):
            yield self.action(i)


# ---- loading --------------------------------------------------------------------------------


def _daily_indices(alias: str, start: datetime, end: datetime) -> list[str]:
    names, day, last = [], start, end - timedelta(milliseconds=1)
    while day.date() <= last.date():
        names.append(events_index_for(alias, day))
        day += timedelta(days=1)
    return names


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _progress(label: str, done: int, total: int, started: float, *, end: str = "") -> None:
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else 0.0
    line = (
        f"\r{label} {done:>10,}/{total:,} {100 * done / max(1, total):5.1f}%"
        f"  {rate:>8,.0f}/s  elapsed {_duration(elapsed)}  eta {_duration(eta)}  "
    )
    print(line, end=end, file=sys.stderr, flush=True)


async def load_events(
    es: AsyncElasticsearch, alias: str, args: argparse.Namespace, start: datetime, end: datetime
) -> list[str]:
    """Create the daily indices from the template, bulk-load, restore refresh; the index names."""
    names = _daily_indices(alias, start, end)
    for name in names:
        await es.indices.create(index=name)  # settings, mapping and alias from the template
    await es.indices.put_settings(index=",".join(names), settings={"refresh_interval": "-1"})
    loader = es.options(request_timeout=300)
    done = 0
    started = time.perf_counter()

    async def stream(worker: int, lo: int, hi: int) -> None:
        nonlocal done
        factory = EventFactory(args.seed + worker, start, end - start, args.events, alias)
        async for ok, item in async_streaming_bulk(
            loader,
            factory.actions(lo, hi),
            chunk_size=args.chunk,
            max_retries=5,
            initial_backoff=1,
            raise_on_error=True,
        ):
            if not ok:
                raise RuntimeError(f"bulk item failed: {item}")
            done += 1

    async def report() -> None:
        while True:
            await asyncio.sleep(0.5 if sys.stderr.isatty() else 5.0)
            _progress("loading", done, args.events, started)

    bounds = [args.events * w // args.streams for w in range(args.streams + 1)]
    reporter = asyncio.create_task(report())
    try:
        await asyncio.gather(*(stream(w, bounds[w], bounds[w + 1]) for w in range(args.streams)))
    finally:
        reporter.cancel()
    _progress("loading", done, args.events, started, end="\n")
    load_seconds = time.perf_counter() - started
    refresh = events_template(alias)["template"]["settings"]["refresh_interval"]
    await es.indices.put_settings(index=",".join(names), settings={"refresh_interval": refresh})
    t = time.perf_counter()
    await loader.indices.refresh(index=alias)
    refresh_seconds = time.perf_counter() - t
    print(
        f"loaded {done:,} events into {len(names)} daily indices in {load_seconds:.1f} s "
        f"({done / load_seconds:,.0f} events/s; {args.streams} concurrent bulk streams of "
        f"{args.chunk} docs); refresh {refresh_seconds:.1f} s"
    )
    if args.max_segments > 0:
        t = time.perf_counter()
        await es.options(request_timeout=3600).indices.forcemerge(
            index=alias, max_num_segments=args.max_segments
        )
        print(
            f"force-merged to at most {args.max_segments} segment(s) per index in "
            f"{time.perf_counter() - t:.1f} s"
        )
    else:
        print("no force-merge (segments as the bulk load left them)")
    stats = await es.indices.stats(index=alias, metric="docs,store,segments")
    primaries = stats["_all"]["primaries"]
    print(
        f"index: {primaries['docs']['count']:,} docs, "
        f"{primaries['store']['size_in_bytes'] / 2**20:,.0f} MiB, "
        f"{primaries['segments']['count']} segments over {len(names)} shards"
    )
    return names


# ---- the API in a subprocess ----------------------------------------------------------------


def serve(port: int) -> None:
    """The API as `eventpipe api` runs it, its ES client noting each request it sends."""
    import uvicorn
    from fastapi.responses import Response

    from deploy.logs import json_logging_config
    from query_api.rest.app import create_app

    recorded: deque[dict[str, Any]] = deque(maxlen=256)
    counts: Counter[str] = Counter()
    original = AsyncElasticsearch.perform_request

    async def perform_request(self: AsyncElasticsearch, method: str, path: str, **kwargs: Any):
        recorded.append({"method": method, "path": path, **kwargs})
        counts[kwargs.get("endpoint_id") or f"{method} {path}"] += 1
        return await original(self, method, path, **kwargs)

    AsyncElasticsearch.perform_request = perform_request  # type: ignore[method-assign]
    app = create_app(Settings())

    @app.get("/_bench/es-requests", include_in_schema=False)
    async def es_requests(reset: bool = False) -> Response:
        body = json.dumps({"requests": list(recorded), "counts": dict(counts)}, default=str)
        if reset:
            recorded.clear()
            counts.clear()
        return Response(body, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=json_logging_config())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def api_server(env: dict[str, str], log_path: Path) -> AsyncIterator[str]:
    port = _free_port()
    log = await asyncio.to_thread(log_path.open, "wb")
    with log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.query_bench",
            "--serve",
            "--port",
            str(port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                deadline = time.monotonic() + 90
                while True:
                    if proc.returncode is not None:
                        raise RuntimeError(f"the API exited ({proc.returncode}); see {log_path}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the API did not become ready; see {log_path}")
                    await asyncio.sleep(0.2)
            yield base
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


# ---- measuring ------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    kind: str  # "list" or "stat": which target applies
    path: str
    body: dict[str, Any]
    es_requests: list[dict[str, Any]] = field(default_factory=list)  # one API call's searches
    other_requests: int = 0  # non-search ES requests seen in the probes (API key lookups)
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def target_ms(self) -> float:
        return LIST_P99_TARGET_MS if self.kind == "list" else STAT_P99_TARGET_MS


def cases(since: str) -> list[Case]:
    return [
        Case(
            "list: severity in [CRITICAL,ERROR], created_at >= last 7 days, created_at desc, "
            "limit 15",
            "list",
            "/monitoring/v1/event/list",
            {
                "query": {
                    "filter": [
                        {"k": "severity", "v": ["CRITICAL", "ERROR"], "o": "in"},
                        {"k": "created_at", "v": since, "o": "datetime_gte"},
                    ],
                    "sort": {"key": "created_at", "desc": True},
                    "page": {"start": 1, "limit": 15},
                }
            },
        ),
        Case(
            "stat: group severity + created_at day, count, sort total desc",
            "stat",
            "/monitoring/v1/event/stat",
            {
                "query": {
                    "aggregate": [
                        {
                            "group": {
                                "keys": [
                                    {"key": "severity", "name": "severity"},
                                    {"key": "created_at", "name": "day", "date_format": "day"},
                                ],
                                "fields": [{"operator": "count", "name": "total"}],
                            }
                        },
                        {"sort": {"key": "total", "desc": True}},
                    ]
                }
            },
        ),
        Case(
            "stat: distinct provider",
            "stat",
            "/monitoring/v1/event/stat",
            {"query": {"distinct": "provider"}},
        ),
        Case(
            "stat: group rule + severity, count events; group severity, count rules, sum "
            "events; sort rules desc (two groups)",
            "stat",
            "/monitoring/v1/event/stat",
            {
                "query": {
                    "aggregate": [
                        {
                            "group": {
                                "keys": [{"key": "rule"}, {"key": "severity"}],
                                "fields": [{"operator": "count", "name": "events"}],
                            }
                        },
                        {
                            "group": {
                                "keys": [{"key": "severity"}],
                                "fields": [
                                    {"operator": "count", "name": "rules"},
                                    {"operator": "sum", "key": "events", "name": "events"},
                                ],
                            }
                        },
                        {"sort": {"key": "rules", "desc": True}},
                    ]
                }
            },
        ),
        Case(
            "stat: sort created_at desc, limit 1000, group severity, count (top-N then group)",
            "stat",
            "/monitoring/v1/event/stat",
            {
                "query": {
                    "aggregate": [
                        {"sort": {"key": "created_at", "desc": True}},
                        {"limit": 1000},
                        {
                            "group": {
                                "keys": [{"key": "severity"}],
                                "fields": [{"operator": "count", "name": "total"}],
                            }
                        },
                    ]
                }
            },
        ),
    ]


def _is_search(request: dict[str, Any]) -> bool:
    return request.get("endpoint_id") == "search" or request["path"].endswith("/_search")


async def send_direct(es: AsyncElasticsearch, request: dict[str, Any]) -> dict[str, Any]:
    """One recorded request, sent again as the API's client sent it."""
    response = await es.perform_request(
        request["method"],
        request["path"],
        params=request.get("params"),
        headers=request.get("headers"),
        body=request.get("body"),
        endpoint_id=request.get("endpoint_id"),
        path_parts=request.get("path_parts"),
    )
    return response.body


async def probe(client: httpx.AsyncClient, es: AsyncElasticsearch, case: Case) -> str:
    """Record the ES requests of one API call (3 times) and check api == direct; a verdict."""
    seen = []
    for _ in range(3):
        await client.get("/_bench/es-requests", params={"reset": "true"})
        response = await client.post(case.path, json=case.body)
        response.raise_for_status()
        api = response.json()
        recorded = (await client.get("/_bench/es-requests", params={"reset": "true"})).json()
        searches = [r for r in recorded["requests"] if _is_search(r)]
        case.other_requests += len(recorded["requests"]) - len(searches)
        seen.append(len(searches))
    case.es_requests = searches
    if len(set(seen)) != 1:
        return f"varying search counts {seen}"
    direct = [await send_direct(es, r) for r in searches]
    first = direct[0]
    if case.kind == "list":
        ids = [hit["_source"]["event_id"] for hit in first["hits"]["hits"]]
        same = ids == [e["event_id"] for e in api["results"]]
        total = first["hits"]["total"]["value"]
        same = same and total == api["total_count"]
        return f"{'ok' if same else 'MISMATCH'}: {len(ids)} of total_count {total:,}"
    shown = api["results"] if len(api["results"]) <= 8 else f"{len(api['results'])} rows"
    if "aggregations" not in first:  # a top-N search grouped by the API: every hit counted
        hits = len(first["hits"]["hits"])
        same = sum(row.get("total", 0) for row in api["results"]) == hits
        return f"{'ok' if same else 'MISMATCH'}: {hits} hits -> {shown}"
    aggs = [next(iter(d["aggregations"].values())) for d in direct]
    buckets = sum(len(a["buckets"]) for a in aggs)
    later_groups = sum("group" in stage for stage in case.body["query"].get("aggregate", [])[1:])
    if later_groups:  # the rows are the first group's buckets regrouped: compare the totals
        events = sum(b["doc_count"] for a in aggs for b in a["buckets"])
        same = sum(row.get("events", 0) for row in api["results"]) == events
        return f"{'ok' if same else 'MISMATCH'}: {buckets} buckets of {events:,} events -> {shown}"
    same = buckets == len(api["results"])
    return f"{'ok' if same else 'MISMATCH'}: {buckets} buckets -> {shown}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def measure(
    client: httpx.AsyncClient,
    es: AsyncElasticsearch,
    all_cases: list[Case],
    args: argparse.Namespace,
) -> list[float]:
    """Warm-up, then `repeat` rounds; in each, every case runs api/direct/direct-all in turn."""
    bodies = {id(c): json.dumps(c.body).encode() for c in all_cases}
    headers = {"content-type": "application/json"}

    async def api(case: Case) -> None:
        response = await client.post(case.path, content=bodies[id(case)], headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{case.path}: {response.status_code} {response.text[:300]}")
        response.json()

    async def direct(case: Case) -> None:
        await send_direct(es, case.es_requests[0])

    async def direct_all(case: Case) -> None:
        for request in case.es_requests:
            await send_direct(es, request)

    modes = {"api": api, "direct": direct, "direct-all": direct_all}
    for case in all_cases:
        case.samples = {mode: [] for mode in modes}
    floor: list[float] = []
    started = time.perf_counter()
    total = args.warmup + args.repeat
    for round_ in range(total):
        timed = round_ >= args.warmup
        order = list(modes) if round_ % 2 == 0 else list(reversed(modes))
        for case in all_cases:
            for mode in order:
                t = time.perf_counter()
                await modes[mode](case)
                if timed:
                    case.samples[mode].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        (await client.get("/healthz")).raise_for_status()
        if timed:
            floor.append((time.perf_counter() - t) * 1000)
        if round_ % 10 == 9 or round_ == total - 1:
            _progress("measuring (rounds)", round_ + 1, total, started)
    print(file=sys.stderr)
    return floor


def report(all_cases: list[Case], floor: list[float], auth_lookups: int, calls: int) -> None:
    line = "-" * 118
    print(line)
    print(
        f"{'query':<9}{'API p50':>9}{'API p99':>9}{'ES p50':>9}{'ES p99':>9}"
        f"{'ratio p50':>11}{'ratio p99':>11}{'ES-all p50':>12}{'ES-all p99':>12}"
        f"{'ES req/call':>13}  target met"
    )
    print(line)
    for n, case in enumerate(all_cases, 1):
        s = case.samples
        a50, a99 = percentile(s["api"], 50), percentile(s["api"], 99)
        d50, d99 = percentile(s["direct"], 50), percentile(s["direct"], 99)
        e50, e99 = percentile(s["direct-all"], 50), percentile(s["direct-all"], 99)
        r50, r99 = a50 / d50, a99 / d99
        absolute = a99 <= case.target_ms
        ratio = r50 <= RATIO_TARGET and r99 <= RATIO_TARGET
        verdict = (
            f"p99<={case.target_ms:.0f}ms {'yes' if absolute else 'NO'}, "
            f"<={RATIO_TARGET}x {'yes' if ratio else 'NO'}"
        )
        print(
            f"({n}) {case.kind:<5}{a50:>9.1f}{a99:>9.1f}{d50:>9.1f}{d99:>9.1f}"
            f"{r50:>10.2f}x{r99:>10.2f}x{e50:>12.1f}{e99:>12.1f}"
            f"{len(case.es_requests):>13}  {verdict}"
        )
    print(line)
    print(
        f"HTTP floor (GET /healthz over the same client, no auth, no ES): "
        f"p50 {percentile(floor, 50):.2f} ms, p99 {percentile(floor, 99):.2f} ms"
    )
    print(
        f"API key lookups (ES GET on the keys index) during the timed phase: {auth_lookups} "
        f"over {calls} API calls (cache {_cache_seconds():g} s)"
    )


def print_requests(all_cases: list[Case]) -> None:
    for n, case in enumerate(all_cases, 1):
        print(f"({n}) {case.name}")
        for i, request in enumerate(case.es_requests, 1):
            dsl = json.dumps(request.get("body"), separators=(",", ":"))
            params = request.get("params") or {}
            print(
                f"    ES request {i}/{len(case.es_requests)}: {request['method']} "
                f"{request['path']} {params} {dsl[:400]}{'...' if len(dsl) > 400 else ''}"
            )


def _cache_seconds() -> float:
    from query_api.services.apikeys import CACHE_SECONDS

    return CACHE_SECONDS


# ---- gRPC beside REST (issue 10) ------------------------------------------------------------
# The same list and stat requests over the API's gRPC face (spaceone.api.monitoring.v1.Event,
# Cloudforet's compiled stubs, one grpc.aio channel) interleaved with REST over the same API
# process, one request at a time. Target: gRPC p99 within GRPC_RATIO_TARGET x REST's p99.
# Self-contained: `run` only sets the port (`grpc_env`) and calls `compare_grpc` per pass.

GRPC_RATIO_TARGET = 1.1


def grpc_env(env: dict[str, str]) -> str:
    """Give the API subprocess a free gRPC port (never the default 50051); its address."""
    port = _free_port()
    env["EVENTPIPE_API__GRPC_PORT"] = str(port)
    env["EVENTPIPE_API__GRPC_HOST"] = "127.0.0.1"
    return f"127.0.0.1:{port}"


def grpc_request(case: Case) -> tuple[str, Any] | None:
    """(method, request message) for a case's body; None when proto3 cannot carry it."""
    from google.protobuf import json_format
    from spaceone.api.monitoring.v1 import event_pb2

    method = case.path.rsplit("/", 1)[-1]
    message_type = {"list": event_pb2.EventQuery, "stat": event_pb2.EventStatQuery}.get(method)
    if message_type is None:
        return None
    try:
        return method, json_format.ParseDict(case.body, message_type())
    except json_format.ParseError:
        return None


async def compare_grpc(
    client: httpx.AsyncClient,
    address: str,
    key: str,
    all_cases: list[Case],
    args: argparse.Namespace,
) -> None:
    """Time REST and gRPC on every case, interleaved; print the p50/p99 table."""
    import grpc
    from spaceone.api.monitoring.v1 import event_pb2, event_pb2_grpc

    metadata = (("token", key),)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = event_pb2_grpc.EventStub(channel)
        usable = [(case, grpc_request(case)) for case in all_cases]
        runs = [(case, request) for case, request in usable if request is not None]
        bodies = {id(case): json.dumps(case.body).encode() for case, _ in runs}
        samples: dict[int, dict[str, list[float]]] = {
            id(case): {"rest": [], "grpc": []} for case, _ in runs
        }
        floor: list[float] = []

        async def rest(case: Case) -> None:
            response = await client.post(
                case.path, content=bodies[id(case)], headers={"content-type": "application/json"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"{case.path}: {response.status_code} {response.text[:300]}")
            response.json()

        async def over_grpc(case: Case, request: tuple[str, Any]) -> None:
            method, message = request
            await getattr(stub, method)(message, metadata=metadata, timeout=60)

        for case, request in runs:  # the answers agree before anything is timed
            method, message = request
            answer = await getattr(stub, method)(message, metadata=metadata, timeout=60)
            response = await client.post(case.path, json=case.body)
            print(f"gRPC check {case.kind}: {_grpc_agrees(method, answer, response.json())}")
        total = args.warmup + args.repeat
        started = time.perf_counter()
        for round_ in range(total):
            timed = round_ >= args.warmup
            for case, request in runs:
                order = ["rest", "grpc"] if round_ % 2 == 0 else ["grpc", "rest"]
                for mode in order:
                    t = time.perf_counter()
                    await (rest(case) if mode == "rest" else over_grpc(case, request))
                    if timed:
                        samples[id(case)][mode].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            with contextlib.suppress(grpc.aio.AioRpcError):  # no key: refused before any ES
                await stub.list(event_pb2.EventQuery(), timeout=10)
            if timed:
                floor.append((time.perf_counter() - t) * 1000)
            if round_ % 10 == 9 or round_ == total - 1:
                _progress("measuring gRPC vs REST (rounds)", round_ + 1, total, started)
        print(file=sys.stderr)

    line = "-" * 96
    print(f"\n-- gRPC vs REST, same API process, interleaved; target gRPC p99 <= "
          f"{GRPC_RATIO_TARGET}x REST p99")  # fmt: skip
    print(line)
    print(f"{'query':<9}{'REST p50':>10}{'REST p99':>10}{'gRPC p50':>10}{'gRPC p99':>10}"
          f"{'ratio p50':>11}{'ratio p99':>11}  target met")  # fmt: skip
    print(line)
    for n, (case, _) in enumerate(usable, 1):
        if id(case) not in samples:
            print(f"({n}) {case.kind:<5} skipped: the body has no proto3 form")
            continue
        got = samples[id(case)]
        r50, r99 = percentile(got["rest"], 50), percentile(got["rest"], 99)
        g50, g99 = percentile(got["grpc"], 50), percentile(got["grpc"], 99)
        met = "yes" if g99 <= GRPC_RATIO_TARGET * r99 else "NO"
        print(f"({n}) {case.kind:<5}{r50:>10.1f}{r99:>10.1f}{g50:>10.1f}{g99:>10.1f}"
              f"{g50 / r50:>10.2f}x{g99 / r99:>10.2f}x  {met}")  # fmt: skip
    print(line)
    print(f"gRPC floor (list without a key, refused UNAUTHENTICATED, same channel, no ES): "
          f"p50 {percentile(floor, 50):.2f} ms, p99 {percentile(floor, 99):.2f} ms")  # fmt: skip


def _grpc_agrees(method: str, answer: Any, rest: dict[str, Any]) -> str:
    from google.protobuf import json_format

    expected = json_format.ParseDict(rest, type(answer)())
    if answer == expected:
        return f"ok ({method}, same answer as REST)"
    return f"MISMATCH ({method})"


# ---- end of gRPC beside REST ----------------------------------------------------------------


# ---- the run --------------------------------------------------------------------------------


async def cleanup(es: AsyncElasticsearch, names: dict[str, str]) -> None:
    found = await es.indices.get(
        index=f"{names['events']}-*", allow_no_indices=True, expand_wildcards="all"
    )
    doomed = [*found.keys(), names["apikeys"], names["webhooks"], names["alerts"]]
    await es.indices.delete(index=",".join(doomed), ignore_unavailable=True)
    await es.options(ignore_status=404).indices.delete_index_template(name=names["events"])
    print(f"deleted {len(found)} events indices, the keys/webhooks indices and the template")


async def run(args: argparse.Namespace) -> int:
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    from ingest.elasticsearch.indices import ensure_events_template
    from query_api.services.apikeys import ApiKeyStore

    settings = Settings()
    prefix = f"bench-{secrets.token_hex(4)}"
    names = {kind: f"{prefix}-{kind}" for kind in ("events", "apikeys", "webhooks", "alerts")}
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    log_path = Path(tempfile.gettempdir()) / f"{prefix}-api.log"
    env = dict(os.environ)
    env |= {f"EVENTPIPE_INDICES__{kind.upper()}": name for kind, name in names.items()}
    # Retention must not delete the oldest bench day; a fixed signing secret keeps the
    # subprocess from touching the shared cache directory.
    env["EVENTPIPE_INDICES__RETENTION_DAYS"] = str(args.days + 30)
    env["EVENTPIPE_INGEST__SIGNING_SECRET"] = secrets.token_urlsafe(32)
    grpc_address = grpc_env(env)  # gRPC beside REST (issue 10)
    if settings.elasticsearch.password is not None:
        env["EVENTPIPE_ELASTICSEARCH__PASSWORD"] = (
            settings.elasticsearch.password.get_secret_value()
        )
    try:
        nodes = await es.nodes.info(filter_path="nodes.*.version")
        versions = sorted({n["version"] for n in nodes["nodes"].values()})
        print(
            f"prefix {prefix}; Elasticsearch {', '.join(versions)} at {settings.elasticsearch.url}"
            f"; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}"
        )
        end = datetime.now(UTC).replace(microsecond=0)
        start = end - timedelta(days=args.days)
        await ensure_events_template(es, names["events"])
        daily = await load_events(es, names["events"], args, start, end)
        key, _ = await ApiKeyStore(es, names["apikeys"]).create(DOMAIN)
        since = format_timestamp(end - timedelta(days=7))
        all_cases = cases(since)
        async with api_server(env, log_path) as base:
            auth = {"authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as client:
                print(
                    f"API at {base} (uvicorn subprocess, as `eventpipe api`); domain key for "
                    f"{DOMAIN}; {args.warmup} warm-up + {args.repeat} timed rounds, sequential"
                )
                for n, case in enumerate(all_cases, 1):
                    print(f"({n}) check api vs direct: {await probe(client, es, case)}")
                passes = ["on", "off"] if args.request_cache == "both" else [args.request_cache]
                for cache in passes:
                    enabled = cache == "on"
                    await es.indices.put_settings(
                        index=",".join(daily), settings={"index.requests.cache.enable": enabled}
                    )
                    await es.indices.clear_cache(index=names["events"], request=True)
                    await client.get("/_bench/es-requests", params={"reset": "true"})
                    floor = await measure(client, es, all_cases, args)
                    counts = (await client.get("/_bench/es-requests")).json()["counts"]
                    lookups = sum(
                        v for k, v in counts.items() if k in ("get", f"GET /{names['apikeys']}")
                    )
                    note = " (the default: size-0 searches are cached)" if enabled else ""
                    print(
                        f"\n== shard request cache {cache.upper()}{note}"
                        f"; load average {os.getloadavg()[0]:.2f}; ES requests by the API in the "
                        f"timed phase: {counts}"
                    )
                    calls = (args.warmup + args.repeat) * len(all_cases)
                    report(all_cases, floor, lookups, calls)
                    await compare_grpc(client, grpc_address, key, all_cases, args)  # issue 10
        print_requests(all_cases)
        return 0
    finally:
        try:
            if args.keep:
                print(
                    f"kept: template/alias {names['events']}, indices {prefix}-*; API log "
                    f"{log_path}"
                )
            else:
                await cleanup(es, names)
                log_path.unlink(missing_ok=True)
        finally:
            await es.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.query_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load")
    parser.add_argument("--days", type=int, default=30, help="days the events span, ending now")
    parser.add_argument("--repeat", type=int, default=200, help="timed requests per query and mode")
    parser.add_argument("--warmup", type=int, default=20, help="untimed rounds first")
    parser.add_argument("--keep", action="store_true", help="keep the indices, template, keys")
    parser.add_argument("--streams", type=int, default=3, help="concurrent bulk streams")
    parser.add_argument("--chunk", type=int, default=5000, help="documents per bulk request")
    parser.add_argument(
        "--max-segments",
        type=int,
        default=4,
        help="force-merge each daily index to this many segments (0: don't)",
    )
    parser.add_argument(
        "--request-cache",
        choices=["on", "off", "both"],
        default="both",
        help="time with the shard request cache on (ES default), off, or both in turn",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.port)
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
