"""`eventpipe webhook create|get|list|update|enable|disable|delete|rotate-key`.

For operators: talks to the webhook store in Elasticsearch directly, with the
settings' credentials, so it needs no API key and sees every domain unless
`--domain` narrows it. create and rotate-key print the access key and the webhook
URL once; nothing else ever shows them again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch import ConnectionError as EsConnectionError

from query_api.services.webhooks import WebhookStore, list_webhooks, open_store
from schemas.query import Condition, Query
from schemas.settings import Settings, get_settings
from schemas.webhook import (
    PluginInfo,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookError,
    WebhookInfo,
    WebhookUpdate,
    public_base_url,
)

ACTIONS = ("create", "get", "list", "update", "enable", "disable", "delete", "rotate-key")


def add_webhook_commands(commands: argparse._SubParsersAction) -> None:
    """Add `webhook ACTION ...` to the `eventpipe` command."""
    webhook = commands.add_parser("webhook", help="create, list and change webhooks")
    actions = webhook.add_subparsers(dest="action", required=True)

    def action(name: str, help_: str, *, by_id: bool = True) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_)
        if by_id:
            parser.add_argument("webhook_id")
        parser.add_argument("--domain", help="only within this domain")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(func=run_webhook_command)
        return parser

    create = action("create", "a new webhook; prints its access key and URL once", by_id=False)
    create.add_argument("--name", required=True)
    create.add_argument("--plugin", required=True, help="parser plugin id, e.g. prometheus")
    create.add_argument("--project", required=True, help="project_id of its events")
    create.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    create.add_argument("--options-json", help="parser options as a JSON object")
    create.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    create.add_argument(
        "--duplicate-window", type=float, metavar="SECONDS",
        help="an identical event within this many seconds is a retry (0: off; default: "
        "the settings' ingest.duplicate_window_seconds)",
    )  # fmt: skip

    action("get", "one webhook")
    listing = action("list", "webhooks, newest first", by_id=False)
    listing.add_argument("--project", help="only this project_id")
    listing.add_argument("--state", choices=["ENABLED", "DISABLED"])
    listing.add_argument("--plugin", help="only this plugin id")
    listing.add_argument("--name-contains", help="case-insensitive substring of the name")

    update = action("update", "replace name, parser options or tags")
    update.add_argument("--name")
    update.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    update.add_argument("--options-json", help="parser options as a JSON object")
    update.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    update.add_argument("--clear-tags", action="store_true", help="remove every tag")
    window = update.add_mutually_exclusive_group()
    window.add_argument("--duplicate-window", type=float, metavar="SECONDS")
    window.add_argument(
        "--default-duplicate-window", action="store_true",
        help="use the settings' ingest.duplicate_window_seconds again",
    )  # fmt: skip

    action("enable", "accept its events again")
    action("disable", "refuse its events (everywhere within a second)")
    action("delete", "remove it for good")
    action("rotate-key", "a new access key; the old one stops working within a second")
    action(
        "import",
        "copy webhooks made before the Kafka topic was their source of truth into it",
        by_id=False,
    )


def run_webhook_command(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args, get_settings()))
    except WebhookError as error:
        print(f"eventpipe: {error.message}", file=sys.stderr)
        return 1
    except EsConnectionError as error:
        print(f"eventpipe: Elasticsearch unreachable: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # bad KEY=VALUE or JSON, or a request the schema refuses
        print(f"eventpipe: {error}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    try:
        async with open_store(settings, es) as store:
            domain = args.domain or None
            if args.action == "create":
                if not domain:
                    raise ValueError("webhook create needs --domain")
                request = WebhookCreate(
                    name=args.name,
                    plugin_info=PluginInfo(plugin_id=args.plugin, options=_options(args) or {}),
                    project_id=args.project,
                    domain_id=domain,
                    tags=parse_pairs(args.tag),
                    duplicate_window_seconds=args.duplicate_window,
                )
                webhook, key = await store.create(request)
                _print_created(
                    WebhookCreated.of(webhook, key, public_base_url(settings)), args.json
                )
            elif args.action == "rotate-key":
                webhook, key = await store.rotate_key(args.webhook_id, domain)
                _print_created(
                    WebhookCreated.of(webhook, key, public_base_url(settings)), args.json
                )
            elif args.action == "list":
                results, total = await list_webhooks(
                    es, store.index, list_query(args), _exact(args), domain
                )
                _print_list([r for r in results if isinstance(r, WebhookInfo)], total, args.json)
            elif args.action == "import":
                count = await store.import_from_index()
                print(json.dumps({"imported": count}) if args.json else f"imported {count}")
            elif args.action == "delete":
                await store.delete(args.webhook_id, domain)
                print(json.dumps({}) if args.json else f"deleted {args.webhook_id}")
            else:
                webhook = await _change(store, args, domain)
                _print_one(webhook.info(), args.json)
            return 0
    finally:
        await es.close()


async def _change(store: WebhookStore, args: argparse.Namespace, domain: str | None) -> Webhook:
    if args.action == "get":
        return await store.get(args.webhook_id, domain)
    if args.action == "enable":
        return await store.enable(args.webhook_id, domain)
    if args.action == "disable":
        return await store.disable(args.webhook_id, domain)
    tags = {} if args.clear_tags else (parse_pairs(args.tag) or None)
    window: dict[str, float | None] = {}
    if args.duplicate_window is not None or args.default_duplicate_window:
        window["duplicate_window_seconds"] = args.duplicate_window
    request = WebhookUpdate(
        webhook_id=args.webhook_id, name=args.name, options=_options(args), tags=tags, **window
    )
    return await store.update(request, domain)


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """`["env=prod", "team=db"]` -> `{"env": "prod", "team": "db"}`."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        parsed[key.strip()] = value
    return parsed


