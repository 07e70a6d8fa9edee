"""`spaceone.api.monitoring.v1.Alert` and `.Note` over gRPC: thin faces of
`query_api.services.alerts` and `.notes`, as the Event servicer is of the event service.

Each method is built from the service operation (`query_api.grpc.common.unary`); answers
become Cloudforet's messages (fields eventpipe adds beside Cloudforet's, such as
event_count, are left out of AlertInfo).
"""

from __future__ import annotations

from typing import Any

import grpc
from spaceone.api.monitoring.v1 import alert_pb2, alert_pb2_grpc, note_pb2, note_pb2_grpc

from query_api.grpc.common import Servicer, ServiceState, empty, to_list, to_message, unary
from query_api.grpc.convert import stat_struct
from query_api.services import alerts, notes
from query_api.services.alerts import AlertBackend

ALERT_SERVICE = alert_pb2.DESCRIPTOR.services_by_name["Alert"].full_name
NOTE_SERVICE = note_pb2.DESCRIPTOR.services_by_name["Note"].full_name


def _info(answer: dict[str, Any]) -> alert_pb2.AlertInfo:
    return to_message(answer, alert_pb2.AlertInfo)


def _note(answer: dict[str, Any]) -> note_pb2.NoteInfo:
    return to_message(answer, note_pb2.NoteInfo)


class _OverAlerts(Servicer):
    def backend(self) -> AlertBackend:
        return self._state.alerts


class AlertService(_OverAlerts, alert_pb2_grpc.AlertServicer):
    """The thirteen methods of Cloudforet's Alert service."""

    create = unary(alerts.create, _info)
    update = unary(alerts.update, _info)
    # UNIMPLEMENTED: the no-auth callback of notification links (no key asked for)
    update_state = unary(alerts.update_state, _info, authenticated=False)
    merge = unary(alerts.merge, _info)
    snooze = unary(alerts.snooze, _info)
    add_responder = unary(alerts.add_responder, _info)
    remove_responder = unary(alerts.remove_responder, _info)
    add_project_dependency = unary(alerts.add_project_dependency, _info)
    remove_project_dependency = unary(alerts.remove_project_dependency, _info)
    delete = unary(alerts.delete, empty)
    get = unary(alerts.get, _info)
    list = unary(alerts.list_, to_list(alert_pb2.AlertsInfo, _info))
    stat = unary(alerts.stat, stat_struct)


class NoteService(_OverAlerts, note_pb2_grpc.NoteServicer):
    """The six methods of Cloudforet's Note service."""

    create = unary(notes.create, _note)
    update = unary(notes.update, _note)
    delete = unary(notes.delete, empty)
    get = unary(notes.get, _note)
    list = unary(notes.list_, to_list(note_pb2.NotesInfo, _note))
    stat = unary(notes.stat, stat_struct)


def add_alert_services(server: grpc.aio.Server, state: ServiceState) -> list[str]:
    """Serve Alert and Note on `server`; the names reflection and health list."""
    alert_pb2_grpc.add_AlertServicer_to_server(AlertService(state), server)
    note_pb2_grpc.add_NoteServicer_to_server(NoteService(state), server)
    return [ALERT_SERVICE, NOTE_SERVICE]
