"""deploy/kibana/eventpipe.ndjson against the shapes Kibana 9 imports, and the index mappings.

Kibana cannot run here, so each object is checked for what its import needs: a unique
id, a known type with migration versions no newer than Kibana 9, references that
resolve inside the file under the names the type uses, and every field it names
present in the mapping eventpipe creates (schemas/index.py) with the right type.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from deploy.kibana.importer import SAVED_OBJECTS, for_indices, import_path, load_objects, to_ndjson
from schemas.index import ALERT_MAPPINGS, EVENT_MAPPINGS

OBJECTS = load_objects()
BY_KEY = {(o["type"], o["id"]): o for o in OBJECTS}
TYPES = {"index-pattern", "search", "lens", "dashboard"}
VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def fields_of(mappings: dict[str, Any]) -> dict[str, str]:
    """Dotted field -> type, as Kibana lists a data view's fields (text has `.keyword`)."""
    out: dict[str, str] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            if "properties" in spec:
                walk(spec["properties"], f"{path}.")
                continue
            out[path] = spec["type"]
            for sub, sub_spec in spec.get("fields", {}).items():
                out[f"{path}.{sub}"] = sub_spec["type"]

    walk(mappings["properties"], "")
    return out


FIELDS = {
    "eventpipe-events": fields_of(EVENT_MAPPINGS),
    "eventpipe-alerts": fields_of(ALERT_MAPPINGS),
}
AGGREGATABLE = {"keyword", "date", "long"}


def data_view_of(obj: dict[str, Any], name: str) -> str:
    ref = next(r for r in obj["references"] if r["name"] == name)
    assert ref["type"] == "index-pattern"
    return ref["id"]


def kql_fields(query: str) -> list[str]:
    return re.findall(r"([A-Za-z_][\w.]*)\s*:", query)


def test_the_file_is_ndjson_with_one_object_per_line() -> None:
    lines = [line for line in SAVED_OBJECTS.read_text().splitlines() if line.strip()]
    assert len(lines) == len(OBJECTS) >= 8
    assert to_ndjson(OBJECTS).decode().splitlines() == [
        json.dumps(json.loads(line), separators=(",", ":")) for line in lines
    ]


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["id"])
def test_every_object_has_the_import_shape(obj: dict[str, Any]) -> None:
    assert obj["type"] in TYPES
    assert re.fullmatch(r"[a-z0-9-]+", obj["id"])
    assert isinstance(obj["attributes"], dict) and obj["attributes"]["title"]
    assert isinstance(obj["references"], list)
    for key in ("coreMigrationVersion", "typeMigrationVersion"):
        major = int(VERSION.match(obj[key]).group(1))
        assert major <= 9, f"{key} newer than Kibana 9 would be refused"
    for ref in obj["references"]:
        assert set(ref) == {"name", "type", "id"}
        assert (ref["type"], ref["id"]) in BY_KEY, f"{obj['id']}: unresolved reference {ref}"
    names = [ref["name"] for ref in obj["references"]]
    assert len(names) == len(set(names))


def test_ids_are_unique() -> None:
    assert len(BY_KEY) == len(OBJECTS)


def test_data_views_cover_the_events_and_alerts_indices() -> None:
    events = BY_KEY[("index-pattern", "eventpipe-events")]["attributes"]
    alerts = BY_KEY[("index-pattern", "eventpipe-alerts")]["attributes"]
    assert (events["title"], events["timeFieldName"]) == ("eventpipe-events*", "created_at")
    # The alerts index has no created_at: an alert is placed in time by its last event.
    assert (alerts["title"], alerts["timeFieldName"]) == ("eventpipe-alerts", "last_event_at")
    for view_id in FIELDS:
        attributes = BY_KEY[("index-pattern", view_id)]["attributes"]
        assert FIELDS[view_id][attributes["timeFieldName"]] == "date"
        for field in json.loads(attributes["fieldFormatMap"]):
            assert field in FIELDS[view_id], f"{view_id}: format for unknown field {field}"


