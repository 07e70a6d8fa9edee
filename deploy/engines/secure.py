"""What the secured local engines share: certificates, generated secrets, client settings.

Everything lives in `<cache>/secure/`, owner-readable: the local CA and the loopback
server certificate, the SCRAM passwords of the broker's users, the `elastic`
password and an API key for eventpipe. Clients get file references (`…_FILE`), so
printing the settings prints no secret.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.engines.certificates import CertificateFiles, ensure_certificates
from deploy.engines.errors import EngineError
from deploy.engines.kafka import SecureBroker
from schemas.privileges import role_descriptor
from schemas.settings import EngineSettings, IndexSettings, KafkaSettings, Settings

KAFKA_USER = "eventpipe"
BROKER_USER = "broker"
SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class SecureFiles:
    """Where the secured engines' certificates and secrets are kept."""

    directory: Path

    @classmethod
    def of(cls, engines: EngineSettings) -> SecureFiles:
        return cls(engines.secure_dir)

    @property
    def certificates(self) -> CertificateFiles:
        return CertificateFiles(self.directory / "certs")

    @property
    def kafka_keystore(self) -> Path:
        return self.directory / "certs" / "kafka-keystore.pem"

    @property
    def kafka_password(self) -> Path:
        return self.directory / "kafka-password"

    @property
    def broker_password(self) -> Path:
        return self.directory / "kafka-broker-password"

    @property
    def elastic_password(self) -> Path:
        return self.directory / "elastic-password"

    @property
    def api_key(self) -> Path:
        return self.directory / "elasticsearch-api-key"

    @property
    def api_key_role(self) -> Path:
        """The role the cached API key was made with (a new role makes a new key)."""
        return self.directory / "elasticsearch-api-key.role.json"

    @property
    def env_file(self) -> Path:
        return self.directory / "eventpipe.env"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def ensure_secret(path: Path) -> str:
    """The secret kept in `path`, generated on first use."""
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(18) + "\n")
    return path.read_text().strip()


def secure_broker(engines: EngineSettings) -> SecureBroker:
    """The secured broker's TLS files and SCRAM users, made on first use."""
    files = SecureFiles.of(engines)
    certificates = ensure_certificates(files.certificates.directory)
    if not files.kafka_keystore.is_file():
        write_private(
            files.kafka_keystore,
            certificates.server_key.read_text() + certificates.server_certificate.read_text(),
        )
    return SecureBroker(
        keystore=files.kafka_keystore,
        ca_file=certificates.ca_certificate,
        broker_user=BROKER_USER,
        broker_password=ensure_secret(files.broker_password),
        users={KAFKA_USER: ensure_secret(files.kafka_password)},
    )


def client_environment(engines: EngineSettings, api_key: bool = True) -> dict[str, str]:
    """The EVENTPIPE_* variables that point eventpipe at the secured engines (no secrets)."""
    files = SecureFiles.of(engines)
    ca = str(files.certificates.ca_certificate)
    env = {
        "EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{engines.secure_kafka_port}",
        "EVENTPIPE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "EVENTPIPE_KAFKA__SASL_MECHANISM": SCRAM_MECHANISM,
        "EVENTPIPE_KAFKA__USERNAME": KAFKA_USER,
        "EVENTPIPE_KAFKA__PASSWORD_FILE": str(files.kafka_password),
        "EVENTPIPE_KAFKA__CA_FILE": ca,
        "EVENTPIPE_ELASTICSEARCH__URL": f"https://127.0.0.1:{engines.secure_elasticsearch_port}",
        "EVENTPIPE_ELASTICSEARCH__CA_CERTS": ca,
    }
    if api_key:
        env["EVENTPIPE_ELASTICSEARCH__API_KEY_FILE"] = str(files.api_key)
    else:
        env["EVENTPIPE_ELASTICSEARCH__PASSWORD_FILE"] = str(files.elastic_password)
    return env


def kafka_settings(engines: EngineSettings) -> KafkaSettings:
    """The Kafka client settings of the secured broker (SASL_SSL, SCRAM, the local CA)."""
    return client_settings(engines).kafka


def client_settings(engines: EngineSettings, api_key: bool = False) -> Settings:
    """Settings for the secured engines (as `elastic`, or with the API key `up` made)."""
    data: dict[str, dict[str, Any]] = {"kafka": {}, "elasticsearch": {}}
    for name, value in client_environment(engines, api_key).items():
        group, key = name.removeprefix("EVENTPIPE_").lower().split("__")
        if key.endswith("_file") and not Path(value).is_file():
            continue  # not made yet (the node has not started): the group is used without it
        data[group][key] = value
    data["engines"] = engines.model_dump()
    return Settings.model_validate(data)


def elastic_request(
    url: str, ca_file: Path, password: str, method: str, path: str, body: Any = None
) -> Any:
    """One request to the secured node as `elastic` (engine set-up, before any client)."""
    request = urllib.request.Request(
        url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    token = base64.b64encode(f"elastic:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise EngineError(
            f"{method} {path} answered {error.code}: {error.read()[:300]!r}"
        ) from None


def create_api_key(url: str, ca_file: Path, password: str, name: str, role: dict[str, Any]) -> str:
    """A new API key with `role`'s privileges, in its encoded form."""
    answer = elastic_request(
        url, ca_file, password, "POST", "/_security/api_key",
        {"name": name, "role_descriptors": {"eventpipe": role}},
    )  # fmt: skip
    return str(answer["encoded"])


def ensure_api_key(engines: EngineSettings, url: str, password: str) -> None:
    """The API key for eventpipe's default indices, kept in the cache; made again when the
    role eventpipe needs changed (a version with more indices), so a cached key never
    lacks a privilege. The key file is replaced in one step: a reader sees one key or
    the other, both valid."""
    files = SecureFiles.of(engines)
    role = role_descriptor(IndexSettings())
    wanted = json.dumps(role, sort_keys=True)
    if files.api_key.is_file() and files.api_key_role.is_file():
        if files.api_key_role.read_text().strip() == wanted:
            return
    key = create_api_key(url, files.certificates.ca_certificate, password, "eventpipe", role)
    for path, text in ((files.api_key_role, wanted), (files.api_key, key)):
        fresh = path.with_name(path.name + ".new")
        write_private(fresh, text + "\n")
        os.replace(fresh, path)


def write_env_file(engines: EngineSettings) -> Path:
    """`<cache>/secure/eventpipe.env`, for `set -a; . FILE; set +a`."""
    files = SecureFiles.of(engines)
    lines = [f"{name}={value}" for name, value in client_environment(engines).items()]
    write_private(files.env_file, "\n".join(lines) + "\n")
    return files.env_file
