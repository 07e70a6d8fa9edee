"""The EventRule service (SPEC §10): create, update, change_order, delete, get, list, stat,
the one implementation behind REST (`rest/routes/event_rules.py`) and gRPC
(`grpc/event_rules.py`).

Changes go to the rules topic (`ingest.rules.log`), one record per domain holding its whole
rule set, written on the set it was read from: a change lost to a concurrent one is made
again on the newer set, and a change is all there or not at all (a change_order renumbers
many rules in one record). Every worker reads it within a second. Reads of one rule come
from the topic's in-memory copy; list and stat search the Elasticsearch copy
(`EventRuleStore.write_copies`, kept by the API's mirror), with the events' translator and
stat planner. A rule of another domain is reported as not found, so ids do not leak.

Ordering, as Cloudforet 1.x's service: `order` counts from 1 within the domain's GLOBAL rules
and within each project's rules; create appends; delete closes the gap; change_order moves a
rule to a position that exists and renumbers the rest.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError

from ingest.elasticsearch.copies import versioned, write_copies
from ingest.elasticsearch.indices import ensure_index
from ingest.kafka.compacted import NEW, Version
from ingest.rules.log import EventRuleLog, encode
from query_api.query.elastic import caller_fault, refusal, resolve_filter
from query_api.query.translate import (
    EVENT_RULES,
    MAX_RESULT_WINDOW,
    build_filter,
    scoped,
    translate_sort,
)
from query_api.services.apikeys import domain_scope
from query_api.services.events import run_stat
from query_api.services.webhooks import creating_domain, select_fields
from schemas.apikey import Caller
from schemas.errors import ApiError as CallerError
from schemas.event_rule import (
    DomainRules,
    EventRule,
    EventRuleChangeOrder,
    EventRuleCreate,
    EventRuleInvalid,
    EventRuleNotFound,
    EventRuleQuery,
    EventRuleRequest,
    EventRuleScope,
    EventRuleStatQuery,
    EventRuleUpdate,
    GetEventRuleRequest,
    new_event_rule_id,
)
from schemas.index import EVENT_RULES_INDEX
from schemas.query import Query, QueryError, SortKey

log = logging.getLogger("eventpipe.rules")
WRITE_ATTEMPTS = 10
MAX_RECORD_BYTES = 900_000  # a domain's set is one record: under Kafka's 1 MB default
MINIMAL_FIELDS = ("event_rule_id", "name", "order", "scope", "project_id")
DEFAULT_SORT = [SortKey(key="order")]


class EventRuleStore:
    """The rules topic (in memory) and the rules index: what the service functions use.

    `replicas`: copies of each shard of the index it creates; None: the rules log's
    settings' (`indices.replicas`)."""

    def __init__(
        self, es: AsyncElasticsearch, rules: EventRuleLog, index: str, replicas: int | None = None
    ) -> None:
        self.es = es
        self.log = rules
        self.index = index
        self.replicas = rules.settings.indices.replicas if replicas is None else replicas
        self._ready = False
        # Changes of one domain made through this process go one at a time (another
        # process's still race, and lose and retry, on the topic's version check).
        self.locks: dict[str, asyncio.Lock] = {}

    async def ensure_index(self) -> None:
        if self._ready:
            return
        await ensure_index(self.es, self.index, EVENT_RULES_INDEX, self.replicas)
        # A new index's shard may not be searchable at once on a busy node (whoever made it):
        # wait for it. (A new index's unassigned primary reads "yellow", and a replica may
        # have no second node to go to: wait for the active primary itself.)
        await self.es.cluster.health(index=self.index, wait_for_active_shards="1", timeout="30s")
        self._ready = True

    async def write_copies(self, versions: Mapping[str, Version[DomainRules]]) -> None:
        """Each domain's rules as of its version into the index (a rule its set no longer
        holds deleted); a document written from a newer version is never overwritten."""
        await self.ensure_index()
        operations: list[dict[str, Any]] = []
        for domain_id, version in versions.items():
            kept = {rule.event_rule_id: rule for rule in (version.value or DomainRules(
                domain_id=domain_id)).rules}  # fmt: skip
            for rule_id in await self._indexed_ids(domain_id):
                if rule_id not in kept:
                    operations.append({"delete": versioned(self.index, rule_id, version.offset)})
            for rule_id, rule in kept.items():
                meta = versioned(self.index, rule_id, version.offset)
                operations += [{"index": meta}, rule.model_dump(mode="json")]
        failed = await write_copies(self.es, operations)
        if failed:
            raise RuntimeError(f"{len(failed)} event rule copies refused: {failed[0]}")

    async def _indexed_ids(self, domain_id: str) -> list[str]:
        try:
            found = await self.es.search(
                index=self.index, query={"term": {"domain_id": domain_id}}, size=10_000,
                source=False, sort=[{"event_rule_id": "asc"}],
            )  # fmt: skip
        except NotFoundError:
            return []
        return [hit["_id"] for hit in found["hits"]["hits"]]

    async def copy(self, domain_id: str, version: Version[DomainRules]) -> None:
        """The searchable copy now if Elasticsearch answers; else the mirror writes it later."""
        try:
            await self.write_copies({domain_id: version})
        except Exception as error:  # the change is made (Kafka has it): never fail it here
            log.warning("event rules of %s changed; their searchable copy follows later (%r)",
                        domain_id, error)  # fmt: skip


