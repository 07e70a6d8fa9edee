"""The API service (`eventpipe api`): intake, webhooks, and get/list/stat over Elasticsearch,
over HTTP and (beside it, `query_api/grpc_server.py`) over gRPC."""

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
from ingest.elasticsearch.indices import delete_expired, ensure_events_template
from ingest.intake import http as intake
from ingest.intake.ratelimit import RateLimiter
from ingest.kafka.health import health_of as kafka_health_of
from ingest.kafka.topics import wanted_topics
from ingest.secrets import signing_secret
from ingest.webhooks.log import WebhookLog
from ingest.webhooks.mirror import WebhookMirror
from ingest.webhooks.registry import WebhookRegistry
from ingest.webhooks.store import WebhookStore
from query_api import routes_alerts, routes_events, routes_webhooks
from query_api.apikeys import ApiKeyStore
from query_api.console import mount_console
from query_api.deps import EsDep
from query_api.errors import error_response, install_error_handlers
from query_api.grpc_server import start_grpc_server
from query_api.http_limits import RequestLimits
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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        es = AsyncElasticsearch(**settings.elasticsearch.client_options())
        app.state.settings = settings
        app.state.es = es
        indices = settings.indices
        app.state.keys = ApiKeyStore(es, indices.apikeys, indices.replicas)
        # Webhooks: the topic read into memory (authentication needs only Kafka), the
        # index kept as its searchable copy by the mirror.
        webhook_log = app.state.webhook_log = WebhookLog(settings)
        app.state.webhooks = WebhookStore(es, webhook_log, indices.webhooks, indices.replicas)
        app.state.registry = WebhookRegistry(webhook_log)
        mirror = WebhookMirror(webhook_log, app.state.webhooks)
        await webhook_log.start()
        mirroring = asyncio.create_task(mirror.run(), name="webhook mirror")
        app.state.signing_secret = signing_secret(settings)
        app.state.raw_producer = intake.RawProducer(settings)
        app.state.webhook_limiter = RateLimiter(
            settings.ingest.webhook_rate_per_second, settings.ingest.webhook_burst
        )
        app.state.key_limiter = RateLimiter(
            settings.api.key_rate_per_second, settings.api.key_burst
        )
        try:
            await ensure_events_template(
                es, indices.events, shards=indices.events_shards, replicas=indices.replicas
            )
            await app.state.keys.ensure_index()
            await app.state.webhooks.ensure_index()
        except EsConnectionError as error:
            log.warning("Elasticsearch not reachable at start-up (%s); /readyz says so", error)
        grpc = None
        if settings.api.grpc_port:  # 0: off
            api = settings.api
            grpc = await start_grpc_server(app.state, api.grpc_host, api.grpc_port)
            log.info("gRPC Event API on %s", grpc.address)
        app.state.grpc = grpc
        retention = asyncio.create_task(_retention_loop(es, settings))
        # Start-up objects live as long as the process: keeping them out of the garbage
        # collector's full passes keeps those passes short (a latency tail otherwise).
        gc.freeze()
        try:
            yield
        finally:
            retention.cancel()
            mirroring.cancel()
            await webhook_log.stop()
            if grpc is not None:
                await grpc.stop()
            await app.state.raw_producer.stop()
            await es.close()

    app = FastAPI(
        title="eventpipe",
        description="The Event API of Cloudforet's monitoring service, over Elasticsearch.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(intake.WebhookFastPath)
    # Outermost: every route, the fast path included, reads its body through the limits.
    app.add_middleware(RequestLimits, max_body_bytes=settings.ingest.max_body_bytes)
    app.include_router(routes_events.router)
    app.include_router(routes_webhooks.router)
    app.include_router(intake.router)
    app.include_router(routes_alerts.router)
    app.include_router(routes_alerts.caller_router)
    mount_console(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz(request: Request, es: EsDep) -> object:
        """Ready to take alerts: Kafka answers and the webhooks are loaded from it.

        Elasticsearch is reported, not required: while it is down the intake still takes
        alerts (reads answer 503 on their own), so a load balancer must keep sending. A
        degraded cluster (a broker or node down, under-replicated partitions, Elasticsearch
        yellow) is reported too, as `"status": "degraded"` with the problems, still 200:
        it costs a failover, not the service.
        """
        state = request.app.state
        metadata = await state.raw_producer.metadata()
        if metadata is None:
            return error_response(503, "ERROR_UNAVAILABLE", "Kafka unreachable")
        if not state.webhook_log.loaded:
            return error_response(503, "ERROR_UNAVAILABLE", "webhooks not loaded from Kafka yet")
        topics = settings.topics
        kafka = kafka_health_of(metadata, list(wanted_topics(settings)), topics.min_insync_replicas)
        hosts = settings.elasticsearch.hosts
        try:
            answer = await es.cluster.health(timeout="2s")
            search = elasticsearch_health(dict(answer), len(hosts) if len(hosts) > 1 else 0)
        except Exception:
            search = UNREACHABLE
        problems = [*kafka.problems, *search.problems]
        body: dict[str, object] = {
            "status": "degraded" if problems else "ready",
            "kafka": kafka.status,
            "elasticsearch": search.status,
        }
        if problems:
            body["problems"] = problems
        return body

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format, from prometheus_client's default registry."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
