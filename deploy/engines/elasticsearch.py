"""The local Elasticsearch node: one node, loopback only, security on.

Runs the official `integ-test-zip` distribution from Maven Central on a JDK 21+.
Elasticsearch refuses to run as root, so when we are root the node runs as an
unprivileged user created for it, and its files live in that user's own cache
(the root user's home is closed to other users). The `elastic` user's password is
generated on first start, put in the node's keystore (`bootstrap.password`) and
kept, readable by the owner only, in the eventpipe cache, where the settings
find it.

The secured variant (`engines up --secure`) is a second node from the same
distribution, with its own config folder (`ES_PATH_CONF`), data, ports and
password, and TLS on HTTP with a certificate of the project's local CA.
"""

from __future__ import annotations

import base64
import os
import pwd
import secrets
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from deploy.engines import security_analysis
from deploy.engines.certificates import CertificateFiles
from deploy.engines.errors import EngineError
from deploy.engines.maven import copy_artifact
from deploy.engines.process import PidFile
from schemas.settings import EngineSettings

ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"


@dataclass(frozen=True)
class ElasticsearchLayout:
    """Where the node's distribution, data, logs, pid file and password live."""

    user: str | None  # None: run as the current (non-root) user
    home: Path  # the unpacked distribution
    data: Path
    logs: Path
    launcher_log: Path
    pid_file: PidFile
    password_file: Path
    config: Path  # the node's config folder (the distribution's own for the plain node)
    port: int
    transport_port: int
    heap: str
    ca_file: Path | None  # set for the secured node: HTTPS, certificates of this CA

    @classmethod
    def of(cls, engines: EngineSettings, secure: bool = False) -> ElasticsearchLayout:
        user = engines.elasticsearch_user if os.geteuid() == 0 else None
        node_cache = _home_of(user) / ".cache" / "eventpipe" if user else engines.cache_dir
        home = node_cache / f"elasticsearch-{engines.elasticsearch_version}"
        if secure:
            state = engines.cache_dir / "elasticsearch-secure"
            node_dir = node_cache / "elasticsearch-secure"
            return cls(
                user=user,
                # Its own copy (hard links) of the distribution: it adds a plugin.
                home=home.with_name(home.name + "-secure"),
                data=node_dir / "data",
                logs=node_dir / "logs",
                launcher_log=state / "logs" / "elasticsearch.out",
                pid_file=PidFile(state / "elasticsearch.pid", marker=SECURE_NODE_FLAG),
                password_file=engines.secure_dir / "elastic-password",
                config=node_dir / "config",
                port=engines.secure_elasticsearch_port,
                transport_port=engines.secure_elasticsearch_transport_port,
                heap=engines.secure_elasticsearch_heap,
                ca_file=engines.secure_dir / "certs" / "ca.crt",
            )
        state = engines.cache_dir / "elasticsearch"
        return cls(
            user=user,
            home=home,
            data=node_cache / "elasticsearch" / "data",
            logs=node_cache / "elasticsearch" / "logs",
            launcher_log=state / "logs" / "elasticsearch.out",
            pid_file=PidFile(state / "elasticsearch.pid", marker=str(home)),
            password_file=engines.elastic_password_file,
            config=home / "config",
            port=engines.elasticsearch_port,
            transport_port=engines.elasticsearch_transport_port,
            heap=engines.elasticsearch_heap,
            ca_file=None,
        )

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://127.0.0.1:{self.port}"


# On the secured node's command line: names it, and tells its pid file it is this node.
SECURE_NODE_FLAG = "-Enode.name=eventpipe-secure"


def _home_of(user: str) -> Path:
    try:
        return Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        return Path("/home") / user


