"""Load `eventpipe.ndjson` into a Kibana through its saved-objects import API.

Pure parts (`load_objects`, `for_indices`, `to_ndjson`) prepare the file: the data
views' index patterns follow the index names in the settings. The I/O is two calls:
wait until Kibana's status is available, then `POST /api/saved_objects/_import` with
`overwrite=true`, so running the import again updates the objects in place.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from pathlib import Path
from typing import Any

import httpx

SAVED_OBJECTS = Path(__file__).with_name("eventpipe.ndjson")
EVENTS_DATA_VIEW = "eventpipe-events"
ALERTS_DATA_VIEW = "eventpipe-alerts"


class KibanaImportError(Exception):
    """Kibana refused the import, or did not come up in time; the message says which."""


def load_objects(path: Path = SAVED_OBJECTS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def for_indices(objects: list[dict[str, Any]], events: str, alerts: str) -> list[dict[str, Any]]:
    """The objects with the data views over `<events>*` and `<alerts>` (the settings' names)."""
    titles = {EVENTS_DATA_VIEW: f"{events}*", ALERTS_DATA_VIEW: alerts}
    out = copy.deepcopy(objects)
    for obj in out:
        if obj["type"] == "index-pattern" and obj["id"] in titles:
            obj["attributes"]["title"] = titles[obj["id"]]
    return out


def to_ndjson(objects: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(obj, separators=(",", ":")) + "\n" for obj in objects).encode()


def import_path(space: str | None) -> str:
    prefix = f"/s/{space}" if space else ""
    return f"{prefix}/api/saved_objects/_import"


async def wait_for_kibana(client: httpx.AsyncClient, seconds: float) -> None:
    """Poll `/api/status` until Kibana says it is available (it answers 503 while starting)."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = await client.get("/api/status")
            level = response.json().get("status", {}).get("overall", {}).get("level")
            if response.status_code == 200 and level in ("available", None):
                return
            last = f"HTTP {response.status_code}, status {level}"
        except (httpx.HTTPError, ValueError) as error:
            last = str(error) or type(error).__name__
        await asyncio.sleep(3)
    raise KibanaImportError(f"Kibana was not available within {seconds:.0f} s ({last})")


async def import_objects(
    url: str,
    objects: list[dict[str, Any]],
    *,
    auth: tuple[str, str] | None,
    space: str | None = None,
    wait_seconds: float = 300,
) -> dict[str, Any]:
    """Import `objects` into the Kibana at `url`; returns Kibana's answer on success."""
    async with httpx.AsyncClient(base_url=url.rstrip("/"), auth=auth, timeout=60) as client:
        await wait_for_kibana(client, wait_seconds)
        response = await client.post(
            import_path(space),
            params={"overwrite": "true"},
            headers={"kbn-xsrf": "eventpipe"},
            files={"file": ("eventpipe.ndjson", to_ndjson(objects), "application/ndjson")},
        )
    if response.status_code != 200:
        raise KibanaImportError(f"Kibana answered HTTP {response.status_code}: {response.text}")
    answer = response.json()
    if not answer.get("success"):
        raise KibanaImportError(f"Kibana refused some objects: {json.dumps(answer.get('errors'))}")
    return answer
