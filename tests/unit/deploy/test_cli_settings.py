"""Every command refuses settings that cannot work the same way: one line on stderr naming
the variable and what is wrong, exit 78 (EX_CONFIG), no traceback, before touching anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = [["api"], ["intake"], ["worker"], ["check"], ["up"], ["demo"], ["apikey", "list"],
            ["webhook", "list"], ["engines", "status"]]  # fmt: skip
SECRET = "s3cr3t-kafka-pw"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_incomplete_setting_is_one_line_and_exit_78(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPIPE_")}
    env |= {"EVENTPIPE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL", "EVENTPIPE_KAFKA__PASSWORD": SECRET}
    done = subprocess.run(
        [sys.executable, "-m", "deploy.cli", *command],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 78, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "EVENTPIPE_KAFKA__USERNAME" in lines[0] and "needs a username" in lines[0]
    assert SECRET not in done.stderr + done.stdout


def test_a_wrong_value_names_its_variable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPIPE_")}
    env["EVENTPIPE_TOPICS__PARTITIONS"] = "zero"
    done = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "api"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 78, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "EVENTPIPE_TOPICS__PARTITIONS: " in line and "integer" in line