@pytest.mark.parametrize(
    "obj", [o for o in OBJECTS if o["type"] == "search"], ids=lambda o: o["id"]
)
def test_saved_searches_name_real_fields(obj: dict[str, Any]) -> None:
    source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    fields = FIELDS[data_view_of(obj, source["indexRefName"])]
    assert source["query"]["language"] == "kuery"
    for field in [*obj["attributes"]["columns"], *kql_fields(source["query"]["query"])]:
        assert field in fields, f"{obj['id']}: {field} is not in the index mapping"
    for field, direction in obj["attributes"]["sort"]:
        assert fields[field] in AGGREGATABLE and direction in ("asc", "desc")


@pytest.mark.parametrize("obj", [o for o in OBJECTS if o["type"] == "lens"], ids=lambda o: o["id"])
def test_lens_visualizations_are_consistent(obj: dict[str, Any]) -> None:
    state = obj["attributes"]["state"]
    assert obj["attributes"]["visualizationType"] in ("lnsXY", "lnsMetric", "lnsPie")
    layers = state["datasourceStates"]["formBased"]["layers"]
    for layer_id, layer in layers.items():
        fields = FIELDS[data_view_of(obj, f"indexpattern-datasource-layer-{layer_id}")]
        columns = layer["columns"]
        assert sorted(layer["columnOrder"]) == sorted(columns)
        for column in columns.values():
            if column["operationType"] == "count":
                assert column["sourceField"] == "___records___"
                continue
            assert fields.get(column["sourceField"]) in AGGREGATABLE, column["sourceField"]
            if column["operationType"] == "date_histogram":
                assert fields[column["sourceField"]] == "date"
            if column["operationType"] == "terms":
                assert column["params"]["orderBy"]["columnId"] in columns
        for field in kql_fields(state["query"]["query"]):
            assert field in fields
    visualization = state["visualization"]
    vis_layers = visualization.get("layers", [visualization])
    for vis_layer in vis_layers:
        columns = layers[vis_layer["layerId"]]["columns"]
        accessors = [*vis_layer.get("accessors", []), vis_layer.get("xAccessor"),
                     vis_layer.get("splitAccessor"), vis_layer.get("metricAccessor")]  # fmt: skip
        assert all(a in columns for a in accessors if a), accessors


def test_the_dashboard_lays_out_every_panel_it_references() -> None:
    dashboard = BY_KEY[("dashboard", "eventpipe-overview")]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {ref["name"]: ref for ref in dashboard["references"]}
    assert len(panels) == len(refs) == 6
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        ref = refs[panel["panelRefName"]]
        assert panel["type"] == ref["type"]
        grid = panel["gridData"]
        assert grid["i"] == panel["panelIndex"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 48, "Kibana's grid is 48 wide"
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not area & cells, f"panel {panel['panelIndex']} overlaps another"
        cells |= area
    titles = {BY_KEY[(r["type"], r["id"])]["attributes"]["title"] for r in refs.values()}
    assert {"Events over time by severity", "Top providers", "Top rules", "Open alerts",
            "Alerts by project"} <= titles  # fmt: skip
    json.loads(dashboard["attributes"]["optionsJSON"])
    json.loads(dashboard["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])


def test_data_views_follow_the_index_settings() -> None:
    renamed = for_indices(OBJECTS, "acme-events", "acme-alerts")
    titles = {o["id"]: o["attributes"]["title"] for o in renamed if o["type"] == "index-pattern"}
    assert titles == {"eventpipe-events": "acme-events*", "eventpipe-alerts": "acme-alerts"}
    assert (
        BY_KEY[("index-pattern", "eventpipe-events")]["attributes"]["title"] == "eventpipe-events*"
    )


def test_import_path_per_space() -> None:
    assert import_path(None) == "/api/saved_objects/_import"
    assert import_path("ops") == "/s/ops/api/saved_objects/_import"


def test_import_says_plainly_when_kibana_does_not_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    from deploy.cli import main

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(["kibana", "import", "--url", f"http://127.0.0.1:{port}", "--wait", "0.5"])
    assert code == 1
    assert "Kibana was not available within" in capsys.readouterr().err
