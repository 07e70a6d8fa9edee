"""Alerts (Cloudforet monitoring v1 `Alert`, SPEC §9): the one implementation behind REST
(`query_api/rest/routes/alerts.py`) and gRPC (`query_api/grpc/alerts.py`).

Reads (get, list, stat) search the alerts index with the translator and stat planner events
use (`ALERTS`), confined to the caller's domain. Writes never touch the alerts index: each
becomes an `AlertChange` record on `events.normalized`, in the partition of the key that
opened the alert, where the worker that owns that key applies it between that key's events
(docs/alerts.md). The API checks the change against the alert first (`apply_change`, the
function the worker applies) and answers a refusal at once; otherwise it waits until the
worker wrote the alert with the change recorded (a real-time get by id), and answers the
alert as the worker left it. `create` takes its number here (`take_numbers`); `delete`
and `merge` also delete the alerts' notes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

from ingest.elasticsearch.alerts import take_numbers
from ingest.kafka.produce import SEND_ERRORS, LazyProducer, partition_for
from ingest.process.alert_changes import (
    ChangeRefused,
    already_applied,
    apply_change,
    encode_change,
)
from ingest.process.normalize import correlation_key
from query_api.query.translate import ALERTS, scoped, source_includes
from query_api.services import notes
from query_api.services.apikeys import domain_scope
from query_api.services.events import list_events, run_stat
from schemas.alert import (
    INTERNAL_FIELDS,
    AlertChange,
    AlertProjectDependencyRequest,
    AlertQuery,
    AlertRequest,
    AlertResponderRequest,
    AlertStatQuery,
    CreateAlertRequest,
    GetAlertRequest,
    MergeAlertRequest,
    SnoozeAlertRequest,
    UpdateAlertRequest,
    UpdateAlertStateRequest,
)
from schemas.apikey import Caller
from schemas.errors import ApiError
from schemas.event import format_timestamp
from schemas.settings import Settings
from schemas.topics import ALERT_CHANGE_FORMAT, HEADER_FORMAT

POLL_FIRST_SECONDS = 0.005
POLL_MAX_SECONDS = 0.1
UPDATE_STATE_MESSAGE = (
    "Alert.update_state is the unauthenticated callback of the links Cloudforet puts in its "
    "alert notifications; eventpipe sends no notifications, so it has no such links: "
    "change the state with Alert.update and an API key"
)


class ChangeProducer:
    """The producer of alert changes (acks=all, idempotent), started on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer = LazyProducer(settings.kafka)

    async def send(self, change: dict[str, Any]) -> None:
        """Return once Kafka has the change, in the partition of its correlation key (the
        partition of that key's events); 503 when Kafka does not take it in time."""
        topic = self._settings.topics.normalized
        key = change["correlation_key"].encode()
        value = encode_change(AlertChange.model_validate(change).model_dump(mode="json"))
        try:
            async with asyncio.timeout(self._settings.ingest.kafka_timeout_seconds):
                producer = await self._producer.get()
                partitions = await producer.partitions_for(topic)
                await producer.send_and_wait(
                    topic, value=value, key=key, partition=partition_for(key, len(partitions)),
                    headers=[(HEADER_FORMAT, ALERT_CHANGE_FORMAT)],
                )  # fmt: skip
        except SEND_ERRORS as error:
            raise ApiError(503, "ERROR_UNAVAILABLE", f"Kafka did not take the change: {error!r}",
                           self._settings.api.retry_after_seconds) from error  # fmt: skip

    async def stop(self) -> None:
        await self._producer.stop()


@dataclass(frozen=True)
class AlertBackend:
    """What the alert and note services work over: settings, Elasticsearch, the producer."""

    es: AsyncElasticsearch
    settings: Settings
    changes: ChangeProducer

    @property
    def index(self) -> str:
        return self.settings.indices.alerts


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now_text() -> str:
    return format_timestamp(datetime.now(UTC))


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """An alert as the API answers it: without what only the worker and the API read."""
    return {name: value for name, value in doc.items() if name not in INTERNAL_FIELDS}


