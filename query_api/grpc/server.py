"""The gRPC server beside the HTTP one: the Event, Alert and Note services, server
reflection, health.

Reflection (v1alpha and v1) answers from protobuf's default pool, which holds Cloudforet's
own compiled files (`spaceone/api/monitoring/v1/event.proto`, `alert.proto`, `note.proto`,
`spaceone/api/core/v1/query.proto`): a client asking it gets the names its own compiled
copy uses. It lists those services alone, as Cloudforet's servers list only their API
(see `add_reflection`).
Health (`grpc.health.v1`) says SERVING only while Elasticsearch answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import grpc
from elasticsearch import AsyncElasticsearch
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from spaceone.api.monitoring.v1 import event_pb2, event_pb2_grpc, event_rule_pb2_grpc

from query_api.grpc.alerts import add_alert_services
from query_api.grpc.common import ServiceState
from query_api.grpc.event import EventService
from query_api.grpc.event_rules import EVENT_RULE_SERVICE, EventRuleService

EVENT_SERVICE = event_pb2.DESCRIPTOR.services_by_name["Event"].full_name
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
HEALTH_PROBE_SECONDS = 5.0
# Past the body cap, a request is refused with RESOURCE_EXHAUSTED by the intake's own check;
# the transport's limit only has to leave room for protobuf's encoding of the same JSON.
TRANSPORT_LIMIT_FACTOR = 4


@dataclass
class GrpcServer:
    """A started server: its bound address, and how to stop it."""

    server: grpc.aio.Server
    address: str
    port: int
    _health_task: asyncio.Task[None]
    _health: health.aio.HealthServicer

    async def stop(self, grace: float = 5.0) -> None:
        self._health_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._health_task
        await self._health.enter_graceful_shutdown()
        await self.server.stop(grace)


class ElasticsearchHealth(health.aio.HealthServicer):
    """The standard health service; `Check` asks Elasticsearch there and then."""

    def __init__(self, es: AsyncElasticsearch, names: tuple[str, ...] = (EVENT_SERVICE,)) -> None:
        super().__init__()
        self._es = es
        self._names = names

    async def probe(self) -> None:
        """Set every served name to SERVING if Elasticsearch answers, else NOT_SERVING."""
        try:
            async with asyncio.timeout(2.0):
                await self._es.cluster.health(timeout="2s")
            status = health_pb2.HealthCheckResponse.SERVING
        except Exception:
            status = health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *self._names):
            await self.set(name, status)

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        await self.probe()
        return await super().Check(request, context)


async def start_grpc_server(state: ServiceState, host: str, port: int) -> GrpcServer:
    """Serve the Event API over gRPC on host:port (0: a free port), sharing the HTTP app's
    state (Elasticsearch client, key store, webhook registry, Kafka producer)."""
    limit = max(state.settings.ingest.max_body_bytes * TRANSPORT_LIMIT_FACTOR, 4 * 1024 * 1024)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit)])
    event_pb2_grpc.add_EventServicer_to_server(EventService(state), server)
    event_rule_pb2_grpc.add_EventRuleServicer_to_server(EventRuleService(state), server)
    names = [EVENT_SERVICE, EVENT_RULE_SERVICE, *add_alert_services(server, state)]
    checker = ElasticsearchHealth(state.es, tuple(names))
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    add_reflection(server, names)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"gRPC could not bind {host}:{port}")
    await server.start()
    await checker.probe()
    task = asyncio.create_task(_probe_loop(checker), name="grpc-health-probe")
    return GrpcServer(server, f"{host}:{bound}", bound, task, checker)


async def _probe_loop(checker: ElasticsearchHealth) -> None:
    """Keep Watch streams current between Checks."""
    while True:
        await asyncio.sleep(HEALTH_PROBE_SECONDS)
        await checker.probe()


def add_reflection(server: grpc.aio.Server, service_names: list[str]) -> None:
    """Server reflection in both versions clients use: grpcurl and recent tools ask
    `grpc.reflection.v1`, older ones (and grpcio's own client) `grpc.reflection.v1alpha`.
    grpcio-reflection implements v1alpha; v1 is the same protocol, message for message, so
    the same servicer answers it, and v1's descriptor is registered so it can be described.

    Only `service_names` are listed, as Cloudforet's own servers list only their API:
    Cloudforet's client imports `<package>.<file>_pb2_grpc` for every listed service, which
    exists for Cloudforet's files but not for health's or reflection's. Those two are still
    found by name (`file_containing_symbol`), so grpcurl and the like can call them."""
    register_reflection_v1_descriptor()
    servicer = reflection.aio.ReflectionServicer(service_names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": handler}),)
    )


def register_reflection_v1_descriptor() -> None:
    """Add `grpc/reflection/v1/reflection.proto` to the default pool: v1alpha's file under
    v1's name and package (the two protos differ in nothing else)."""
    pool = descriptor_pool.Default()
    name = "grpc/reflection/v1/reflection.proto"
    try:
        pool.FindFileByName(name)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = proto.package, "grpc.reflection.v1"
    proto.name, proto.package = name, new
    proto.ClearField("options")
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(f".{old}."):
                field.type_name = f".{new}." + field.type_name.removeprefix(f".{old}.")
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(f".{old}.", f".{new}.")
            method.output_type = method.output_type.replace(f".{old}.", f".{new}.")
    pool.AddSerializedFile(proto.SerializeToString())
