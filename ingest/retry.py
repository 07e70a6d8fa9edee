"""One retry policy for every loop that talks to Kafka, Elasticsearch or the network.

Every wait between two attempts is a `Backoff`: 0.1 s, doubled after each failure, at most
5 s, back to the first after a success.

An error is either retriable — the dependency is down, overloaded or refusing us for now
(unreachable, timeouts, 429, 5xx, 401/403 while credentials are being fixed, aiokafka's
`retriable` errors) — and the loop waits with capped exponential backoff until it works
or the worker stops; or it is `Invalid`: the request itself is wrong (another 4xx, a
record Kafka will never take), retrying cannot help, and the caller sends what the
request carried to the dead-letter topic with the reason. Nothing retries what cannot
succeed, and nothing gives up on what will.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaError
from elasticsearch import ApiError as EsApiError
from elasticsearch import TransportError

log = logging.getLogger("eventpipe.retry")

T = TypeVar("T")
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
# Whole-request answers that say "not now" rather than "never".
RETRIABLE_STATUS = {401, 403, 408, 429}


class Backoff:
    """Capped exponential backoff: the delay before the next attempt."""

    def __init__(
        self,
        first: float = FIRST_BACKOFF_SECONDS,
        cap: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.cap = MAX_BACKOFF_SECONDS if cap is None else cap
        self.first = min(first, self.cap)
        self.delay = self.first
        self._sleep = sleep

    async def wait(self) -> None:
        """Sleep the current delay, then double it (up to the cap)."""
        await self._sleep(self.delay)
        self.delay = min(self.delay * 2, self.cap)

    def reset(self) -> None:
        """After a success: the next failure waits the first delay again."""
        self.delay = self.first


class Invalid(Exception):
    """The request can never succeed as it is; `reason` says why (for the dead letter)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Stopping(Exception):
    """The worker is stopping while a dependency still refuses: the batch is not acked."""


def is_retriable(error: BaseException) -> bool:
    """True when the same request may work later; False when it never will."""
    if isinstance(error, EsApiError):
        status = error.meta.status
        return status in RETRIABLE_STATUS or status >= 500
    if isinstance(error, TransportError | OSError | asyncio.TimeoutError):
        return True
    if isinstance(error, KafkaError):
        return bool(getattr(error, "retriable", False)) or type(error).__name__ in {
            "KafkaConnectionError", "NodeNotReadyError", "RequestTimedOutError",
            "NotLeaderForPartitionError", "KafkaTimeoutError",
        }  # fmt: skip
    return False


async def retry(
    attempt: Callable[[], Awaitable[T]],
    what: str,
    stopping: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `attempt` until it succeeds; Invalid for an error no retry can fix; Stopping when
    the worker stops while the dependency still fails."""
    backoff = Backoff(sleep=sleep)
    while True:
        try:
            return await attempt()
        except (Stopping, Invalid, asyncio.CancelledError):
            raise
        except Exception as error:
            if not is_retriable(error):
                raise Invalid(f"{what}: {error}") from error
            if stopping():
                raise Stopping(f"{what} failed at shutdown: {error}") from error
            log.warning("%s failed (%s); retrying in %.1f s", what, error, backoff.delay)
            await backoff.wait()
