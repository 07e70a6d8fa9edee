"""The rule compiler: table-driven cases, bad rules, and random rule sets against the
reference reading of SPEC §10 (`tests/reference/rule_eval.py`)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ingest.parsers.registry import get_parser
from ingest.process.normalize import (
    correlation_key,
    decode_events,
    encode_events,
    to_events,
)
from ingest.rules.compile import compile_rules
from schemas.event_rule import DomainRules, EventRule, EventRuleCreate
from tests.reference.rule_eval import evaluate

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def rule(number: int = 1, **fields: Any) -> dict[str, Any]:
    base = {"event_rule_id": f"event-rule-{number:012x}", "order": number, "domain_id": "d",
            "scope": "GLOBAL", "conditions_policy": "ALL", "conditions": [], "actions": {},
            "created_at": NOW}  # fmt: skip
    if fields.get("project_id"):
        base["scope"] = "PROJECT"
    return {**base, **fields}


def event(**fields: Any) -> dict[str, Any]:
    base = {"event_id": "event-1", "event_key": "k", "event_type": "ALERT", "title": "Disk full",
            "description": "", "severity": "CRITICAL", "rule": "", "provider": "prometheus",
            "account": "", "image_url": "", "occurred_at": None,
            "resource": {"resource_id": "i-1", "resource_type": "instance", "name": "web-1"},
            "additional_info": {"env": "prod", "replicas": 3, "canary": True, "nested": {"a": 1}},
            "raw_data": {}, "alert_id": "", "webhook_id": "webhook-1", "project_id": "p1",
            "domain_id": "d", "created_at": "2026-01-01T00:00:00.000Z"}  # fmt: skip
    return {**base, **fields}


def run(rules: list[dict[str, Any]], doc: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    program = compile_rules([EventRule.model_validate(r) for r in rules])
    function = program.for_project(doc["project_id"])
    doc = copy.deepcopy(doc)
    outcome = function(doc) if function else {}
    return doc, outcome


def cond(key: str, value: str, operator: str = "eq") -> dict[str, str]:
    return {"key": key, "value": value, "operator": operator}


CONDITIONS = [
    (cond("title", "Disk full"), True),
    (cond("title", "disk full"), False),  # eq is case-sensitive
    (cond("title", "DISK", "contain"), True),
    (cond("title", "cpu", "contain"), False),
    (cond("title", "cpu", "not_contain"), True),
    (cond("title", "FULL", "not_contain"), False),
    (cond("severity", "INFO", "not"), True),
    (cond("severity", "CRITICAL", "not"), False),
    (cond("resource_name", "web-1"), True),  # Cloudforet 1.x's name
    (cond("resource.name", "WEB", "contain"), True),
    (cond("resource_id", "i-1"), True),
    (cond("additional_info.env", "prod"), True),
    (cond("additional_info.replicas", "3"), True),  # a number reads as its JSON text
    (cond("additional_info.canary", "true"), True),
    (cond("additional_info.missing", "x", "not"), False),  # missing matches nothing
    (cond("additional_info.missing", "x", "not_contain"), False),
    (cond("additional_info.nested", "x", "not"), False),  # an object matches nothing
    (cond("occurred_at", "x", "not"), False),  # null matches nothing
    (cond("webhook_id", "webhook-1"), True),
]


@pytest.mark.parametrize(("condition", "expected"), CONDITIONS)
def test_each_operator(condition: dict[str, str], expected: bool) -> None:
    rules = [rule(conditions=[condition], actions={"change_assignee": "bob"})]
    _, outcome = run(rules, event())
    assert (outcome.get("assignee") == "bob") is expected


@pytest.mark.parametrize(
    ("policy", "conditions", "expected"),
    [
        ("ALL", [cond("title", "disk", "contain"), cond("severity", "CRITICAL")], True),
        ("ALL", [cond("title", "disk", "contain"), cond("severity", "INFO")], False),
        ("ANY", [cond("title", "cpu", "contain"), cond("severity", "CRITICAL")], True),
        ("ANY", [cond("title", "cpu", "contain"), cond("severity", "INFO")], False),
        ("ANY", [], False),
        ("ALL", [], True),
        ("ALWAYS", [], True),
        ("ALWAYS", [cond("severity", "INFO")], True),  # conditions are not read
    ],
)
def test_policies(policy: str, conditions: list[dict], expected: bool) -> None:
    rules = [rule(conditions_policy=policy, conditions=conditions,
                  actions={"change_urgency": "LOW"})]  # fmt: skip
    _, outcome = run(rules, event())
    assert (outcome.get("urgency") == "LOW") is expected


def test_every_action() -> None:
    responder = {"resource_type": "identity.User", "resource_id": "bob"}
    actions = {"change_project": "p9", "change_assignee": "alice", "change_urgency": "LOW",
               "add_project_dependency": ["p7"], "add_responder": [responder],
               "add_additional_info": {"team": "storage"}, "no_notification": True}  # fmt: skip
    doc, outcome = run([rule(conditions_policy="ALWAYS", actions=actions)], event())
    assert doc["project_id"] == "p9"
    assert doc["additional_info"]["team"] == "storage"
    assert doc["additional_info"]["env"] == "prod"  # merged, not replaced
    assert outcome == {"assignee": "alice", "urgency": "LOW", "project_dependencies": ["p7"],
                       "responders": [responder], "no_notification": True}  # fmt: skip


def test_a_later_rule_sees_what_an_earlier_one_did() -> None:
    rules = [
        rule(1, conditions=[cond("title", "disk", "contain")],
             actions={"change_project": "p2", "add_additional_info": {"team": "storage"}}),
        rule(2, conditions=[cond("project_id", "p2"), cond("additional_info.team", "STOR",
                                                             "contain")],
             actions={"change_assignee": "carol"}),
    ]  # fmt: skip
    doc, outcome = run(rules, event())
    assert (doc["project_id"], outcome["assignee"]) == ("p2", "carol")


def test_order_and_stop_processing() -> None:
    rules = [
        rule(2, conditions_policy="ALWAYS", actions={"change_assignee": "second"}),
        rule(1, conditions_policy="ALWAYS", actions={"change_assignee": "first"},
             options={"stop_processing": True}),
    ]  # fmt: skip
    _, outcome = run(rules, event())
    assert outcome["assignee"] == "first"  # order 1 ran first, and stopped the run
    rules[1]["options"] = {"stop_processing": False}
    _, outcome = run(rules, event())
    assert outcome["assignee"] == "second"


def test_project_rules_run_before_global_ones_and_only_for_their_project() -> None:
    rules = [
        rule(1, conditions_policy="ALWAYS", actions={"add_additional_info": {"by": "global"}}),
        rule(2, project_id="p1", order=1, conditions_policy="ALWAYS",
             actions={"add_additional_info": {"by": "project"}, "change_urgency": "LOW"}),
        rule(3, project_id="p2", order=1, conditions_policy="ALWAYS",
             actions={"change_assignee": "never"}),
    ]  # fmt: skip
    doc, outcome = run(rules, event())
    assert doc["additional_info"]["by"] == "global"  # the GLOBAL rule ran last
    assert outcome == {"urgency": "LOW"}
    doc, outcome = run(rules, event(project_id="p3"))
    assert doc["additional_info"]["by"] == "global" and outcome == {}


def test_project_rules_follow_the_webhook_project_not_a_changed_one() -> None:
    rules = [
        rule(1, project_id="p1", conditions_policy="ALWAYS", actions={"change_project": "p2"}),
        rule(2, project_id="p2", order=1, conditions_policy="ALWAYS",
             actions={"change_assignee": "p2-rule"}),
    ]  # fmt: skip
    doc, outcome = run(rules, event())
    assert doc["project_id"] == "p2" and "assignee" not in outcome


def test_rules_run_on_the_documents_the_parse_step_builds() -> None:
    """event_type and severity are StrEnums there, not plain strings."""
    rules = [rule(conditions=[cond("severity", "CRITICAL"), cond("event_type", "ALERT"),
                              cond("severity", "info", "not_contain")],
                  actions={"change_project": "p2", "change_urgency": "LOW"})]  # fmt: skip
    program = compile_rules([EventRule.model_validate(r) for r in rules])
    parsed = get_parser("standard")({"event_key": "k", "severity": "CRITICAL"}, {})
    (made,) = to_events(parsed, payload={}, origin="t:0:1", created_at=NOW,
                        webhook_id="webhook-1", project_id="p1", domain_id="d",
                        rules=program.for_project("p1"))  # fmt: skip
    assert made.key == correlation_key("d", "p2", "k")
    assert orjson.loads(made.doc)["project_id"] == "p2"
    assert made.rules == {"urgency": "LOW"}
    assert decode_events(encode_events([made])[0]) == [made]


def test_no_rules_means_no_function() -> None:
    assert compile_rules([]).for_project("p1") is None


def test_user_text_never_becomes_code() -> None:
    hostile = "x' or True or '\n__import__('os')"
    rules = [
        rule(
            conditions=[cond("title", hostile), cond(f"additional_info.{hostile}", "y")],
            actions={"change_assignee": hostile, "add_additional_info": {hostile: 1}},
        )
    ]
    doc, outcome = run(rules, event())
    assert outcome == {}
    doc, outcome = run(rules, event(title=hostile, additional_info={hostile: "y"}))
    assert outcome == {"assignee": hostile} and doc["additional_info"][hostile] == 1


# ---- bad rules ------------------------------------------------------------------------------

GOOD = {"conditions_policy": "ALL", "conditions": [cond("title", "x")],
        "actions": {"change_urgency": "LOW"}}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"conditions_policy": "SOME"}, "conditions_policy"),
        ({"conditions": [cond("title", "x", "regex")]}, "conditions.0.operator"),
        ({"conditions": [cond("raw_data.x", "x")]}, "conditions.0.key"),
        ({"conditions": [cond("alert_id", "x")]}, "conditions.0.key"),
        ({"conditions": [{"key": "title", "value": 5, "operator": "eq"}]}, "conditions.0.value"),
        ({"actions": {"change_urgency": "MEDIUM"}}, "actions.change_urgency"),
        ({"actions": {"change_assignee": 5}}, "actions.change_assignee"),
        ({"actions": {"no_notification": "true"}}, "actions.no_notification"),
        ({"actions": {"add_project_dependency": "p1"}}, "actions.add_project_dependency"),
        ({"actions": {"add_responder": [{"resource_id": "x"}]}}, "actions.add_responder.0"),
        ({"actions": {"add_additional_info": []}}, "actions.add_additional_info"),
        ({"actions": {"delete_event": True}}, "actions.delete_event"),
        ({"options": {"stop_processing": 1}}, "options.stop_processing"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(change: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        EventRuleCreate.model_validate({**GOOD, **change})
    locations = [".".join(map(str, e["loc"])) for e in raised.value.errors()]
    assert any(location.startswith(where) for location in locations), locations


def test_additional_info_keys_are_always_allowed() -> None:
    made = EventRuleCreate.model_validate({**GOOD, "conditions": [cond("additional_info.a b", "")]})
    assert made.conditions[0].key == "additional_info.a b"


def test_a_domain_set_holds_only_its_domain() -> None:
    with pytest.raises(ValidationError):
        DomainRules.model_validate({"domain_id": "other", "rules": [rule()]})


# ---- random rule sets against the reference -------------------------------------------------

WORDS = st.sampled_from(["disk", "Disk", "CPU", "prod", "p1", "p2", "3", "true", "", "é"])
KEYS = st.sampled_from(["title", "severity", "project_id", "resource_name", "resource.name",
                        "additional_info.env", "additional_info.team", "additional_info.n",
                        "additional_info.flag", "additional_info.obj"])  # fmt: skip
CONDITION = st.builds(cond, KEYS, WORDS, st.sampled_from(["eq", "not", "contain", "not_contain"]))
RESPONDER = st.builds(lambda i: {"resource_type": "identity.User", "resource_id": i},
                      st.sampled_from(["a", "b"]))  # fmt: skip
ACTIONS = st.fixed_dictionaries(
    {},
    optional={
        "change_project": st.sampled_from(["p1", "p2", "p3"]),
        "change_assignee": st.sampled_from(["alice", "bob"]),
        "change_urgency": st.sampled_from(["HIGH", "LOW"]),
        "add_project_dependency": st.lists(st.sampled_from(["p7", "p8"]), max_size=2),
        "add_responder": st.lists(RESPONDER, max_size=2),
        "add_additional_info": st.dictionaries(st.sampled_from(["team", "env", "n"]), WORDS,
                                               max_size=2),
        "no_notification": st.booleans(),
    },
)  # fmt: skip


@st.composite
def rule_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 8))
    rules = []
    for number in range(1, count + 1):
        project = draw(st.sampled_from([None, "p1", "p2"]))
        rules.append(rule(
            number, order=draw(st.integers(1, 5)), project_id=project,
            scope="PROJECT" if project else "GLOBAL",
            conditions_policy=draw(st.sampled_from(["ALL", "ANY", "ALWAYS"])),
            conditions=draw(st.lists(CONDITION, max_size=3)), actions=draw(ACTIONS),
            options={"stop_processing": draw(st.booleans())},
        ))  # fmt: skip
    return rules


EVENTS = st.builds(
    lambda title, severity, project, info: event(title=title, severity=severity,
                                                 project_id=project, additional_info=info),
    st.sampled_from(["Disk full", "cpu high", "PROD down", ""]),
    st.sampled_from(["CRITICAL", "INFO"]),
    st.sampled_from(["p1", "p2", "p3"]),
    st.dictionaries(st.sampled_from(["env", "team", "n", "flag", "obj"]),
                    st.one_of(WORDS, st.integers(0, 3), st.booleans(), st.none(),
                              st.just({"a": 1})), max_size=4),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(rule_sets(), EVENTS)
def test_random_rule_sets_agree_with_the_reference(rules: list[dict], doc: dict) -> None:
    expected_doc, expected_outcome = evaluate(rules, doc)
    got_doc, got_outcome = run(rules, doc)
    assert got_doc == expected_doc
    assert got_outcome == expected_outcome
