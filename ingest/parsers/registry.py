"""Which parser serves which plugin id: entry points of group `eventpipe.parsers`.

A parser package outside this repository registers itself with
`[project.entry-points."eventpipe.parsers"] my-tool = "my_pkg.parser:parse"`.
The seven built-in parsers are also listed here, so they work before the package
metadata declares them; an installed entry point of the same name wins.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from schemas.parser import ParseError, Parser

GROUP = "eventpipe.parsers"
BUILTIN = {
    "prometheus": "ingest.parsers.alertmanager:parse",
    "grafana": "ingest.parsers.grafana:parse",
    "aws-sns": "ingest.parsers.aws_sns:parse",
    "azure-monitor": "ingest.parsers.azure_monitor:parse",
    "google-monitoring": "ingest.parsers.google_monitoring:parse",
    "zabbix": "ingest.parsers.zabbix:parse",
    "standard": "ingest.parsers.standard:parse",
}


class UnknownParserError(ParseError, KeyError):
    """No parser is registered under a webhook's plugin id.

    A KeyError for callers doing a lookup, and a ParseError so the ingest stage turns it
    into an ERROR event (SPEC §4.3) that tells the user what to fix.
    """

    def __init__(self, plugin_id: str) -> None:
        known = ", ".join(available_parsers())
        super().__init__(f"no parser for plugin id {plugin_id!r}; known: {known}")
        self.plugin_id = plugin_id


def available_parsers() -> list[str]:
    """Every plugin id a webhook may name, sorted."""
    return sorted(_entry_points())


def get_parser(plugin_id: str) -> Parser:
    """The parse function registered as `plugin_id`; loaded once, then cached."""
    entry_point = _entry_points().get(plugin_id)
    if entry_point is None:
        raise UnknownParserError(plugin_id)
    return _load(entry_point)


def clear_cache() -> None:
    """Forget what was found and loaded, e.g. after installing a parser package."""
    _entry_points.cache_clear()
    _load.cache_clear()


@cache
def _entry_points() -> dict[str, EntryPoint]:
    found = {name: EntryPoint(name, value, GROUP) for name, value in BUILTIN.items()}
    found.update({entry_point.name: entry_point for entry_point in entry_points(group=GROUP)})
    return found


@cache
def _load(entry_point: EntryPoint) -> Parser:
    try:
        parser = entry_point.load()
    except Exception as exc:  # any import failure of a plugin is reported the same way
        raise ParseError(
            f"parser {entry_point.name!r} ({entry_point.value}) could not be loaded: {exc}"
        ) from exc
    if not callable(parser):
        raise ParseError(f"parser {entry_point.name!r} ({entry_point.value}) is not callable")
    return parser
