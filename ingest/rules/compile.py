"""Event rules compiled into Python functions, once per change of a domain's rules. Pure.

`compile_rules(rules)` turns one domain's rules into a `RuleProgram`: for each project that
has PROJECT rules, one function running that project's rules and then the GLOBAL ones; and
one running the GLOBAL rules alone for every other project. Cloudforet 1.x applies the rules
of the event's project (its webhook's) in `order` (`EventRuleManager.change_event_data`,
GLOBAL rules left as a TODO after them); here GLOBAL rules follow, in their own `order`.
A matching rule with `options.stop_processing` ends the run (the GLOBAL ones included).

Per event, a function reads each field the rules test once into a local (lower-cased once
for `contain`), tests conditions as plain comparisons of locals and string literals (equality
before substrings; a condition several rules share, once into a local of its own), and
re-reads a field only after an action changed it (change_project, add_additional_info),
so a later rule sees the event as the earlier ones left it. No rule is interpreted per event.

What a condition compares (SPEC §10): the event's value at the key (`resource_name` and the
other Cloudforet 1.x names read `resource.*`); an `additional_info` value that is a number
or a boolean compares as its JSON text (`5`, `true`); a missing value, null, an object or a
list matches no operator, `not` and `not_contain` included (as in Cloudforet 1.x). `eq` and
`not` are case-sensitive, `contain` and `not_contain` case-insensitive substrings.

Actions, in SPEC §10's order: change_project sets the event's project_id (so also the key it
is correlated by); add_additional_info merges into its additional_info; change_assignee,
change_urgency, add_project_dependency, add_responder and no_notification are for the alert
the event opens (`RuleOutcome`, carried beside the event to correlation). A later rule's
assignee or urgency replaces an earlier one's; dependencies and responders accumulate
(Cloudforet 1.x kept only the last rule's list, which its name "add" does not say).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.event_rule import (
    EVENT_FIELD_PATHS,
    ConditionsPolicy,
    EventRule,
    EventRuleCondition,
    EventRuleScope,
    condition_path,
)

# What the rules set for the alert an event opens: any of urgency, assignee (strings),
# responders (a list of {resource_type, resource_id}), project_dependencies (a list of
# project ids) and no_notification (true). Empty: the rules set nothing for it.
RuleOutcome = dict[str, Any]
RuleFunction = Callable[[dict[str, Any]], RuleOutcome]


def text(value: Any) -> str | None:
    """A value as conditions compare it: strings as they are, numbers and booleans as JSON
    text, anything else (missing, null, objects, lists) as None, which matches nothing."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return json.dumps(value)
    return str(value) if isinstance(value, str) else None


def add_unique(outcome: RuleOutcome, name: str, items: Sequence[Any]) -> None:
    """Append the items not yet in `outcome[name]` (dependencies, responders)."""
    current: list[Any] = outcome.setdefault(name, [])
    for item in items:
        if item not in current:
            current.append(item)


@dataclass(frozen=True)
class RuleProgram:
    """One domain's compiled rules; `for_project` picks the function an event runs."""

    by_project: dict[str, RuleFunction] = field(default_factory=dict)
    global_only: RuleFunction | None = None
    rule_count: int = 0

    def for_project(self, project_id: str) -> RuleFunction | None:
        """The rules an event of this (webhook) project runs; None: there are none."""
        return self.by_project.get(project_id, self.global_only)


EMPTY = RuleProgram()


def ordered(rules: Sequence[EventRule]) -> tuple[dict[str, list[EventRule]], list[EventRule]]:
    """(PROJECT rules by project, GLOBAL rules), each in `order` (then id, for ties)."""
    projects: dict[str, list[EventRule]] = {}
    global_rules: list[EventRule] = []
    for rule in sorted(rules, key=lambda r: (r.order, r.event_rule_id)):
        if rule.scope == EventRuleScope.PROJECT and rule.project_id:
            projects.setdefault(rule.project_id, []).append(rule)
        else:
            global_rules.append(rule)
    return projects, global_rules


