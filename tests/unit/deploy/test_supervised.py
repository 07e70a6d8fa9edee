"""The local run restarts a worker that exits, and stops it for good on stop()."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from deploy.local import Supervised


def wait_until(condition, seconds: float = 10) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_child_that_exits_is_started_again(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = Supervised(
        [sys.executable, "-c", "print('ran'); raise SystemExit(75)"], log, restart_delay=0.05
    )
    child.start()
    try:
        assert wait_until(lambda: child.restarts >= 2)
    finally:
        child.stop()
    runs = log.read_text().count("ran")
    time.sleep(0.3)
    assert log.read_text().count("ran") == runs  # nothing started after stop()
    assert runs >= 2  # the last start may have been stopped before it printed


def test_stop_ends_a_running_child_without_restarting_it(tmp_path: Path) -> None:
    child = Supervised([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "c.log")
    child.start()
    pid = child.pid
    started = time.monotonic()
    child.stop(timeout=5)
    assert time.monotonic() - started < 5
    assert child.restarts == 0 and child.pid == pid
    assert child._process is not None and child._process.poll() is not None
