"""`eventpipe webhook ...` argument handling (the store calls are integration-tested)."""

from __future__ import annotations

import argparse

import pytest

from deploy.cli_webhook import (
    ACTIONS,
    _exact,
    _options,
    add_webhook_commands,
    list_query,
    parse_pairs,
)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="eventpipe")
    add_webhook_commands(root.add_subparsers(dest="command", required=True))
    return root


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_parses(action: str) -> None:
    argv = ["webhook", action]
    if action == "create":
        argv += ["--name", "n", "--plugin", "prometheus", "--project", "p", "--domain", "d"]
    elif action != "list":
        argv.append("webhook-0123456789ab")
    args = parser().parse_args([*argv, "--json"])
    assert (args.action, args.json, callable(args.func)) == (action, True, True)


def test_pairs_and_options() -> None:
    assert parse_pairs(["env=prod", "x=a=b", " t =  "]) == {"env": "prod", "x": "a=b", "t": "  "}
    with pytest.raises(ValueError):
        parse_pairs(["novalue"])
    args = parser().parse_args(
        ["webhook", "update", "webhook-0123456789ab", "--options-json", '{"a": 1, "b": 2}',
         "--option", "b=3"]
    )  # fmt: skip
    assert _options(args) == {"a": 1, "b": "3"}
    args = parser().parse_args(["webhook", "update", "webhook-0123456789ab"])
    assert _options(args) is None
    args = parser().parse_args(
        ["webhook", "update", "webhook-0123456789ab", "--options-json", "[]"]
    )
    with pytest.raises(ValueError):
        _options(args)


def test_list_filters() -> None:
    args = parser().parse_args(
        ["webhook", "list", "--state", "DISABLED", "--plugin", "grafana", "--name-contains", "Pro"]
    )
    assert _exact(args) == {"state": "DISABLED", "plugin_info.plugin_id": "grafana"}
    condition = list_query(args).filter[0]
    assert (condition.key, condition.value, condition.operator) == ("name", "Pro", "contain")
