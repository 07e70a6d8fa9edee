"""The one retry policy: what is retried, what is invalid, and when a loop gives up."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

from ingest.retry import Backoff, Invalid, Stopping, is_retriable, retry


def es_error(status: int) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "h", 9200))
    return ApiError(f"status {status}", meta, {"error": {"type": "x"}})


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (es_error(429), True),
        (es_error(503), True),
        (es_error(401), True),  # credentials being fixed: wait, don't dead-letter everything
        (es_error(400), False),
        (es_error(413), False),
        (ConnectionError("refused"), True),
        (ConnectionTimeout("slow"), True),
        (KafkaConnectionError(), True),
        (NotLeaderForPartitionError(), True),
        (RequestTimedOutError(), True),
        (MessageSizeTooLargeError(), False),
        (ValueError("a bug"), False),
        (TimeoutError(), True),
    ],
)
def test_errors_are_retriable_or_invalid(error: BaseException, retriable: bool) -> None:
    assert is_retriable(error) is retriable


async def test_retriable_failures_are_waited_out_with_growing_backoff() -> None:
    failures = [ConnectionError("down")] * 4
    slept: list[float] = []

    async def attempt() -> str:
        if failures:
            raise failures.pop()
        return "done"

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    assert await retry(attempt, "bulk", lambda: False, sleep) == "done"
    assert slept == [0.1, 0.2, 0.4, 0.8]


async def test_an_invalid_request_is_never_retried() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise es_error(400)

    with pytest.raises(Invalid) as raised:
        await retry(attempt, "bulk", lambda: False)
    assert calls == 1 and raised.value.reason.startswith("bulk:")


async def test_a_stopping_worker_gives_up_on_a_dependency_still_down() -> None:
    async def attempt() -> None:
        raise ConnectionError("down")

    with pytest.raises(Stopping):
        await retry(attempt, "bulk", lambda: True)


async def test_one_backoff_doubles_to_its_cap_and_starts_over_after_a_success() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    backoff = Backoff(sleep=sleep)
    for _ in range(9):
        await backoff.wait()
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    backoff.reset()
    await backoff.wait()
    assert slept[-1] == 0.1
    tight = Backoff(first=1.0, cap=0.5, sleep=sleep)  # the cap wins over the first delay
    await tight.wait()
    assert slept[-1] == 0.5