def ensure_user(layout: ElasticsearchLayout) -> None:
    """Create the unprivileged system user the node runs as (only when we are root)."""
    if layout.user is None:
        return
    try:
        pwd.getpwnam(layout.user)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    done = subprocess.run(
        [useradd, "--system", "--create-home", "--home-dir", str(_home_of(layout.user)),
         "--shell", "/usr/sbin/nologin", layout.user],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise EngineError(f"could not create user {layout.user!r}: {done.stderr.strip()}")


def _chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, names in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + names:
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _extract(archive: Path, dest: Path) -> None:
    """Unzip keeping the Unix modes (zipfile drops them, the bin/ scripts need them)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)


def fetch(engines: EngineSettings, layout: ElasticsearchLayout) -> None:
    """Download and unpack the distribution unless it is there already."""
    if (layout.home / "bin" / "elasticsearch").exists():
        return
    version = engines.elasticsearch_version
    print(f"fetching Elasticsearch {version} (about 130 MB, first run only)")
    downloads = engines.cache_dir / "downloads"
    archive = copy_artifact(
        ARTIFACT.format(version=version), dest=downloads, cache_dir=engines.cache_dir
    )
    staging = layout.home.with_name(layout.home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    print(f"unpacking {archive.name}")
    _extract(archive, staging)
    archive.unlink()
    (staging / f"elasticsearch-{version}").rename(layout.home)
    staging.rmdir()
    _chown_tree(layout.home.parent, layout.user)


def render_config(engines: EngineSettings, layout: ElasticsearchLayout) -> str:
    """elasticsearch.yml for one loopback node with security on; HTTPS for the secured one."""
    settings = {
        "cluster.name": "eventpipe-secure" if layout.ca_file else "eventpipe-local",
        "node.name": "eventpipe-local",
        "path.data": str(layout.data),
        "path.logs": str(layout.logs),
        "network.host": "127.0.0.1",
        "http.port": str(layout.port),
        "transport.port": str(layout.transport_port),
        "discovery.type": "single-node",
        "xpack.security.enabled": "true",
        # Loopback only, so plain HTTP; the credentials are still checked.
        "xpack.security.http.ssl.enabled": "false",
        "xpack.security.transport.ssl.enabled": "false",
        # A shared developer disk must not turn the indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    if layout.ca_file:
        del settings["node.name"]  # given on the command line (SECURE_NODE_FLAG)
        settings.update({
            "xpack.security.http.ssl.enabled": "true",
            "xpack.security.http.ssl.key": "certs/server.key",
            "xpack.security.http.ssl.certificate": "certs/server.crt",
            "xpack.security.http.ssl.certificate_authorities": "certs/ca.crt",
        })  # fmt: skip
    return "".join(f"{key}: {value}\n" for key, value in settings.items())


def _tool_env(layout: ElasticsearchLayout, java_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_", "JAVA_"))}
    env["ES_JAVA_HOME"] = str(java_home)
    if layout.config != layout.home / "config":  # a node with a config folder of its own
        env["ES_PATH_CONF"] = str(layout.config)
    return env


def prepare_secure_home(
    engines: EngineSettings, layout: ElasticsearchLayout, java_home: Path
) -> None:
    """The secured node's distribution: hard links to the plain one's, plus its plugin."""
    plain = ElasticsearchLayout.of(engines).home
    if not (layout.home / "bin" / "elasticsearch").exists():
        staging = layout.home.with_name(layout.home.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        done = subprocess.run(["cp", "-al", str(plain), str(staging)], capture_output=True,
                              text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise EngineError(f"copying {plain} failed: {done.stderr.strip()}")
        staging.rename(layout.home)
    security_analysis.install(layout.home, engines.elasticsearch_version, java_home)
    _chown_tree(layout.home / "plugins", layout.user)


def prepare_own_config(layout: ElasticsearchLayout) -> None:
    """A node's own config folder: the distribution's defaults, without its keystore."""
    if not (layout.config / "jvm.options").exists():
        shutil.copytree(
            layout.home / "config",
            layout.config,
            ignore=shutil.ignore_patterns("elasticsearch.keystore", "elasticsearch.yml"),
            dirs_exist_ok=True,
        )


def _prepare_secure_config(layout: ElasticsearchLayout, certificates: CertificateFiles) -> None:
    """The secured node's own config folder: the distribution's defaults and the certificates."""
    prepare_own_config(layout)
    certs = layout.config / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(certificates.ca_certificate, certs / "ca.crt")
    shutil.copyfile(certificates.server_certificate, certs / "server.crt")
    (certs / "server.key").touch(mode=0o600)
    shutil.copyfile(certificates.server_key, certs / "server.key")


def configure(
    engines: EngineSettings,
    layout: ElasticsearchLayout,
    java_home: Path,
    certificates: CertificateFiles | None = None,
    *,
    config_text: str | None = None,
) -> str:
    """Write the config and, on first start, the password; return the password.

    `config_text`: the elasticsearch.yml of a node of a multi-node cluster (its own config
    folder, made here); the password is then the cluster's, shared by every node.
    """
    config = layout.config
    if certificates is not None:
        _prepare_secure_config(layout, certificates)
    elif config_text is not None:
        prepare_own_config(layout)
    (config / "elasticsearch.yml").write_text(config_text or render_config(engines, layout))
    heap = layout.heap
    (config / "jvm.options.d" / "eventpipe.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")
    for path in (layout.data, layout.logs):
        path.mkdir(parents=True, exist_ok=True)
    _chown_tree(layout.data.parent, layout.user)
    _chown_tree(config, layout.user)

    keystore = config / "elasticsearch.keystore"
    if layout.password_file.is_file() and keystore.exists():
        return layout.password_file.read_text().strip()
    if layout.password_file.is_file() and config_text is not None:
        password = layout.password_file.read_text().strip()  # another node made it
    else:
        password = secrets.token_urlsafe(18)
    tool = str(layout.home / "bin" / "elasticsearch-keystore")
    env = _tool_env(layout, java_home)
    if not keystore.exists():
        _run_as(layout, [tool, "create"], env=env)
    _run_as(layout, [tool, "add", "--force", "--stdin", "bootstrap.password"], env=env,
            stdin=password)  # fmt: skip
    layout.password_file.parent.mkdir(parents=True, exist_ok=True)
    layout.password_file.touch(mode=0o600)
    layout.password_file.write_text(password + "\n")
    return password


def _run_as(
    layout: ElasticsearchLayout, argv: list[str], *, env: dict[str, str], stdin: str = ""
) -> None:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, cwd=layout.home,
        user=layout.user, group=_gid(layout.user), extra_groups=[] if layout.user else None,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise EngineError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")


def _gid(user: str | None) -> int | None:
    return pwd.getpwnam(user).pw_gid if user else None


def command(layout: ElasticsearchLayout) -> list[str]:
    flags = [SECURE_NODE_FLAG] if layout.ca_file else []
    return [str(layout.home / "bin" / "elasticsearch"), *flags]


def environment(layout: ElasticsearchLayout, java_home: Path) -> dict[str, str]:
    env = _tool_env(layout, java_home)
    if layout.user:
        env["HOME"] = str(_home_of(layout.user))
        env["USER"] = env["LOGNAME"] = layout.user
    return env


def health(layout: ElasticsearchLayout, password: str | None) -> str | None:
    """The cluster health status (green/yellow/red), or None when the node does not answer."""
    request = urllib.request.Request(f"{layout.url}/_cluster/health")
    if password:
        token = base64.b64encode(f"elastic:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=str(layout.ca_file)) if layout.ca_file else None
    try:
        with urllib.request.urlopen(request, timeout=3, context=context) as response:
            import json

            return str(json.load(response).get("status"))
    except (urllib.error.URLError, OSError, ValueError):
        return None
