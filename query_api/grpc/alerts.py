"""`spaceone.api.monitoring.v1.Alert` and `.Note` over gRPC: thin faces of
`query_api.services.alerts` and `.notes`, as the Event servicer is of the event service.

Each method turns its request message into the JSON REST receives, validates it with the
same model, calls the same service function and turns the answer into Cloudforet's message
(fields eventpipe adds beside Cloudforet's, such as event_count, are left out of AlertInfo).
Keys, errors and deadlines are handled as for Event (`query_api.grpc.event`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from google.protobuf.message import Message
from pydantic import BaseModel
from spaceone.api.monitoring.v1 import alert_pb2, alert_pb2_grpc, note_pb2, note_pb2_grpc

from query_api.grpc.convert import request_json, stat_struct
from query_api.grpc.event import EventService
from query_api.services import alerts, notes
from schemas.alert import (
    AlertProjectDependencyRequest,
    AlertQuery,
    AlertRequest,
    AlertResponderRequest,
    AlertStatQuery,
    CreateAlertRequest,
    CreateNoteRequest,
    GetAlertRequest,
    GetNoteRequest,
    MergeAlertRequest,
    NoteQuery,
    NoteRequest,
    NoteStatQuery,
    SnoozeAlertRequest,
    UpdateAlertRequest,
    UpdateAlertStateRequest,
    UpdateNoteRequest,
)

M = TypeVar("M", bound=Message)
ALERT_SERVICE = alert_pb2.DESCRIPTOR.services_by_name["Alert"].full_name
NOTE_SERVICE = note_pb2.DESCRIPTOR.services_by_name["Note"].full_name


def to_message(answer: dict[str, Any], kind: type[M]) -> M:
    """A service answer (JSON) as Cloudforet's message; fields it does not declare dropped."""
    return json_format.ParseDict(answer, kind(), ignore_unknown_fields=True)


def to_list(answer: dict[str, Any], kind: type[M], item: type[Message]) -> M:
    message = kind(total_count=answer["total_count"])
    for result in answer["results"]:
        message.results.append(to_message(result, item))  # type: ignore[attr-defined]
    return message


class _Face:
    """The request -> service -> message round of every method, on the app's shared state."""

    _caller = EventService._caller
    _answer = EventService._answer

    def __init__(self, state: Any) -> None:
        self._state = state

    async def _call(
        self,
        request: Message,
        context: grpc.aio.ServicerContext,
        model: type[BaseModel],
        service: Callable[..., Awaitable[dict[str, Any]]],
        answer: Callable[[dict[str, Any]], M],
    ) -> M:
        async def work() -> M:
            caller = await self._caller(context)
            parsed = model.model_validate(request_json(request))
            return answer(await service(self._state.alerts, caller, parsed))

        return await self._answer(context, work)


def _info(answer: dict[str, Any]) -> alert_pb2.AlertInfo:
    return to_message(answer, alert_pb2.AlertInfo)


def _empty(answer: dict[str, Any]) -> empty_pb2.Empty:
    return empty_pb2.Empty()


class AlertService(_Face, alert_pb2_grpc.AlertServicer):
    """The thirteen methods of Cloudforet's Alert service."""

    async def create(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        return await self._call(request, context, CreateAlertRequest, alerts.create, _info)

    async def update(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        return await self._call(request, context, UpdateAlertRequest, alerts.update, _info)

    async def update_state(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        """UNIMPLEMENTED: the no-auth callback of notification links (no key asked for)."""

        async def work() -> alert_pb2.AlertInfo:
            parsed = UpdateAlertStateRequest.model_validate(request_json(request))
            return _info(await alerts.update_state(self._state.alerts, None, parsed))

        return await self._answer(context, work)

    async def merge(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        return await self._call(request, context, MergeAlertRequest, alerts.merge, _info)

    async def snooze(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        return await self._call(request, context, SnoozeAlertRequest, alerts.snooze, _info)

    async def add_responder(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        return await self._call(request, context, AlertResponderRequest, alerts.add_responder,
                                _info)  # fmt: skip

    async def remove_responder(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        return await self._call(request, context, AlertResponderRequest,
                                alerts.remove_responder, _info)  # fmt: skip

    async def add_project_dependency(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        return await self._call(request, context, AlertProjectDependencyRequest,
                                alerts.add_project_dependency, _info)  # fmt: skip

    async def remove_project_dependency(
        self, request: Message, context: Any
    ) -> alert_pb2.AlertInfo:
        return await self._call(request, context, AlertProjectDependencyRequest,
                                alerts.remove_project_dependency, _info)  # fmt: skip

    async def delete(self, request: Message, context: Any) -> empty_pb2.Empty:
        return await self._call(request, context, AlertRequest, alerts.delete, _empty)

    async def get(self, request: Message, context: Any) -> alert_pb2.AlertInfo:
        return await self._call(request, context, GetAlertRequest, alerts.get, _info)

    async def list(self, request: Message, context: Any) -> alert_pb2.AlertsInfo:
        return await self._call(
            request, context, AlertQuery, alerts.list_,
            lambda a: to_list(a, alert_pb2.AlertsInfo, alert_pb2.AlertInfo),
        )  # fmt: skip

    async def stat(self, request: Message, context: Any) -> struct_pb2.Struct:
        return await self._call(request, context, AlertStatQuery, alerts.stat, stat_struct)


def _note(answer: dict[str, Any]) -> note_pb2.NoteInfo:
    return to_message(answer, note_pb2.NoteInfo)


class NoteService(_Face, note_pb2_grpc.NoteServicer):
    """The six methods of Cloudforet's Note service."""

    async def create(self, request: Message, context: Any) -> note_pb2.NoteInfo:
        return await self._call(request, context, CreateNoteRequest, notes.create, _note)

    async def update(self, request: Message, context: Any) -> note_pb2.NoteInfo:
        return await self._call(request, context, UpdateNoteRequest, notes.update, _note)

    async def delete(self, request: Message, context: Any) -> empty_pb2.Empty:
        return await self._call(request, context, NoteRequest, notes.delete, _empty)

    async def get(self, request: Message, context: Any) -> note_pb2.NoteInfo:
        return await self._call(request, context, GetNoteRequest, notes.get, _note)

    async def list(self, request: Message, context: Any) -> note_pb2.NotesInfo:
        return await self._call(
            request, context, NoteQuery, notes.list_,
            lambda a: to_list(a, note_pb2.NotesInfo, note_pb2.NoteInfo),
        )  # fmt: skip

    async def stat(self, request: Message, context: Any) -> struct_pb2.Struct:
        return await self._call(request, context, NoteStatQuery, notes.stat, stat_struct)


def add_alert_services(server: grpc.aio.Server, state: Any) -> list[str]:
    """Serve Alert and Note on `server`; the names reflection and health list."""
    alert_pb2_grpc.add_AlertServicer_to_server(AlertService(state), server)
    note_pb2_grpc.add_NoteServicer_to_server(NoteService(state), server)
    return [ALERT_SERVICE, NOTE_SERVICE]
