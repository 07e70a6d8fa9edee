"""The rules step (SPEC §10): each parsed event through its domain's event rules, after parse
and before it is keyed for correlation, so a rule's change_project decides the alert the
event joins.

`rules_for(webhook)` picks the compiled function once per record, from the domain's program
as of that moment (`ingest.rules.log.EventRuleLog.program`): every event of a record is
processed under one whole rule set, whatever changes arrive meanwhile. `apply_rules` runs it
on an event document in place (its project_id and additional_info show what the rules did)
and returns what they set for the alert the event may open (urgency, assignee, responders,
project dependencies, no_notification), which travels beside the event to correlation.
"""

from __future__ import annotations

from typing import Any, Protocol

from ingest.rules.compile import RuleFunction, RuleOutcome, RuleProgram
from schemas.webhook import Webhook


class RuleSource(Protocol):
    """Where compiled rules come from: `EventRuleLog` (or a fixed program in tests)."""

    def program(self, domain_id: str) -> RuleProgram: ...


def rules_for(source: RuleSource | None, webhook: Webhook) -> RuleFunction | None:
    """The rules an event of this webhook runs (its project's, then GLOBAL); None: none."""
    if source is None:
        return None
    return source.program(webhook.domain_id).for_project(webhook.project_id)


def apply_rules(doc: dict[str, Any], rules: RuleFunction | None) -> RuleOutcome | None:
    """Run the rules on an event document in place; the alert's share of what they set."""
    if rules is None:
        return None
    return rules(doc) or None
