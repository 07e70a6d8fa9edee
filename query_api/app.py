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

from ingest.elasticsearch.indices import delete_expired, ensure_events_template
from ingest.intake import http as intake
from ingest.intake.ratelimit import RateLimiter
from ingest.kafka.mirror import CopyMirror
from ingest.rules.log import EventRuleLog
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
from query_api.rest.routes import event_rules as routes_event_rules
from query_api.services.event_rules import EventRuleStore
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
        app.state.keys = ApiKeyStore(es, settings.indices.apikeys)
        # Webhooks: the topic read into memory (authentication needs only Kafka), the
        # index kept as its searchable copy by the mirror.
        webhook_log = app.state.webhook_log = WebhookLog(settings)
        app.state.webhooks = WebhookStore(es, webhook_log, settings.indices.webhooks)
        app.state.registry = WebhookRegistry(webhook_log)
        mirror = WebhookMirror(webhook_log, app.state.webhooks)
        await webhook_log.start()
        mirroring = asyncio.create_task(mirror.run(), name="webhook mirror")
        # Event rules: the same, one record per domain's rule set (SPEC §10).
        rule_log = app.state.event_rule_log = EventRuleLog(settings)
        app.state.event_rules = EventRuleStore(es, rule_log, settings.indices.event_rules)
        rule_mirror = CopyMirror(rule_log, app.state.event_rules)
        await rule_log.start()
        rule_mirroring = asyncio.create_task(rule_mirror.run(), name="event rule mirror")
        app.state.signing_secret = signing_secret(settings)
        app.state.raw_producer = intake.RawProducer(settings)
        app.state.webhook_limiter = RateLimiter(
            settings.ingest.webhook_rate_per_second, settings.ingest.webhook_burst
        )
        app.state.key_limiter = RateLimiter(
            settings.api.key_rate_per_second, settings.api.key_burst
        )
        try:
            await ensure_events_template(es, settings.indices.events)
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
            rule_mirroring.cancel()
            await webhook_log.stop()
            await rule_log.stop()
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
    app.include_router(routes_event_rules.router)
    mount_console(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz(request: Request, es: EsDep) -> object:
        """Ready to take alerts: Kafka answers and the webhooks are loaded from it.

        Elasticsearch is reported, not required: while it is down the intake still takes
        alerts (reads answer 503 on their own), so a load balancer must keep sending.
        """
        state = request.app.state
        if not await state.raw_producer.reachable():
            return error_response(503, "ERROR_UNAVAILABLE", "Kafka unreachable")
        if not state.webhook_log.loaded:
            return error_response(503, "ERROR_UNAVAILABLE", "webhooks not loaded from Kafka yet")
        try:
            await es.cluster.health(timeout="2s")
            search = "ok"
        except Exception:
            search = "unreachable"
        return {"status": "ready", "elasticsearch": search}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format, from prometheus_client's default registry."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
