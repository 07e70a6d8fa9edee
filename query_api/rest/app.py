"""The HTTP service: `eventpipe api` serves the intake and the Event API (get/list/stat,
alerts, webhooks, the console) over HTTP and, beside it, gRPC (`query_api.grpc.server`);
`eventpipe intake` serves the intake alone, so alert floods and queries scale apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from elasticsearch import AsyncElasticsearch
from elasticsearch import ConnectionError as EsConnectionError
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingest.elasticsearch.health import UNREACHABLE, elasticsearch_health
from ingest.elasticsearch.indices import (
    delete_expired,
    ensure_alert_indices,
    ensure_events_template,
)
from ingest.intake import routes as intake_routes
from ingest.intake.admission import Intake
from ingest.intake.producer import RawProducer
from ingest.intake.ratelimit import RateLimiter
from ingest.kafka.health import health_of as kafka_health_of
from ingest.kafka.mirror import CopyMirror
from ingest.kafka.topics import wanted_topics
from ingest.rules.log import EventRuleLog
from ingest.secrets import signing_secret
from ingest.webhooks.log import WebhookLog
from ingest.webhooks.mirror import WebhookMirror
from ingest.webhooks.registry import WebhookRegistry
from query_api.console import mount_console
from query_api.grpc.server import start_grpc_server
from query_api.rest.errors import error_response, install_error_handlers
from query_api.rest.http_limits import RequestLimits
from query_api.rest.routes import alerts, apikeys, event_rules, events, webhooks
from query_api.services.alerts import AlertBackend, ChangeProducer
from query_api.services.apikeys import ApiKeyStore
from query_api.services.event_rules import EventRuleStore
from query_api.services.webhooks import WebhookStore
from schemas.settings import Settings, get_settings

log = logging.getLogger("eventpipe.api")
RETENTION_EVERY_SECONDS = 3600


async def _retention_loop(es: AsyncElasticsearch, settings: Settings) -> None:
    """Delete expired daily indices now and then every hour."""
    while True:
        try:
            deleted = await delete_expired(
                es, settings.indices.events, settings.indices.retention_days
            )
            if deleted:
                log.info("retention deleted %s", ", ".join(deleted))
        except Exception as error:  # keep serving; retry at the next round
            log.warning("retention failed: %s", error)
        await asyncio.sleep(RETENTION_EVERY_SECONDS)


def create_app(settings: Settings | None = None, *, query: bool = True) -> FastAPI:
    """The intake and, with `query` (the default), the Event API beside it."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        es = AsyncElasticsearch(**settings.elasticsearch.client_options()) if query else None
        app.state.settings = settings
        app.state.es = es
        # Webhooks: the topic read into memory (authentication needs only Kafka), the
        # index kept as its searchable copy by the mirror.
        webhook_log = app.state.webhook_log = WebhookLog(settings)
        app.state.registry = WebhookRegistry(webhook_log)
        mirror = rule_log = rule_mirror = None
        if es is not None:
            indices = settings.indices
            app.state.keys = ApiKeyStore(es, indices.apikeys, indices.replicas)
            app.state.webhooks = WebhookStore(es, webhook_log, indices.webhooks, indices.replicas)
            app.state.alerts = AlertBackend(es, settings, ChangeProducer(settings))
            mirror = WebhookMirror(webhook_log, app.state.webhooks)
            # Event rules live as webhooks do: their topic in memory, the index its copy.
            rule_log = app.state.event_rule_log = EventRuleLog(settings)
            app.state.event_rules = EventRuleStore(es, rule_log, indices.event_rules)
            rule_mirror = CopyMirror(rule_log, app.state.event_rules)  # listens before reading
            await rule_log.start()
        await webhook_log.start()
        mirroring = mirror and asyncio.create_task(mirror.run(), name="webhook mirror")
        rule_mirroring = rule_mirror and asyncio.create_task(rule_mirror.run(),
                                                             name="event rule mirror")  # fmt: skip
        app.state.intake = Intake(
            settings=settings,
            registry=app.state.registry,
            limiter=RateLimiter(
                settings.ingest.webhook_rate_per_second, settings.ingest.webhook_burst
            ),
            producer=RawProducer(settings),
            signing_secret=signing_secret(settings),
        )
        app.state.key_limiter = RateLimiter(
            settings.api.key_rate_per_second, settings.api.key_burst
        )
        grpc = retention = None
        if es is not None:
            try:
                await ensure_events_template(
                    es, indices.events, shards=indices.events_shards, replicas=indices.replicas
                )
                await app.state.keys.ensure_index()
                await app.state.webhooks.ensure_index()
                await ensure_alert_indices(es, settings.indices)
            except EsConnectionError as error:
                log.warning("Elasticsearch not reachable at start-up (%s); /readyz says so", error)
            if settings.api.grpc_port:  # 0: off
                api = settings.api
                grpc = await start_grpc_server(app.state, api.grpc_host, api.grpc_port)
                log.info("gRPC Event API on %s", grpc.address)
            retention = asyncio.create_task(_retention_loop(es, settings))
        app.state.grpc = grpc
        # Start-up objects live as long as the process: keeping them out of the garbage
        # collector's full passes keeps those passes short (a latency tail otherwise).
        gc.freeze()
        try:
            yield
        finally:
            for task in (retention, mirroring, rule_mirroring):
                if task:
                    task.cancel()
            await webhook_log.stop()
            if rule_log is not None:
                await rule_log.stop()
            if grpc is not None:
                await grpc.stop()
            await app.state.intake.producer.stop()
            if es is not None:
                await app.state.alerts.changes.stop()
                await es.close()

    app = FastAPI(
        title="eventpipe",
        description="The Event API of Cloudforet's monitoring service, over Elasticsearch.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(intake_routes.WebhookFastPath)
    # Outermost: every route, the fast path included, reads its body through the limits.
    app.add_middleware(RequestLimits, max_body_bytes=settings.ingest.max_body_bytes)
    if query:
        app.include_router(events.router)
        app.include_router(webhooks.router)
    app.include_router(intake_routes.router)
    if query:
        app.include_router(alerts.router)
        app.include_router(alerts.note_router)
        app.include_router(apikeys.router)
        app.include_router(event_rules.router)
        mount_console(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz(request: Request) -> object:
        """Ready to take alerts: Kafka answers and the webhooks are loaded from it.

        Elasticsearch is reported, not required: while it is down the intake still takes
        alerts (reads answer 503 on their own), so a load balancer must keep sending. A
        degraded cluster (a broker or node down, under-replicated partitions, Elasticsearch
        yellow) is reported too, as `"status": "degraded"` with the problems, still 200:
        it costs a failover, not the service.
        """
        state = request.app.state
        metadata = await state.intake.producer.metadata()
        if metadata is None:
            return error_response(503, "ERROR_UNAVAILABLE", "Kafka unreachable")
        if not state.webhook_log.loaded:
            return error_response(503, "ERROR_UNAVAILABLE", "webhooks not loaded from Kafka yet")
        topics = settings.topics
        kafka = kafka_health_of(metadata, list(wanted_topics(settings)), topics.min_insync_replicas)
        body: dict[str, object] = {"status": "ready", "kafka": kafka.status}
        problems = list(kafka.problems)
        if query:
            hosts = settings.elasticsearch.hosts
            try:
                answer = await state.es.cluster.health(timeout="2s")
                search = elasticsearch_health(dict(answer), len(hosts) if len(hosts) > 1 else 0)
            except Exception:
                search = UNREACHABLE
            body["elasticsearch"] = search.status
            problems += search.problems
        if problems:
            body["status"] = "degraded"
            body["problems"] = problems
        return body

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format, from prometheus_client's default registry."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
