"""Finding parsers by plugin id through the `eventpipe.parsers` entry points."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint

import pytest

from ingest.parsers import (
    alertmanager,
    aws_sns,
    azure_monitor,
    google_monitoring,
    grafana,
    registry,
    standard,
    zabbix,
)
from schemas.parser import ParseError
from tests.unit.parsers.helpers import raises_parse_error

BUILT_IN = {
    "aws-sns": aws_sns.parse,
    "azure-monitor": azure_monitor.parse,
    "google-monitoring": google_monitoring.parse,
    "grafana": grafana.parse,
    "prometheus": alertmanager.parse,
    "standard": standard.parse,
    "zabbix": zabbix.parse,
}


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    registry.clear_cache()
    yield
    registry.clear_cache()


def use_entry_points(monkeypatch: pytest.MonkeyPatch, *pairs: tuple[str, str]) -> list[str]:
    """Make the installed entry points exactly `pairs`; returns the log of lookups."""
    lookups: list[str] = []

    def entry_points(group: str) -> list[EntryPoint]:
        lookups.append(group)
        return [EntryPoint(name, value, group) for name, value in pairs]

    monkeypatch.setattr(registry, "entry_points", entry_points)
    return lookups


@pytest.mark.parametrize(("plugin_id", "parse"), BUILT_IN.items())
def test_every_built_in_parser_is_found(plugin_id: str, parse: object) -> None:
    assert registry.get_parser(plugin_id) is parse


def test_available_parsers_lists_the_seven_sorted() -> None:
    assert registry.available_parsers() == sorted(BUILT_IN)


def test_unknown_id_names_itself_and_the_known_ones() -> None:
    with pytest.raises(registry.UnknownParserError) as caught:
        registry.get_parser("nagios")
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, ParseError)
    assert caught.value.plugin_id == "nagios"
    assert str(caught.value) == (
        "no parser for plugin id 'nagios'; known: aws-sns, azure-monitor, "
        "google-monitoring, grafana, prometheus, standard, zabbix"
    )


def test_entry_points_win_over_built_ins_and_add_to_them(monkeypatch: pytest.MonkeyPatch) -> None:
    use_entry_points(
        monkeypatch,
        ("prometheus", "ingest.parsers.standard:parse"),
        ("nagios", "ingest.parsers.zabbix:parse"),
    )
    assert registry.get_parser("prometheus") is standard.parse
    assert registry.get_parser("nagios") is zabbix.parse
    assert registry.available_parsers() == sorted([*BUILT_IN, "nagios"])


def test_lookup_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = use_entry_points(monkeypatch)
    for plugin_id in ("grafana", "zabbix", "grafana"):
        registry.get_parser(plugin_id)
    registry.available_parsers()
    assert lookups == ["eventpipe.parsers"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ingest.parsers.no_such_module:parse", "parser 'broken' (ingest.parsers.no_such_module"),
        ("ingest.parsers.zabbix:no_such_function", "parser 'broken' (ingest.parsers.zabbix:no_"),
        ("ingest.parsers.zabbix:PROVIDER", "parser 'broken' (ingest.parsers.zabbix:PROVIDER) is"),
    ],
)
def test_broken_plugin_is_a_parse_error(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    use_entry_points(monkeypatch, ("broken", value))
    with raises_parse_error(message):
        registry.get_parser("broken")
