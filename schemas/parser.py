"""The contract between source parsers (SPEC §7) and the stage that calls them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from schemas.event import ParsedEvent


class ParseError(Exception):
    """The payload cannot be read; `message` is shown to the user as the ERROR event's description.

    It is the only exception a parser may raise, so the caller can turn any parse failure
    into one ERROR event (SPEC §4.3) without catching bugs along with bad input.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Parser(Protocol):
    """A pure function from one webhook payload and the webhook's options to 0..n events."""

    def __call__(self, data: Any, options: Mapping[str, Any], /) -> list[ParsedEvent]: ...
