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

from ingest.kafka.compacted import CompactedLog, VersionedTable, encode_model, model_decoder
from ingest.rules.compile import EMPTY, RuleProgram, compile_rules
from schemas.event_rule import DomainRules, EventRuleError
from schemas.settings import Settings


class EventRulesUnavailable(EventRuleError):
    """Kafka cannot be reached to read or change event rules: retry later."""

    status, code = 503, "ERROR_UNAVAILABLE"


def encode(rules: DomainRules | None) -> bytes | None:
    """A domain's set as a record's value; none or no rules: a tombstone."""
    return encode_model(rules if rules is not None and rules.rules else None)


class EventRuleLog(CompactedLog[DomainRules]):
    """The rules topic in memory, and each domain's compiled program."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            settings.topics.event_rules,
            VersionedTable(model_decoder(DomainRules, lambda rules: rules.domain_id)),
            EventRulesUnavailable,
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
