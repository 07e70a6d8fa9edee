"""A small reading of SPEC §10, to check the rule compiler against. Written from the spec
(and the choices `ingest/rules/compile.py`'s docstring states where it is silent), not from
the compiler: it interprets the rules one by one, as the words say.

- Rules of the event's project (the webhook's, as the event arrives) run first, in `order`,
  then the GLOBAL rules in `order`; a matching rule with stop_processing ends the run.
- A rule matches: ALWAYS; ALL when every condition holds; ANY when one does.
- A condition reads the event's value at its key (`resource_id`/`resource_type`/
  `resource_name` are `resource.*`); numbers and booleans in additional_info read as JSON
  text; a missing value, null, an object or a list satisfies no condition.
- eq / not compare exactly; contain / not_contain compare lower-cased substrings.
- Actions in the order change_project, change_assignee, change_urgency,
  add_project_dependency, add_responder, add_additional_info, no_notification.
"""

from __future__ import annotations

import copy
import json
from typing import Any

ALIASES = {"resource_id": "resource.resource_id", "resource_type": "resource.resource_type",
           "resource_name": "resource.name"}  # fmt: skip


def _value(event: dict[str, Any], key: str) -> str | None:
    key = ALIASES.get(key, key)
    if key.startswith("additional_info."):
        parts = ["additional_info", key[len("additional_info.") :]]
    else:
        parts = key.split(".")
    value: Any = event
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return value if isinstance(value, str) else None


def holds(event: dict[str, Any], condition: dict[str, Any]) -> bool:
    value = _value(event, condition["key"])
    if value is None:
        return False
    wanted, operator = condition["value"], condition["operator"]
    if operator == "eq":
        return value == wanted
    if operator == "not":
        return value != wanted
    if operator == "contain":
        return wanted.lower() in value.lower()
    return wanted.lower() not in value.lower()


def matches(event: dict[str, Any], rule: dict[str, Any]) -> bool:
    policy = rule["conditions_policy"]
    if policy == "ALWAYS":
        return True
    results = [holds(event, condition) for condition in rule.get("conditions", [])]
    return all(results) if policy == "ALL" else any(results)


def evaluate(
    rules: list[dict[str, Any]], event: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the event after the rules, what they set for its alert)."""
    event = copy.deepcopy(event)
    project = event["project_id"]
    mine = [r for r in rules if r["scope"] == "PROJECT" and r["project_id"] == project]
    everyone = [r for r in rules if r["scope"] == "GLOBAL"]
    by_order = lambda r: (r["order"], r["event_rule_id"])  # noqa: E731
    alert: dict[str, Any] = {}
    for rule in sorted(mine, key=by_order) + sorted(everyone, key=by_order):
        if not matches(event, rule):
            continue
        actions = rule.get("actions", {})
        if actions.get("change_project"):
            event["project_id"] = actions["change_project"]
        if actions.get("change_assignee"):
            alert["assignee"] = actions["change_assignee"]
        if actions.get("change_urgency"):
            alert["urgency"] = actions["change_urgency"]
        for dependency in actions.get("add_project_dependency", []):
            alert.setdefault("project_dependencies", [])
            if dependency not in alert["project_dependencies"]:
                alert["project_dependencies"].append(dependency)
        for responder in actions.get("add_responder", []):
            alert.setdefault("responders", [])
            if responder not in alert["responders"]:
                alert["responders"].append(responder)
        event["additional_info"].update(actions.get("add_additional_info", {}))
        if actions.get("no_notification"):
            alert["no_notification"] = True
        if rule.get("options", {}).get("stop_processing"):
            break
    return event, alert