def _options(args: argparse.Namespace) -> dict[str, Any] | None:
    """`--options-json` and `--option` merged (the latter win); None when neither is given."""
    if args.options_json is None and not args.option:
        return None
    options: dict[str, Any] = {}
    if args.options_json is not None:
        try:
            options = json.loads(args.options_json)
        except json.JSONDecodeError as error:
            raise ValueError(f"--options-json is not JSON: {error}") from None
        if not isinstance(options, dict):
            raise ValueError("--options-json must be a JSON object")
    return {**options, **parse_pairs(args.option)}


def list_query(args: argparse.Namespace) -> Query:
    conditions = []
    if args.name_contains:
        conditions.append(Condition(key="name", value=args.name_contains, operator="contain"))
    return Query(filter=conditions)


def _exact(args: argparse.Namespace) -> dict[str, str]:
    given = {
        "project_id": args.project,
        "state": args.state,
        "plugin_info.plugin_id": args.plugin,
    }
    return {key: value for key, value in given.items() if value}


def _print_created(created: WebhookCreated, as_json: bool) -> None:
    if as_json:
        print(json.dumps(created.model_dump(mode="json"), indent=2))
        return
    print(f"webhook {created.webhook_id} ({created.name}, {created.plugin_info.plugin_id}, "
          f"domain {created.domain_id}, project {created.project_id})")  # fmt: skip
    print("Access key and URL (shown once, keep them):")
    print(f"  access_key:  {created.access_key}")
    print(f"  webhook_url: {created.webhook_url}")


def _print_one(info: WebhookInfo, as_json: bool) -> None:
    if as_json:
        print(json.dumps(info.model_dump(mode="json"), indent=2))
        return
    row = info.model_dump(mode="json")
    for key in ("webhook_id", "name", "state", "project_id", "domain_id", "created_at"):
        print(f"{key + ':':<12} {row[key]}")
    print(f"{'plugin:':<12} {info.plugin_info.plugin_id} {json.dumps(info.plugin_info.options)}")
    print(f"{'tags:':<12} {json.dumps(info.tags)}")
    window = info.duplicate_window_seconds
    print(f"{'duplicates:':<12} {'default window' if window is None else f'{window:g} s window'}")


def _print_list(rows: list[WebhookInfo], total: int, as_json: bool) -> None:
    if as_json:
        dumped = [row.model_dump(mode="json") for row in rows]
        print(json.dumps({"results": dumped, "total_count": total}, indent=2))
        return
    for row in rows:
        print(f"{row.webhook_id}  {row.state.value:<8}  {row.plugin_info.plugin_id:<17}  "
              f"{row.domain_id:<16}  {row.project_id:<16}  {row.name}")  # fmt: skip
    print(f"{total} webhook(s)")
