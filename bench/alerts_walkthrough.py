"""A spacectl walk-through of alerts: list, acknowledge, note, resolve, against a real pipeline.

    python -m bench.alerts_walkthrough [--spacectl PATH]

Starts a pipeline of its own (unique topics and indices, a real `eventpipe worker`
process, the API in-process with gRPC on a free port), sends three events through a
webhook, then runs Cloudforet's own CLI, `spacectl`, with an eventpipe API key as its
token, and prints each command with its output (`bench.walkthrough`). Everything it made
is deleted at the end.
"""

from __future__ import annotations

import asyncio

from bench.walkthrough import Walk, arguments, walkthrough

DOMAIN = "domain-walk"
EVENTS = (
    {"event_key": "disk-web-1", "title": "Disk 95% full on web-1", "severity": "CRITICAL",
     "resource": {"name": "web-1"}},
    {"event_key": "cpu-db-2", "title": "CPU 90% on db-2", "severity": "WARNING"},
    {"event_key": "disk-web-1", "title": "Disk 96% full on web-1", "severity": "CRITICAL"},
)  # fmt: skip


async def main(spacectl: str) -> None:
    async with walkthrough("walk", DOMAIN, spacectl) as w:
        await w.send(*EVENTS)
        await w.wait_for_alerts(2)
        await walk(w)


async def walk(w: Walk) -> None:
    columns = "alert_number,alert_id,title,state,urgency,assignee,acknowledged_at,resolved_at"
    by_number = '{"query": {"sort": {"key": "alert_number"}}}'
    listed = await w.spacectl("list", "monitoring.Alert", "-c", columns, "-j", by_number,
                              "-o", "csv")  # fmt: skip
    found = [line.split(",")[1] for line in listed.splitlines() if "Disk" in line]
    if not found:
        raise SystemExit("spacectl listed no disk alert")
    disk = found[0]
    await w.spacectl("exec", "update", "monitoring.Alert",
                     "-p", f"alert_id={disk}", "-p", "state=ACKNOWLEDGED", "-p", "assignee=ann",
                     "-o", "yaml")  # fmt: skip
    note = "note=Cleaning /var/log on web-1"
    await w.spacectl("exec", "create", "monitoring.Note",
                     "-p", f"alert_id={disk}", "-p", note, "-o", "yaml")  # fmt: skip
    await w.spacectl("list", "monitoring.Note", "-p", f"alert_id={disk}",
                     "-c", "note_id,alert_id,note,created_by,created_at")  # fmt: skip
    await w.spacectl("exec", "update", "monitoring.Alert",
                     "-p", f"alert_id={disk}", "-p", "state=RESOLVED",
                     "-p", "status_message=logs rotated", "-o", "yaml")  # fmt: skip
    await asyncio.sleep(1.5)  # list and stat search: a change shows after the next refresh
    await w.spacectl("list", "monitoring.Alert", "-c", columns, "-j", by_number)
    by_state = ('{"query": {"aggregate": [{"group": {"keys": [{"key": "state", "name": "state"}],'
                ' "fields": [{"operator": "count", "name": "alerts"}]}}]}}')  # fmt: skip
    await w.spacectl("stat", "monitoring.Alert", "-j", by_state)


if __name__ == "__main__":
    asyncio.run(main(arguments(__doc__).spacectl))
