"""What every gRPC servicer shares: who calls, within which deadline, and how a failure is
answered; and the one round of a unary method, built from the service operation.

A method turns its request message into the JSON REST would receive, validates it with the
model the operation names (`query_api.services.operation`), calls the operation and turns
the answer into Cloudforet's message. The caller's API key comes in metadata `token`
(Cloudforet's convention) or `authorization: Bearer <key>`. Failures become a gRPC status
whose details read `ERROR_…: message`, the code and text REST answers; the code is also in
the trailing metadata `error-code`. A client's deadline bounds the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import grpc
from elasticsearch import AsyncElasticsearch
from google.protobuf import empty_pb2, json_format
from google.protobuf.message import Message

from ingest.intake.admission import Intake
from query_api.grpc.convert import NotJson, request_json
from query_api.services.alerts import AlertBackend
from query_api.services.apikeys import ApiKeyStore, authenticate
from query_api.services.errors import to_api_error
from query_api.services.event_rules import EventRuleStore
from query_api.services.operation import Operation, request_model
from schemas.apikey import Caller
from schemas.errors import ApiError
from schemas.settings import Settings

T = TypeVar("T")
M = TypeVar("M", bound=Message)

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


class ServiceState(Protocol):
    """What the servicers read of the serving process: the HTTP app's state, or any object
    holding the same clients."""

    settings: Settings
    es: AsyncElasticsearch
    keys: ApiKeyStore
    intake: Intake
    alerts: AlertBackend
    event_rules: EventRuleStore


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


async def caller_of(context: grpc.aio.ServicerContext, keys: ApiKeyStore) -> Caller:
    """The caller the request's key names; 401 without a key, as REST."""
    key = api_key(context.invocation_metadata())
    if not key:
        raise ApiError(401, "ERROR_AUTHENTICATE_FAILURE", NO_KEY)
    return await authenticate(keys, key)


async def answer(context: grpc.aio.ServicerContext, work: Callable[[], Awaitable[T]]) -> T:
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


def to_message(answer: Any, kind: type[M]) -> M:
    """A service answer (JSON) as Cloudforet's message; fields it does not declare dropped."""
    return json_format.ParseDict(answer, kind(), ignore_unknown_fields=True)


def to_list(kind: type[M], item: Callable[[Any], Message]) -> Callable[[Any], M]:
    """A list answer, `{results, total_count}`, as `kind` with each result made by `item`."""

    def convert(answer: Any) -> M:
        message = kind(total_count=answer["total_count"])
        message.results.extend(item(result) for result in answer["results"])  # type: ignore[attr-defined]
        return message

    return convert


def empty(answer: Any) -> empty_pb2.Empty:
    """The answer of a delete: nothing."""
    return empty_pb2.Empty()


class Servicer:
    """A servicer over the serving process's state; `backend` is what its service's
    operations work over."""

    def __init__(self, state: ServiceState) -> None:
        self._state = state

    def backend(self) -> Any:
        raise NotImplementedError

    async def caller(self, context: grpc.aio.ServicerContext) -> Caller:
        return await caller_of(context, self._state.keys)


def unary(
    operation: Operation,
    reply: Callable[[Any], M],
    *,
    request: Callable[[Message], dict[str, Any]] = request_json,
    authenticated: bool = True,
) -> Callable[[Servicer, Message, grpc.aio.ServicerContext], Awaitable[M]]:
    """A servicer method calling `operation`: the caller (unless `authenticated` is False),
    `request(message)` validated by the operation's model, the answer as `reply` makes it."""
    model = request_model(operation)

    async def method(self: Servicer, message: Message, context: grpc.aio.ServicerContext) -> M:
        async def work() -> M:
            caller = await self.caller(context) if authenticated else None
            parsed = model.model_validate(request(message))
            return reply(await operation(self.backend(), caller, parsed))

        return await answer(context, work)

    method.__name__ = operation.__name__
    method.__doc__ = operation.__doc__
    return method
