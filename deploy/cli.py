"""The `eventpipe` command: one entry point for everything an operator runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from deploy import engines
from deploy.cli_webhook import add_webhook_commands
from schemas.settings import EngineSettings, InvalidSettings, Settings, get_settings

EX_CONFIG = 78  # sysexits: a configuration error (the same as deploy.check's)


def _engines(args: argparse.Namespace) -> int:
    settings = get_settings().engines
    if args.action == "up" and args.secure:
        env_file = engines.secure_up(settings)
        _print_secure_settings(settings, env_file)
        return 0
    if args.action == "up":
        engines.up(settings)
        return 0
    if args.action == "down":
        engines.down(settings, secure=args.secure)
        return 0
    rows = engines.status(settings, secure=args.secure)
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


def _print_secure_settings(settings: EngineSettings, env_file: Path) -> None:
    from deploy.engines.secure import client_environment

    print("\nThe secured engines run beside the plain ones. Point eventpipe at them with:")
    for name, value in client_environment(settings).items():
        print(f"  {name}={value}")
    print(f"(also in {env_file}: set -a; . {env_file}; set +a)")
    print("The secrets stay in their files; EVENTPIPE_ELASTICSEARCH__PASSWORD_FILE=")
    print(f"  {settings.secure_dir / 'elastic-password'} logs in as the superuser `elastic`.")


def _serve_api(settings: Settings, *, query: bool = True) -> None:
    """Serve the intake and (with `query`) the Event API on the API's host and port."""
    import uvicorn

    from deploy.logs import json_logging_config
    from query_api.rest.app import create_app
    from query_api.rest.http_limits import limited_protocol

    uvicorn.run(
        create_app(settings, query=query),
        host=settings.api.host,
        port=settings.api.port,
        log_config=json_logging_config(),
        http=limited_protocol(settings.api),
        timeout_keep_alive=settings.api.keep_alive_seconds,
    )


def _refuse_wrong_settings(settings: Settings) -> bool:
    """Print why the settings cannot work (auth, TLS, privileges); True when they cannot."""
    from deploy.check import render, wrong_settings

    wrong = wrong_settings(settings)
    if wrong:
        print(f"eventpipe: not starting, a setting is wrong:\n{render(wrong)}", file=sys.stderr)
    return bool(wrong)


def _api(args: argparse.Namespace) -> int:
    settings = get_settings()
    if _refuse_wrong_settings(settings):
        return EX_CONFIG
    _serve_api(settings)
    return 0


def _intake(args: argparse.Namespace) -> int:
    settings = get_settings()
    if _refuse_wrong_settings(settings):
        return EX_CONFIG
    _serve_api(settings, query=False)
    return 0


def _check(args: argparse.Namespace) -> int:
    from deploy.check import check, render

    findings = asyncio.run(check(get_settings()))
    if args.json:
        print(json.dumps([finding.to_dict() for finding in findings], indent=2))
    else:
        print(render(findings))
    return 0 if all(finding.ok for finding in findings) else 1


def _up(args: argparse.Namespace) -> int:
    """The local run: engines, worker and API, in the foreground until Ctrl-C."""
    from deploy.local import run_local

    return run_local(get_settings(), _serve_api)


def _demo(args: argparse.Namespace) -> int:
    from deploy.local import send_demo

    settings = get_settings()
    statuses = asyncio.run(send_demo(settings, args.count))
    print("answers:", ", ".join(f"{code} x{n}" for code, n in sorted(statuses.items())))
    print(
        "List them: POST /monitoring/v1/event/list with the key in",
        settings.engines.cache_dir / "demo.json",
    )
    return 0 if set(statuses) == {"200"} else 1


def _worker(args: argparse.Namespace) -> int:
    from deploy.logs import json_logging_config
    from ingest.process.worker import run

    settings = get_settings()
    if _refuse_wrong_settings(settings):
        return EX_CONFIG
    run(settings, logging_config=json_logging_config())
    return 0


def _apikey(args: argparse.Namespace) -> int:
    return asyncio.run(_apikey_async(args))


