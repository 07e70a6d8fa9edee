"""JSON and model codecs on the processor's own documents: the figures behind its choices.

    python -m bench.json_codecs [--rounds 20000]

Decodes and encodes an EventInfo document of the `standard` parser (the pipeline bench's
document) with the standard library, orjson, msgspec (when installed) and pydantic, and
prints microseconds per call. Figures only.
"""

from __future__ import annotations

import argparse
import json
import timeit
from datetime import UTC, datetime
from typing import Any

import orjson

from ingest.parsers.standard import parse as parse_standard
from ingest.process.normalize import Position, record_origin, to_events
from schemas.event import EventInfo


def document() -> bytes:
    data = {"event_key": "k1", "title": "event 1", "severity": "WARNING",
            "additional_info": {"host": "web-1", "check": "cpu", "value": 93.5}}  # fmt: skip
    (event,) = to_events(
        parse_standard(data, {}), payload={**data, "padding": "x" * 600},
        origin=record_origin("", Position("events.raw", 0, 1), datetime.now(UTC)),
        created_at=datetime.now(UTC),
        webhook_id="webhook-0123456789ab", project_id="project-1", domain_id="domain-1",
    )  # fmt: skip
    return event.doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    rounds = parser.parse_args(argv).rounds
    raw = document()
    value = json.loads(raw)
    model = EventInfo.model_validate(value)
    cases: list[tuple[str, Any]] = [
        ("decode  json.loads", lambda: json.loads(raw)),
        ("decode  orjson.loads", lambda: orjson.loads(raw)),
        ("decode  EventInfo.model_validate_json", lambda: EventInfo.model_validate_json(raw)),
        ("encode  json.dumps", lambda: json.dumps(value)),
        ("encode  orjson.dumps", lambda: orjson.dumps(value)),
        ("encode  EventInfo.model_dump_json", lambda: model.model_dump_json()),
        ("parse   standard parser (validates once)", lambda: parse_standard(value, {})),
    ]
    try:
        import msgspec

        cases.insert(2, ("decode  msgspec.json.decode", lambda: msgspec.json.decode(raw)))
        cases.insert(6, ("encode  msgspec.json.encode", lambda: msgspec.json.encode(value)))
    except ImportError:
        print("(msgspec not installed: its rows are left out)")
    print(f"one EventInfo document of {len(raw):,} bytes, {rounds:,} rounds each")
    for name, call in cases:
        seconds = min(timeit.repeat(call, number=rounds, repeat=3)) / rounds
        print(f"  {name:45s} {seconds * 1e6:7.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
