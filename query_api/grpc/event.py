"""`spaceone.api.monitoring.v1.Event` over gRPC: the seed's own service, a thin face of
the same implementation as the HTTP routes (`query_api.services.events`, and for create
`ingest.intake.admission.accept`). Keys, errors and deadlines: `query_api.grpc.common`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import empty_pb2
from spaceone.api.monitoring.v1 import event_pb2, event_pb2_grpc

from ingest.intake.admission import accept
from ingest.intake.limits import read_body
from query_api.grpc.common import Servicer, answer, unary
from query_api.grpc.convert import event_info, events_info, stat_struct, struct_json
from query_api.services import events
from query_api.services.events import EventIndex
from schemas.errors import ApiError


def _events_info(answer: dict[str, Any]) -> event_pb2.EventsInfo:
    return events_info(answer["results"], answer["total_count"])


class EventService(Servicer, event_pb2_grpc.EventServicer):
    """The four methods of the seed's Event service, over the app's shared state."""

    def backend(self) -> EventIndex:
        return EventIndex(self._state.es, self._state.settings.indices.events)

    get = unary(events.get_one, event_info)
    list = unary(events.list_page, _events_info)
    stat = unary(events.stat, stat_struct)

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

        return await answer(context, work)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