def compile_rules(rules: Sequence[EventRule]) -> RuleProgram:
    """The program of one domain's rules (all of one domain)."""
    if not rules:
        return EMPTY
    projects, global_rules = ordered(rules)
    return RuleProgram(
        by_project={
            project: compile_sequence([*own, *global_rules], f"project {project}")
            for project, own in projects.items()
        },
        global_only=compile_sequence(global_rules, "global") if global_rules else None,
        rule_count=len(rules),
    )


def compile_sequence(rules: Sequence[EventRule], name: str = "rules") -> RuleFunction:
    """One function applying `rules` in the given order to an event document (a dict of
    EventInfo's JSON values) in place; it returns the outcome for the event's alert."""
    return _Generator(rules).build(name)


def _identity(condition: EventRuleCondition) -> tuple[tuple[str, ...] | None, str, str]:
    """Conditions that test the same thing (`resource_name` is `resource.name`)."""
    return condition_path(condition.key), condition.operator, condition.value


# Fields every event document holds as a string (occurred_at may be null).
ALWAYS_TEXT = frozenset(path for name, path in EVENT_FIELD_PATHS.items() if name != "occurred_at")


class _Generator:
    """Python source for a rule sequence. User text only ever enters it through `repr()` of a
    string (a literal) or as an element of the constants tuple `K`, never as code."""

    def __init__(self, rules: Sequence[EventRule]) -> None:
        self.rules = rules
        self.constants: list[Any] = []
        self.locals: dict[tuple[str, ...], int] = {}  # field path -> local number
        self.lowered: set[int] = set()
        # A condition several rules test is tested once into a local `c<n>` (again after an
        # action changed its field); the others inline, where short-circuiting skips them.
        tested = Counter(_identity(c) for r in rules if r.conditions_policy != "ALWAYS"
                         for c in r.conditions)  # fmt: skip
        self.shared = {key: n for n, key in enumerate(k for k, times in tested.items()
                                                      if times > 1)}  # fmt: skip
        self.shared_tests: dict[int, tuple[tuple[str, ...], str]] = {}  # n -> (path, test)

    def build(self, name: str) -> RuleFunction:
        items: list[str | tuple[str, ...]] = []
        for rule in self.rules:
            items += self._rule(rule)
        body: list[str] = []  # a field an action changed is read again, if any rule tests it
        for item in items:
            if isinstance(item, str):
                body.append(item)
            elif item in self.locals:
                body += self._read(item, self.locals[item], indent="        ")
                body += self._shared(item, indent="        ")
        head = ["    info = doc.get('additional_info')",
                "    if type(info) is not dict:",
                "        info = doc['additional_info'] = {}",
                "    out = {}"]  # fmt: skip
        for path, number in self.locals.items():
            head += self._read(path, number)
        for path in self.locals:
            head += self._shared(path)
        source = "def run(doc):\n" + "\n".join([*head, *body, "    return out"]) + "\n"
        namespace: dict[str, Any] = {"K": tuple(self.constants), "_text": text,
                                     "_add": add_unique}  # fmt: skip
        exec(compile(source, f"<event rules: {name}>", "exec"), namespace)
        function: RuleFunction = namespace["run"]
        function.source = source  # type: ignore[attr-defined]
        return function

    def _local(self, condition: EventRuleCondition) -> int:
        path = condition_path(condition.key)
        assert path is not None  # checked when the rule was made
        number = self.locals.setdefault(path, len(self.locals))
        if condition.operator in ("contain", "not_contain"):
            self.lowered.add(number)
        return number

    def _read(self, path: tuple[str, ...], number: int, indent: str = "    ") -> list[str]:
        # EventInfo's own fields are strings (StrEnums for event_type and severity) or None in
        # every document: read as they are; additional_info's values through `text`.
        v, lowered = f"v{number}", f"l{number}"
        if path[0] == "additional_info":  # most values are strings or missing: no call
            return [
                f"{indent}{v} = info.get({path[1]!r})",
                f"{indent}if {v} is not None and type({v}) is not str:",
                f"{indent}    {v} = _text({v})",
                *([f"{indent}{lowered} = {v}.lower() if {v} is not None else None"]
                  if number in self.lowered else []),
            ]  # fmt: skip
        elif len(path) == 2:
            expression = f"(doc.get({path[0]!r}) or {{}}).get({path[1]!r})"
        else:
            expression = f"doc.get({path[0]!r})"
        lines = [f"{indent}{v} = {expression}"]
        if number in self.lowered:
            lines.append(f"{indent}{lowered} = {v}.lower() if {v} is not None else None")
        return lines

    def _shared(self, path: tuple[str, ...], indent: str = "    ") -> list[str]:
        """The shared tests of one field, evaluated into their locals."""
        return [f"{indent}c{n} = {test}" for n, (on, test) in self.shared_tests.items()
                if on == path]  # fmt: skip

    def _condition(self, condition: EventRuleCondition) -> str:
        test = self._test(condition)
        number = self.shared.get(_identity(condition))
        if number is None:
            return test
        path = condition_path(condition.key)
        assert path is not None
        self.shared_tests[number] = (path, test)
        return f"c{number}"

    def _test(self, condition: EventRuleCondition) -> str:
        number = self._local(condition)
        value = condition.value
        # EventInfo's text fields are never null in a document: no None test for them.
        path = condition_path(condition.key)
        guard = "" if path in ALWAYS_TEXT else f"v{number} is not None and "
        match condition.operator:
            case "eq":
                return f"v{number} == {value!r}"
            case "not":
                return f"({guard}v{number} != {value!r})"
            case "contain":
                return f"({guard}{value.lower()!r} in l{number})"
            case _:  # not_contain
                return f"({guard}{value.lower()!r} not in l{number})"

    def _constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def _rule(self, rule: EventRule) -> list[str | tuple[str, ...]]:
        # Cheapest first (equality before substrings): a test that decides the rule ends it.
        cheap_first = sorted(
            rule.conditions, key=lambda c: c.operator in ("contain", "not_contain")
        )
        tests = [self._condition(c) for c in cheap_first]
        if rule.conditions_policy == ConditionsPolicy.ALWAYS:
            test = "True"
        elif rule.conditions_policy == ConditionsPolicy.ALL:
            test = " and ".join(tests) or "True"
        else:
            test = " or ".join(tests) or "False"
        actions = rule.actions
        lines: list[str | tuple[str, ...]] = [
            f"    # {rule.event_rule_id!r} order {rule.order}",
            f"    if {test}:",
        ]
        changed: list[tuple[str, ...]] = []
        if actions.change_project:
            lines.append(f"        doc['project_id'] = {actions.change_project!r}")
            changed.append(("project_id",))
        if actions.change_assignee:
            lines.append(f"        out['assignee'] = {actions.change_assignee!r}")
        if actions.change_urgency:
            lines.append(f"        out['urgency'] = {actions.change_urgency.value!r}")
        if actions.add_project_dependency:
            dependencies = self._constant(tuple(actions.add_project_dependency))
            lines.append(f"        _add(out, 'project_dependencies', {dependencies})")
        if actions.add_responder:
            responders = tuple(r.model_dump() for r in actions.add_responder)
            lines.append(f"        _add(out, 'responders', {self._constant(responders)})")
        if actions.add_additional_info:
            lines.append(f"        info.update({self._constant(actions.add_additional_info)})")
            changed += [("additional_info", key) for key in actions.add_additional_info]
        if actions.no_notification:
            lines.append("        out['no_notification'] = True")
        # The changed fields (paths, expanded by `build` once every local is known).
        lines += changed
        lines.append("        return out" if rule.options.stop_processing else "        pass")
        return lines
