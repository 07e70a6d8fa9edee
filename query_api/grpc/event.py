"""`spaceone.api.monitoring.v1.Event` over gRPC: the seed's own service, a thin face of the
same implementation as the HTTP routes.

Each method turns its request message into the JSON REST would receive, validates it with
the same model, calls the same service (`query_api.services.events`,
`ingest.intake.admission.accept`) and turns the answer into the seed's message. The
caller's API key comes in metadata `token` (Cloudforet's convention) or `authorization:
Bearer <key>`. Failures become a gRPC
status whose details read `ERROR_…: message`, the code and text REST answers; the code is
also in the trailing metadata `error-code`. A client's deadline bounds the work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import grpc
from elasticsearch import AsyncElasticsearch
from google.protobuf import empty_pb2, struct_pb2
from spaceone.api.monitoring.v1 import event_pb2, event_pb2_grpc

from ingest.intake.admission import Intake, accept
from ingest.intake.limits import read_body
from query_api.grpc.convert import (
    NotJson,
    event_info,
    events_info,
    request_json,
    stat_struct,
    struct_json,
)
from query_api.services import events
from query_api.services.apikeys import ApiKeyStore, authenticate
from query_api.services.errors import to_api_error
from schemas.apikey import Caller
from schemas.errors import ApiError
from schemas.messages import EventQuery, EventStatQuery, GetEventRequest
from schemas.settings import Settings

T = TypeVar("T")

STATUS_BY_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
# Codes whose meaning a gRPC status says better than the HTTP status they share.
STATUS_BY_CODE = {"ERROR_WEBHOOK_STATE_DISABLED": grpc.StatusCode.FAILED_PRECONDITION}
NO_KEY = "send the API key in metadata `token` or `authorization: Bearer <api key>`"


def grpc_status(error: ApiError) -> grpc.StatusCode:
    """The gRPC status for an error the API answers (HTTP status and ERROR_ code)."""
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    if error.status in STATUS_BY_HTTP:
        return STATUS_BY_HTTP[error.status]
    return grpc.StatusCode.INTERNAL if error.status >= 500 else grpc.StatusCode.INVALID_ARGUMENT


def api_key(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    """The API key from `token` or `authorization: Bearer …` metadata; "" when absent."""
    values = {key.lower(): value for key, value in metadata or () if isinstance(value, str)}
    if token := values.get("token", "").strip():
        return token
    scheme, _, key = values.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


class ServiceState(Protocol):
    """What the servicer reads of the serving process: the HTTP app's state, or any object
    holding the same clients."""

    settings: Settings
    es: AsyncElasticsearch
    keys: ApiKeyStore
    intake: Intake


class EventService(event_pb2_grpc.EventServicer):
    """The four methods of the seed's Event service, over the app's shared state."""

    def __init__(self, state: ServiceState) -> None:
        self._state = state

    async def create(
        self, request: event_pb2.CreateEventRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        """CreateEventRequest onto `events.raw`, through the HTTP intake's own path."""

        async def work() -> empty_pb2.Empty:
            if not request.HasField("data"):
                raise ApiError(
                    400, "ERROR_INVALID_ARGUMENT", "the body must be {webhook_id, access_key, data}"
                )
            data = json.dumps(struct_json(request.data), ensure_ascii=False,
                              separators=(",", ":")).encode()  # fmt: skip
            body = await read_body(_once(data), None, self._state.settings.ingest.max_body_bytes)
            await accept(self._state.intake, request.webhook_id, request.access_key, body)
            return empty_pb2.Empty()

        return await self._answer(context, work)

    async def get(
        self, request: event_pb2.GetEventRequest, context: grpc.aio.ServicerContext
    ) -> event_pb2.EventInfo:
        """One event by id, as REST's get."""

        async def work() -> event_pb2.EventInfo:
            caller = await self._caller(context)
            query = GetEventRequest.model_validate(request_json(request))
            return event_info(await events.get_one(self._es, self._index, caller, query))

        return await self._answer(context, work)

    async def list(
        self, request: event_pb2.EventQuery, context: grpc.aio.ServicerContext
    ) -> event_pb2.EventsInfo:
        """A page of events and the total, as REST's list."""

        async def work() -> event_pb2.EventsInfo:
            caller = await self._caller(context)
            query = EventQuery.model_validate(request_json(request))
            answer = await events.list_page(self._es, self._index, caller, query)
            return events_info(answer["results"], answer["total_count"])

        return await self._answer(context, work)

    async def stat(
        self, request: event_pb2.EventStatQuery, context: grpc.aio.ServicerContext
    ) -> struct_pb2.Struct:
        """`{results, total_count?}` as a Struct, as REST's stat."""

        async def work() -> struct_pb2.Struct:
            caller = await self._caller(context)
            query = EventStatQuery.model_validate(request_json(request))
            return stat_struct(await events.stat(self._es, self._index, caller, query))

        return await self._answer(context, work)

    @property
    def _es(self) -> AsyncElasticsearch:
        return self._state.es

    @property
    def _index(self) -> str:
        return self._state.settings.indices.events

    async def _caller(self, context: grpc.aio.ServicerContext) -> Caller:
        key = api_key(context.invocation_metadata())
        if not key:
            raise ApiError(401, "ERROR_AUTHENTICATE_FAILURE", NO_KEY)
        return await authenticate(self._state.keys, key)

    async def _answer(
        self, context: grpc.aio.ServicerContext, work: Callable[[], Awaitable[T]]
    ) -> T:
        """`work()`'s answer within the client's deadline, or the status its failure maps to."""
        deadline = asyncio.timeout(context.time_remaining())
        try:
            async with deadline:
                return await work()
        except Exception as error:
            if deadline.expired():
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed")
            failure = (
                ApiError(400, "ERROR_INVALID_ARGUMENT", str(error))
                if isinstance(error, NotJson)
                else to_api_error(error)
            )
        await context.abort(
            grpc_status(failure),
            f"{failure.code}: {failure.message}",
            trailing_metadata=(("error-code", failure.code),),
        )
        raise AssertionError("unreachable: abort raises")


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
