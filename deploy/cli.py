"""The `eventpipe` command: one entry point for everything an operator runs."""

from __future__ import annotations

import argparse
import json
import sys

from deploy import engines
from schemas.settings import get_settings


def _engines(args: argparse.Namespace) -> int:
    settings = get_settings().engines
    if args.action == "up":
        engines.up(settings)
        return 0
    if args.action == "down":
        engines.down(settings)
        return 0
    rows = engines.status(settings)
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
    else:
        for row in rows:
            state = "healthy" if row.healthy else "running" if row.running else "stopped"
            pid = f"pid {row.pid}" if row.pid else "-"
            print(
                f"{row.name:<14} {state:<8} {pid:<10} {row.endpoint:<24} {row.version:<7} {row.log}"
            )
    return 0 if all(row.healthy for row in rows) else 3


def _up(args: argparse.Namespace) -> int:
    """The local run: engines first, then the services that exist."""
    settings = get_settings()
    engines.up(settings.engines)
    print()
    print(f"Kafka:          {settings.kafka.bootstrap_servers}")
    print(f"Elasticsearch:  {settings.elasticsearch.url} (user {settings.elasticsearch.username},"
          f" password in {settings.engines.elastic_password_file})")  # fmt: skip
    print("Stop the engines with: eventpipe engines down")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventpipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole pipeline locally")
    up.set_defaults(func=_up)

    eng = commands.add_parser("engines", help="the local Kafka broker and Elasticsearch node")
    eng.add_argument("action", choices=["up", "down", "status"])
    eng.add_argument("--json", action="store_true", help="status as JSON")
    eng.set_defaults(func=_engines)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except engines.EngineError as error:
        print(f"eventpipe: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
