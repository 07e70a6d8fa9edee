"""A spacectl walk-through of event rules: created, ordered and listed with Cloudforet's own
CLI, then applied by a real worker to events sent through a webhook.

    python -m bench.event_rules_walkthrough [--spacectl PATH]

A pipeline of its own and `spacectl` with an eventpipe API key as its token
(`bench.walkthrough`). Prints each command with its output; everything it made is
deleted at the end.
"""

from __future__ import annotations

import asyncio
import json

from bench.walkthrough import arguments, walkthrough

DOMAIN = "domain-rules-walk"
DISKS = {"conditions_policy": "ALL",
         "conditions": [{"key": "title", "value": "disk", "operator": "contain"},
                        {"key": "severity", "value": "CRITICAL", "operator": "eq"}],
         "actions": {"change_project": "project-storage", "change_assignee": "alice",
                     "add_additional_info": {"team": "storage"}}}  # fmt: skip
QUIET = {"conditions_policy": "ANY",
         "conditions": [{"key": "additional_info.env", "value": "staging", "operator": "eq"}],
         "actions": {"change_urgency": "LOW"}, "options": {"stop_processing": True}}  # fmt: skip


EVENTS = (
    {"event_key": "disk-web-1", "title": "Disk 95% full on web-1", "severity": "CRITICAL"},
    {"event_key": "disk-stg-1", "title": "Disk 91% full on stg-1", "severity": "CRITICAL",
     "additional_info": {"env": "staging"}},
)  # fmt: skip


async def main(spacectl: str) -> None:
    async with walkthrough("rwalk", DOMAIN, spacectl) as w:
        await w.spacectl("exec", "create", "monitoring.EventRule",
                         "-p", "name=critical disks to storage", "-j", json.dumps(DISKS),
                         "-o", "yaml")  # fmt: skip
        quiet = await w.spacectl("exec", "create", "monitoring.EventRule",
                                 "-p", "name=quiet staging", "-j", json.dumps(QUIET),
                                 "-o", "json")  # fmt: skip
        rule_id = json.loads(quiet[quiet.index("{") :])["event_rule_id"]
        await w.spacectl("exec", "change_order", "monitoring.EventRule",
                         "-p", f"event_rule_id={rule_id}", "-j", '{"order": 1}',
                         "-o", "yaml")  # fmt: skip
        await w.spacectl("list", "monitoring.EventRule",
                         "-c", "event_rule_id,name,order,scope,conditions_policy")  # fmt: skip
        await w.send(*EVENTS)
        await w.wait_for_alerts(2)
        await w.spacectl("list", "monitoring.Event",
                         "-c", "event_key,title,project_id,additional_info")  # fmt: skip
        await w.spacectl("list", "monitoring.Alert",
                         "-c", "title,project_id,urgency,assignee,state")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(arguments(__doc__).spacectl))