# ---- changes ----------------------------------------------------------------------------------

Rules = list[EventRule]
Change = Callable[[Rules], tuple[Rules, EventRule | None]]


def renumbered(rules: Rules) -> Rules:
    """Every group (GLOBAL, each project) numbered 1..n in its current order."""
    counters: dict[tuple[EventRuleScope, str | None], int] = {}
    out = []
    for rule in sorted(rules, key=lambda r: (r.order, r.event_rule_id)):
        counters[rule.group] = counters.get(rule.group, 0) + 1
        out.append(rule if rule.order == counters[rule.group]
                   else rule.model_copy(update={"order": counters[rule.group]}))  # fmt: skip
    return out


async def _change(store: EventRuleStore, domain_id: str, change: Change) -> EventRule | None:
    """Read the domain's set, change it, write it on the version read; again when another
    change won. Nothing is written when `change` raises."""
    async with store.locks.setdefault(domain_id, asyncio.Lock()):
        return await _change_once(store, domain_id, change)


async def _change_once(store: EventRuleStore, domain_id: str, change: Change) -> EventRule | None:
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:  # another process's change won: let the writers spread out
            await asyncio.sleep(random.uniform(0, 0.05 * attempt))
        version = await store.log.versioned(domain_id)
        current = list(version.value.rules) if version and version.value else []
        base = version.offset if version and version.value else NEW
        rules, result = change(current)
        new = DomainRules(domain_id=domain_id, rules=renumbered(rules))
        encoded = encode(new)
        if encoded is not None and len(encoded) > MAX_RECORD_BYTES:
            raise EventRuleInvalid(
                f"the domain's event rules would take {len(encoded)} bytes, more than "
                f"{MAX_RECORD_BYTES}: remove rules or make them smaller"
            )
        offset = await store.log.append_rules(domain_id, new, base)
        if offset is None:
            continue
        await store.copy(domain_id, Version(new if new.rules else None, offset))
        if result is None:
            return None
        return next(r for r in new.rules if r.event_rule_id == result.event_rule_id)
    raise CallerError(409, "ERROR_CONFLICT", "the domain's event rules are being changed "
                                             "concurrently; retry")  # fmt: skip


def _find(rules: Rules, event_rule_id: str) -> EventRule:
    for rule in rules:
        if rule.event_rule_id == event_rule_id:
            return rule
    raise EventRuleNotFound(f"event rule {event_rule_id!r} not found")


async def _rule_domain(store: EventRuleStore, event_rule_id: str, domain: str | None) -> str:
    """The domain holding the rule (`domain` when given); EventRuleNotFound otherwise."""
    await store.log.wait_loaded()
    if domain is not None:
        version = store.log.table.get(domain)
        _find(list(version.value.rules) if version and version.value else [], event_rule_id)
        return domain
    for domain_id, version in store.log.table.versions():
        if version.value and any(r.event_rule_id == event_rule_id for r in version.value.rules):
            return domain_id
    raise EventRuleNotFound(f"event rule {event_rule_id!r} not found")


async def create(store: EventRuleStore, caller: Caller, request: EventRuleCreate) -> EventRule:
    """A new rule, last in its group: PROJECT with a project_id, else GLOBAL."""
    domain = creating_domain(caller, request.domain_id)
    project = (request.project_id or "").strip() or None
    made = EventRule(
        event_rule_id=new_event_rule_id(), name=request.name, order=1,
        conditions=request.conditions, conditions_policy=request.conditions_policy,
        actions=request.actions, options=request.options,
        scope=EventRuleScope.PROJECT if project else EventRuleScope.GLOBAL,
        project_id=project, tags=request.tags, domain_id=domain, created_at=datetime.now(UTC),
    )  # fmt: skip

    def append(rules: Rules) -> tuple[Rules, EventRule]:
        last = sum(1 for rule in rules if rule.group == made.group)
        rule = made.model_copy(update={"order": last + 1})
        return [*rules, rule], rule

    created = await _change(store, domain, append)
    assert created is not None
    log.info("event rule %s created in domain %s", created.event_rule_id, domain)
    return created


async def update(store: EventRuleStore, caller: Caller, request: EventRuleUpdate) -> EventRule:
    """Replace the fields given (each whole); order, scope and project stay."""
    domain = await _rule_domain(
        store, request.event_rule_id, domain_scope(caller, request.domain_id)
    )
    changes = request.model_dump(
        exclude_unset=True, exclude={"event_rule_id", "domain_id"}, exclude_none=True
    )

    def replace(rules: Rules) -> tuple[Rules, EventRule]:
        rule = _find(rules, request.event_rule_id)
        updated = EventRule.model_validate({**rule.model_dump(), **changes})
        return [updated if r is rule else r for r in rules], updated

    updated = await _change(store, domain, replace)
    assert updated is not None
    return updated


