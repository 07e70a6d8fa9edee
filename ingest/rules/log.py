"""Event rules' source of truth: a compacted Kafka topic, one record per domain holding the
domain's whole rule set (`DomainRules`), read whole and followed by every API process and
worker (`ingest.kafka.compacted`, the mechanism webhooks use).

One record per domain, not per rule: create, update, delete and change_order (which
renumbers several rules) each rewrite the domain's set in one record, guarded by the offset
of the set they were made on, so a change is all there or not at all, and a worker applies
one whole set to an event, never half of a change. A domain's set is compiled
(`ingest.rules.compile`) the first time an event of the domain needs it after a change,
once, and kept until the next change.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from ingest.kafka.compacted import CompactedLog, VersionedTable
from ingest.rules.compile import EMPTY, RuleProgram, compile_rules
from schemas.event_rule import DomainRules, EventRuleError
from schemas.settings import Settings

log = logging.getLogger("eventpipe.rules")


class EventRulesUnavailable(EventRuleError):
    """Kafka cannot be reached to read or change event rules: retry later."""

    status, code = 503, "ERROR_UNAVAILABLE"


def decode(domain_id: str, value: bytes | None) -> DomainRules | None:
    if value is None:
        return None
    try:
        rules = DomainRules.model_validate_json(value)
    except ValidationError as error:  # written by something else: never applied
        log.error("event rules of %s unreadable, treated as none: %s", domain_id, error)
        return None
    return rules if rules.domain_id == domain_id else None


def encode(rules: DomainRules | None) -> bytes | None:
    return None if rules is None or not rules.rules else rules.model_dump_json().encode()


class EventRuleLog(CompactedLog[DomainRules]):
    """The rules topic in memory, and each domain's compiled program."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings, settings.topics.event_rules, VersionedTable(decode), EventRulesUnavailable
        )
        self._programs: dict[str, tuple[int, RuleProgram]] = {}

    def program(self, domain_id: str) -> RuleProgram:
        """The domain's compiled rules as of now (EMPTY: none); compiled once per change."""
        version = self.table.get(domain_id)
        if version is None or version.value is None:
            self._programs.pop(domain_id, None)
            return EMPTY
        cached = self._programs.get(domain_id)
        if cached is not None and cached[0] == version.offset:
            return cached[1]
        program = compile_rules(version.value.rules)
        self._programs[domain_id] = (version.offset, program)
        return program

    async def append_rules(
        self, domain_id: str, rules: DomainRules | None, base: int
    ) -> int | None:
        """Write a domain's new set (None or empty: a tombstone); see `CompactedLog.append`."""
        return await self.append(domain_id, encode(rules), base)


async def open_rules(settings: Settings) -> EventRuleLog:
    """A rules log following the topic, for a process that has none yet (the worker)."""
    rules = EventRuleLog(settings)
    await rules.start()
    return rules
