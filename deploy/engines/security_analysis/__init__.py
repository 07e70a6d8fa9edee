"""The analysis components the `.security` index needs, as a small stable plugin.

The `integ-test-zip` distribution leaves out the `analysis-common` module, and the
`.security` index (where API keys live) is made with an `email` analyzer built from
three of its components: `uax_url_email`, `pattern_capture` and `unique`. This
plugin supplies them from the Lucene classes the distribution already ships,
compiled here with the JDK's `javac`. Only the secured node loads it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import zipfile
from importlib.resources import as_file, files
from pathlib import Path

from deploy.engines.errors import EngineError

NAME = "eventpipe-security-analysis"
COMPONENTS = {
    "org.elasticsearch.plugin.analysis.TokenFilterFactory": {
        "pattern_capture": "org.eventpipe.analysis.PatternCaptureTokenFilter",
        "unique": "org.eventpipe.analysis.UniqueTokenFilter",
    },
    "org.elasticsearch.plugin.analysis.TokenizerFactory": {
        "uax_url_email": "org.eventpipe.analysis.UaxUrlEmailTokenizer",
    },
}


def descriptor(es_version: str, java_release: int) -> str:
    return (
        "description=The analysis components of the .security index (eventpipe's secure node)\n"
        f"version={es_version}\n"
        f"name={NAME}\n"
        f"java.version={java_release}\n"
        f"elasticsearch.version={es_version}\n"
    )


def install(es_home: Path, es_version: str, java_home: Path) -> None:
    """Compile the plugin against the distribution's jars into `es_home/plugins/NAME`."""
    target = es_home / "plugins" / NAME
    if (target / f"{NAME}.jar").is_file():
        return
    javac = java_home / "bin" / "javac"
    if not javac.exists():
        raise EngineError(f"the secured node needs a JDK with javac; {java_home} has none")
    classpath = ":".join(str(jar) for jar in sorted((es_home / "lib").glob("*.jar")))
    with tempfile.TemporaryDirectory() as work, as_file(files(__package__)) as sources:
        java_files = sorted(str(p) for p in Path(sources).rglob("*.java"))
        done = subprocess.run(
            [str(javac), "--release", "21", "-cp", classpath, "-d", work, *java_files],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise EngineError(f"compiling the security analysis plugin failed:\n{done.stderr}")
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target / f"{NAME}.jar", "w") as jar:
            for path in sorted(Path(work).rglob("*.class")):
                jar.write(path, path.relative_to(work).as_posix())
    (target / "stable-plugin-descriptor.properties").write_text(descriptor(es_version, 21))
    (target / "named_components.json").write_text(json.dumps(COMPONENTS, indent=2))