async def change_order(
    store: EventRuleStore, caller: Caller, request: EventRuleChangeOrder
) -> EventRule:
    """Move a rule to `order` within its group; the others keep their relative order."""
    domain = await _rule_domain(
        store, request.event_rule_id, domain_scope(caller, request.domain_id)
    )

    def move(rules: Rules) -> tuple[Rules, EventRule]:
        target = _find(rules, request.event_rule_id)
        group = sorted((r for r in rules if r.group == target.group),
                       key=lambda r: (r.order, r.event_rule_id))  # fmt: skip
        if request.order > len(group):
            raise EventRuleInvalid(
                f"order: there is no event rule at order {request.order} (the highest is "
                f"{len(group)})"
            )
        others = [r for r in group if r is not target]
        others.insert(request.order - 1, target)
        numbered = {r.event_rule_id: i for i, r in enumerate(others, 1)}
        moved = [r.model_copy(update={"order": numbered[r.event_rule_id]})
                 if r.event_rule_id in numbered else r for r in rules]  # fmt: skip
        return moved, _find(moved, request.event_rule_id)

    moved = await _change(store, domain, move)
    assert moved is not None
    return moved


async def delete(store: EventRuleStore, caller: Caller, request: EventRuleRequest) -> None:
    domain = await _rule_domain(
        store, request.event_rule_id, domain_scope(caller, request.domain_id)
    )

    def remove(rules: Rules) -> tuple[Rules, None]:
        rule = _find(rules, request.event_rule_id)
        return [r for r in rules if r is not rule], None

    await _change(store, domain, remove)
    log.info("event rule %s deleted", request.event_rule_id)


# ---- reads ------------------------------------------------------------------------------------


async def get(store: EventRuleStore, caller: Caller, request: GetEventRuleRequest) -> Any:
    """One rule (EventRule, or a dict of the `only` fields), from the topic's copy."""
    domain = await _rule_domain(
        store, request.event_rule_id, domain_scope(caller, request.domain_id)
    )
    version = store.log.table.get(domain)
    rule = _find(list(version.value.rules) if version and version.value else [],
                 request.event_rule_id)  # fmt: skip
    if request.only:
        return select_fields(rule.model_dump(mode="json"), _only(request.only))
    return rule


def _only(names: list[str]) -> Query:
    return Query(only=names)


async def list_rules(
    store: EventRuleStore, caller: Caller, request: EventRuleQuery, *, now: datetime | None = None
) -> dict[str, Any]:
    """`{results, total_count}` of the rules matching a Query and the exact filters, in
    `order` unless the query sorts."""
    domain = domain_scope(caller, request.domain_id)
    query = request.query
    plan = build_filter(query.filter, query.filter_or, query.keyword,
                        now=now or datetime.now(UTC), searchable=EVENT_RULES)  # fmt: skip
    exact = [{"term": {name: value}} for name, value in request.exact_filters().items()]
    start, limit = query.page.start - 1, query.page.limit or MAX_RESULT_WINDOW
    if query.count_only:
        start, limit = 0, 0
    elif start + limit > MAX_RESULT_WINDOW:
        raise QueryError("ERROR_INVALID_ARGUMENT",
                         f"page beyond the first {MAX_RESULT_WINDOW} event rules")  # fmt: skip
    sort = list(translate_sort(query.sort or DEFAULT_SORT, EVENT_RULES))
    try:
        resolved = await resolve_filter(store.es, store.index, plan, domain_id=domain)
        if exact:
            resolved = {"bool": {"filter": [*exact, resolved]}}
        found = await store.es.search(index=store.index, query=scoped(resolved, domain),
                                      sort=sort, from_=start, size=limit,
                                      track_total_hits=True)  # fmt: skip
    except NotFoundError:  # no rule was ever made
        return {"results": [], "total_count": 0}
    except ApiError as error:
        if not caller_fault(error):
            raise
        raise await refusal(store.es, store.index, error, plan) from error
    total = found["hits"]["total"]["value"]
    if query.count_only:
        return {"results": [], "total_count": total}
    results: list[Any] = []
    for hit in found["hits"]["hits"]:
        rule = EventRule.model_validate(hit["_source"])
        if query.only or query.minimal:
            names = query.only or list(MINIMAL_FIELDS)
            results.append(select_fields(rule.model_dump(mode="json"), _only(names)))
        else:
            results.append(rule)
    return {"results": results, "total_count": total}


async def stat(store: EventRuleStore, caller: Caller, request: EventRuleStatQuery) -> Any:
    """`{results, total_count?}` of a StatisticsQuery over the domain's rules (SPEC §6)."""
    domain = domain_scope(caller, request.domain_id)
    return await run_stat(store.es, store.index, request.query, domain, searchable=EVENT_RULES)
