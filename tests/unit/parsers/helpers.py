"""Shared by the parser tests: load a payload file, hash like SPEC §7, render events."""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from schemas.event import ParsedEvent
from schemas.parser import ParseError

PAYLOADS = Path(__file__).parent / "payloads"
NO_RESOURCE = {"resource_id": "", "resource_type": "", "name": ""}


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def as_json(events: list[ParsedEvent]) -> list[dict[str, Any]]:
    """Events as they will be indexed, so a test compares every field at once."""
    return [event.model_dump(mode="json") for event in events]


def raises_parse_error(message_start: str) -> AbstractContextManager[Any]:
    """Expect a ParseError whose user-facing message starts with `message_start`."""
    return pytest.raises(ParseError, match="^" + re.escape(message_start))