async def _apikey_async(args: argparse.Namespace) -> int:
    from elasticsearch import AsyncElasticsearch

    from query_api.services.apikeys import ApiKeyStore

    settings = get_settings()
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    store = ApiKeyStore(es, settings.indices.apikeys)
    try:
        if args.action == "create":
            if args.admin == bool(args.domain):
                print("eventpipe: give exactly one of --domain D or --admin", file=sys.stderr)
                return 2
            key, info = await store.create(None if args.admin else args.domain)
            if args.json:
                print(json.dumps({"api_key": key, **info.model_dump(mode="json")}))
            else:
                scope = "every domain" if info.admin else f"domain {info.domain_id}"
                print(f"API key for {scope} (shown once, keep it):\n{key}")
        elif args.action == "list":
            rows = [row.model_dump(mode="json") for row in await store.list()]
            if args.json:
                print(json.dumps(rows, indent=2))
            for row in [] if args.json else rows:
                scope = "admin" if row["admin"] else row["domain_id"]
                state = "revoked" if row["revoked"] else "active"
                print(f"{row['key_id']}  {state:<7}  {scope:<20}  {row['created_at']}")
        else:
            if not args.key_id:
                print("eventpipe: apikey revoke needs KEY_ID", file=sys.stderr)
                return 2
            if not await store.revoke(args.key_id):
                print(f"eventpipe: no API key {args.key_id}", file=sys.stderr)
                return 1
            print(f"revoked {args.key_id}")
        return 0
    finally:
        await es.close()


def _kibana(args: argparse.Namespace) -> int:
    """Load the saved objects of deploy/kibana/ into a Kibana (waits until it is up)."""
    from deploy.kibana.importer import KibanaImportError, for_indices, import_objects, load_objects

    settings = get_settings()
    username = args.username or settings.elasticsearch.username
    password = args.password
    if password is None and settings.elasticsearch.password is not None:
        password = settings.elasticsearch.password.get_secret_value()
    objects = for_indices(load_objects(), settings.indices.events, settings.indices.alerts)
    auth = (username, password) if username and password else None
    try:
        answer = asyncio.run(
            import_objects(args.url, objects, auth=auth, space=args.space, wait_seconds=args.wait)
        )
    except KibanaImportError as error:
        print(f"eventpipe: {error}", file=sys.stderr)
        return 1
    print(f"imported {answer.get('successCount', 0)} saved objects into {args.url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventpipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole pipeline locally")
    up.set_defaults(func=_up)

    demo = commands.add_parser("demo", help="send sample alerts of every source to the intake")
    demo.add_argument("--count", type=int, default=120, help="how many payloads (default 120)")
    demo.set_defaults(func=_demo)

    api = commands.add_parser("api", help="run the intake and the query API (get, list, stat)")
    api.set_defaults(func=_api)

    intake = commands.add_parser(
        "intake", help="run the intake alone: the webhook routes onto Kafka, no query API"
    )
    intake.set_defaults(func=_intake)

    check = commands.add_parser(
        "check", help="connect to Kafka and Elasticsearch with the settings; say what fails"
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(func=_check)

    worker = commands.add_parser("worker", help="run the stream processor (faust worker)")
    worker.set_defaults(func=_worker)

    keys = commands.add_parser("apikey", help="create, list and revoke API keys")
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("key_id", nargs="?", help="the key to revoke")
    keys.add_argument("--domain", help="create: a key for this domain only")
    keys.add_argument("--admin", action="store_true", help="create: a key for every domain")
    keys.add_argument("--json", action="store_true", help="print JSON")
    keys.set_defaults(func=_apikey)

    add_webhook_commands(commands)

    kibana = commands.add_parser("kibana", help="load eventpipe's saved objects into Kibana")
    kibana.add_argument("action", choices=["import"])
    kibana.add_argument("--url", required=True, help="Kibana's address, e.g. http://127.0.0.1:5601")
    kibana.add_argument("--username", help="default: the Elasticsearch username of the settings")
    kibana.add_argument("--password", help="default: the Elasticsearch password of the settings")
    kibana.add_argument("--space", help="a Kibana space id (default: the default space)")
    kibana.add_argument("--wait", type=float, default=300, help="seconds to wait for Kibana")
    kibana.set_defaults(func=_kibana)

    eng = commands.add_parser("engines", help="the local Kafka broker and Elasticsearch node")
    eng.add_argument("action", choices=["up", "down", "status"])
    eng.add_argument("--json", action="store_true", help="status as JSON")
    eng.add_argument(
        "--secure",
        action="store_true",
        help="the secured engines (Kafka SASL_SSL, Elasticsearch HTTPS) on their own ports",
    )
    eng.set_defaults(func=_engines)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InvalidSettings as error:  # one line naming the variable, never a traceback
        print(f"eventpipe: not starting, a setting is wrong: {error}", file=sys.stderr)
        return EX_CONFIG
    except engines.EngineError as error:
        print(f"eventpipe: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
