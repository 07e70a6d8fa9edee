"""Fetching engine artifacts from Maven Central with the machine's `mvn`.

Maven keeps its own repository inside the eventpipe cache, so the cache holds
everything the engines need and deleting it resets them. Maven's own log is kept
back (it is shown if Maven fails); what the user sees is a running count of the
files and megabytes downloaded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from deploy.engines.errors import EngineError

DOWNLOADED = re.compile(r"Downloaded from \S+: \S+/([^/\s]+) \(([\d.]+) (B|kB|MB|GB)")
UNITS = {"B": 1e-6, "kB": 1e-3, "MB": 1.0, "GB": 1e3}


def run_maven(args: Sequence[str], *, cache_dir: Path) -> None:
    """Run one Maven goal showing compact download progress; raise EngineError on failure."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EngineError("Maven (`mvn`) is needed to fetch the engines; install it first")
    argv = [mvn, "--batch-mode", f"-Dmaven.repo.local={cache_dir / 'maven'}", *args]
    output: list[str] = []
    files, megabytes = 0, 0.0
    tty = sys.stdout.isatty()
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            match = DOWNLOADED.search(line)
            if not match:
                continue
            files += 1
            megabytes += float(match.group(2)) * UNITS[match.group(3)]
            progress = f"  downloaded {files} files, {megabytes:.1f} MB ({match.group(1)})"
            if tty:
                print(f"\r{progress[:100]:<100}", end="", flush=True)
            elif match.group(3) in ("MB", "GB"):
                print(progress, flush=True)
    if tty and files:
        print()
    if proc.returncode != 0:
        tail = "".join(output[-40:])
        raise EngineError(f"Maven failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")


def copy_artifact(coordinates: str, *, dest: Path, cache_dir: Path) -> Path:
    """Copy one artifact (`group:artifact:version[:type]`) into `dest`; return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    run_maven(
        [
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
            f"-Dartifact={coordinates}",
            f"-DoutputDirectory={dest}",
        ],
        cache_dir=cache_dir,
    )
    _group, artifact, version, *rest = coordinates.split(":")
    kind = rest[0] if rest else "jar"
    return dest / f"{artifact}-{version}.{kind}"


def copy_dependencies(
    pom: Path, *, dest: Path, cache_dir: Path, properties: dict[str, str]
) -> None:
    """Copy a pom's runtime dependency closure into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    run_maven(
        [
            "-f",
            str(pom),
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={dest}",
            *(f"-D{key}={value}" for key, value in properties.items()),
        ],
        cache_dir=cache_dir,
    )