def key_of(doc: dict[str, Any]) -> str:
    """The correlation key an alert's changes are routed by (also for alerts written before
    it was stored: the key of their events)."""
    key = doc.get("correlation_key")
    if key:
        return str(key)
    return correlation_key(doc["domain_id"], doc["project_id"], doc.get("event_key") or "")


def refused(error: ChangeRefused) -> ApiError:
    return ApiError(400, error.code, error.message)


# ---- reads ---------------------------------------------------------------------------------


async def get(b: AlertBackend, caller: Caller, request: GetAlertRequest) -> dict[str, Any]:
    """One alert by id (AlertInfo, or only the requested fields); another domain's alert is
    404, as one that does not exist. A real-time read: the alert as the worker last wrote it."""
    domain = domain_scope(caller, request.domain_id)
    alert = public(await stored(b, request.alert_id, domain))
    includes = source_includes(request.only)
    return alert if includes is None else only(alert, includes)


def only(doc: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The listed fields of a document, dotted keys keeping their nesting."""
    out: dict[str, Any] = {}
    for path in fields:
        parts = path.split(".")
        value: Any = doc
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
        else:
            into = out
            for part in parts[:-1]:
                into = into.setdefault(part, {})
            into[parts[-1]] = value
    return out


async def list_(b: AlertBackend, caller: Caller, request: AlertQuery) -> dict[str, Any]:
    """Alerts matching a Query and AlertQuery's filters: `{results, total_count}`, newest
    first."""
    domain = domain_scope(caller, request.domain_id)
    results, total = await list_events(
        b.es, b.index, request.query, request.exact_filters(), domain, searchable=ALERTS
    )
    return {"results": [public(r) for r in results], "total_count": total}


async def stat(b: AlertBackend, caller: Caller, request: AlertStatQuery) -> dict[str, Any]:
    """A StatisticsQuery over alert fields (e.g. alerts counted by state): `{results,
    total_count?}` (SPEC §6)."""
    domain = domain_scope(caller, request.domain_id)
    answer = await run_stat(b.es, b.index, request.query, domain, searchable=ALERTS)
    answer["results"] = [public(r) if isinstance(r, dict) else r for r in answer["results"]]
    return answer


async def stored(b: AlertBackend, alert_id: str, domain: str | None) -> dict[str, Any]:
    """The alert as the worker last wrote it (a real-time get: no refresh to wait for)."""
    try:
        response = await b.es.get(index=b.index, id=alert_id)
    except NotFoundError:
        response = None
    doc = response["_source"] if response is not None else None
    if doc is None or (domain is not None and doc.get("domain_id") != domain):
        raise ApiError(404, "ERROR_NOT_FOUND", f"alert {alert_id!r} not found")
    return dict(doc)


# ---- changes -------------------------------------------------------------------------------


def _change(caller: Caller, method: str, alert: dict[str, Any], params: dict[str, Any]) -> dict:
    return {
        "change_id": new_id("change"), "method": method, "alert_id": alert["alert_id"],
        "domain_id": alert["domain_id"], "correlation_key": key_of(alert), "at": now_text(),
        "by": caller.key_id, "params": params,
    }  # fmt: skip


async def _apply(b: AlertBackend, change: dict[str, Any]) -> dict[str, Any] | None:
    """Send a change to the worker that owns the alert; the alert once it is applied (None
    once a delete is). A change the worker refused is answered as its error."""
    await b.changes.send(change)
    deadline = b.settings.api.alert_change_timeout_seconds
    pause = POLL_FIRST_SECONDS
    try:
        async with asyncio.timeout(deadline):
            while True:
                try:
                    doc = (await b.es.get(index=b.index, id=change["alert_id"]))["_source"]
                except NotFoundError:
                    doc = None
                if doc is None and change["method"] == "delete":
                    return None
                if doc is None and change["method"] != "create":
                    missing = f"alert {change['alert_id']!r} not found"
                    raise ApiError(404, "ERROR_NOT_FOUND", missing)
                applied = already_applied(doc, change["change_id"]) if doc else None
                if applied is not None:
                    if applied.get("error"):
                        code, message = applied["error"]
                        raise ApiError(400, code, message)
                    return dict(doc)
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, POLL_MAX_SECONDS)
    except TimeoutError:
        raise ApiError(
            503, "ERROR_UNAVAILABLE",
            f"the worker has not applied change {change['change_id']} within {deadline:g} s; "
            "it is queued and will apply when the worker catches up",
            b.settings.api.retry_after_seconds,
        ) from None  # fmt: skip


async def _changed(
    b: AlertBackend, caller: Caller, alert_id: str, domain_id: str | None, method: str,
    params: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    domain = domain_scope(caller, domain_id)
    alert = await stored(b, alert_id, domain)
    change = _change(caller, method, alert, params)
    try:
        apply_change(alert, change)  # refused now rather than after a round trip
    except ChangeRefused as error:
        raise refused(error) from None
    done = await _apply(b, change)
    assert done is not None
    return public(done)


def _params(request: Any, *drop: str) -> dict[str, Any]:
    return request.model_dump(mode="json", exclude_none=True, exclude={"domain_id", *drop})


async def create(b: AlertBackend, caller: Caller, request: CreateAlertRequest) -> dict[str, Any]:
    """A new TRIGGERED alert by a person (triggered_by: the caller's key id)."""
    domain = domain_scope(caller, request.domain_id)
    if domain is None:
        raise ApiError(400, "ERROR_REQUIRED_PARAMETER", "domain_id: an admin key must name one")
    alert_id = new_id("alert")
    (number,) = await take_numbers(b.es, b.settings.indices.alert_numbers, domain, 1)
    at = now_text()
    alert = {
        "alert_number": number, "alert_id": alert_id, "title": request.title,
        "state": "TRIGGERED", "status_message": None, "description": request.description,
        "assignee": request.assignee, "urgency": (request.urgency or "HIGH"),
        "severity": "NONE", "rule": None, "resource": None, "provider": None, "account": None,
        "is_snoozed": False, "snoozed_end_time": None, "escalation_step": 1,
        "escalation_ttl": 0, "responders": [], "project_dependencies": [], "image_url": None,
        "additional_info": {}, "triggered_by": caller.key_id, "webhook_id": None,
        "escalation_policy_id": None, "project_id": request.project_id, "domain_id": domain,
        "created_at": at, "updated_at": at, "acknowledged_at": None, "resolved_at": None,
        "escalated_at": None, "event_key": None, "first_event_at": None,
        "last_event_at": None, "event_count": 0,
        # its own key: no event shares it, so events never attach to it
        "correlation_key": correlation_key(domain, request.project_id, "\x1e" + alert_id),
        "changes": [],
    }  # fmt: skip
    change = _change(caller, "create", alert, {})
    change["alert"] = alert
    done = await _apply(b, change)
    assert done is not None
    return public(done)


async def _requested(b: AlertBackend, caller: Caller, request: Any, method: str) -> dict[str, Any]:
    """The change `method` with the request's fields (but the alert's id) as its params."""
    params = _params(request, "alert_id")
    return await _changed(b, caller, request.alert_id, request.domain_id, method, params)


async def update(b: AlertBackend, caller: Caller, request: UpdateAlertRequest) -> dict[str, Any]:
    """Change state (TRIGGERED, ACKNOWLEDGED, RESOLVED), title, description, assignee,
    urgency, status_message, project_id; reset_* empty a field."""
    return await _requested(b, caller, request, "update")


async def snooze(b: AlertBackend, caller: Caller, request: SnoozeAlertRequest) -> dict[str, Any]:
    try:
        end = datetime.fromisoformat(request.end_time.strip().replace("Z", "+00:00"))
    except ValueError:
        message = f"end_time: {request.end_time!r} is not an ISO-8601 time"
        raise ApiError(400, "ERROR_INVALID_ARGUMENT", message) from None
    params = {"end_time": format_timestamp(end if end.tzinfo else end.replace(tzinfo=UTC))}
    return await _changed(b, caller, request.alert_id, request.domain_id, "snooze", params)


async def add_responder(
    b: AlertBackend, caller: Caller, request: AlertResponderRequest
) -> dict[str, Any]:
    return await _requested(b, caller, request, "add_responder")


async def remove_responder(
    b: AlertBackend, caller: Caller, request: AlertResponderRequest
) -> dict[str, Any]:
    return await _requested(b, caller, request, "remove_responder")


async def add_project_dependency(
    b: AlertBackend, caller: Caller, request: AlertProjectDependencyRequest
) -> dict[str, Any]:
    return await _requested(b, caller, request, "add_project_dependency")


async def remove_project_dependency(
    b: AlertBackend, caller: Caller, request: AlertProjectDependencyRequest
) -> dict[str, Any]:
    return await _requested(b, caller, request, "remove_project_dependency")


async def _delete_alerts(b: AlertBackend, caller: Caller, alerts: Iterable[dict]) -> None:
    """Delete alerts through their workers, then their notes (their events stay)."""
    alerts = list(alerts)
    await asyncio.gather(*(_apply(b, _change(caller, "delete", a, {})) for a in alerts))
    await notes.delete_of_alerts(b, [a["alert_id"] for a in alerts])


async def delete(b: AlertBackend, caller: Caller, request: AlertRequest) -> dict[str, Any]:
    """Remove the alert and its notes (its events keep their alert_id: they are history):
    `{}`."""
    domain = domain_scope(caller, request.domain_id)
    await _delete_alerts(b, caller, [await stored(b, request.alert_id, domain)])
    return {}


async def merge(b: AlertBackend, caller: Caller, request: MergeAlertRequest) -> dict[str, Any]:
    """Cloudforet's merge: the events of `alerts` move to `merge_to`, the other alerts (and
    their notes) are deleted; `merge_to` is answered as it is."""
    domain = domain_scope(caller, request.domain_id)
    if request.merge_to not in request.alerts:
        message = f"Alert does not exist in merge list. (alert_id = {request.merge_to})"
        raise ApiError(400, "ERROR_MERGE_ALERT_NOT_EXIST", message)
    target = await stored(b, request.merge_to, domain)
    others = [a for a in dict.fromkeys(request.alerts) if a != request.merge_to]
    # An admin key sees every domain: the alerts merged must all be merge_to's domain's.
    merged = [await stored(b, alert_id, target["domain_id"]) for alert_id in others]
    if merged:
        # Deleted first: no event of theirs is correlated to them after this.
        await _delete_alerts(b, caller, merged)
        await _move_events(b, target["domain_id"], others, request.merge_to)
    return public(target)


MOVE_PAGE = 1000


async def _move_events(b: AlertBackend, domain: str, alert_ids: list[str], to: str) -> None:
    """Give the events of `alert_ids` the alert id `to` (partial updates: no script)."""
    events = b.settings.indices.events
    query = scoped({"terms": {"alert_id": alert_ids}}, domain)
    while True:
        await b.es.indices.refresh(index=events, ignore_unavailable=True, allow_no_indices=True)
        response = await b.es.search(index=events, query=query, size=MOVE_PAGE, source=False,
                                     ignore_unavailable=True, allow_no_indices=True)  # fmt: skip
        hits = response["hits"]["hits"]
        operations: list[dict[str, Any]] = []
        for hit in hits:
            operations += [{"update": {"_index": hit["_index"], "_id": hit["_id"]}},
                           {"doc": {"alert_id": to}}]  # fmt: skip
        if operations:
            await b.es.bulk(operations=operations)
        if len(hits) < MOVE_PAGE:
            await b.es.indices.refresh(index=events, ignore_unavailable=True,
                                       allow_no_indices=True)  # fmt: skip
            return


async def update_state(
    b: AlertBackend, caller: Caller | None, request: UpdateAlertStateRequest
) -> dict[str, Any]:
    """Not provided (501 ERROR_NOT_IMPLEMENTED): the no-auth callback of notification links
    (UPDATE_STATE_MESSAGE says why)."""
    raise ApiError(501, "ERROR_NOT_IMPLEMENTED", UPDATE_STATE_MESSAGE)
