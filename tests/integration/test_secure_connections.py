"""The pipeline against secured engines: Kafka over SASL_SSL (SCRAM), Elasticsearch over HTTPS
with an API key; wrong settings fail fast, `eventpipe check` names the cause, no secret leaks."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from deploy.engines.certificates import new_ca
from deploy.engines.secure import SecureFiles, client_environment, create_api_key
from query_api.rest.app import create_app
from schemas.privileges import role_descriptor
from schemas.settings import Settings
from tests.integration.pipeline import (
    ROOT,
    pipeline_settings,
    running_pipeline,
    settings_environment,
)

FAST = 30.0  # seconds a wrong setting may take to be reported: "fails fast", not a hang


def elastic_password(settings: Settings) -> str:
    assert settings.elasticsearch.password is not None
    return settings.elasticsearch.password.get_secret_value()


def api_key_for(settings: Settings, secure: Settings, role: dict[str, Any], name: str) -> str:
    """An API key made by `elastic` with `role`, in its encoded form."""
    ca = settings.elasticsearch.ca_certs
    assert ca is not None
    return create_api_key(settings.elasticsearch.url, ca, elastic_password(secure), name, role)


def with_api_key(settings: Settings, key: str) -> Settings:
    """`settings` authenticating to Elasticsearch with `key` only (no password)."""
    changed = settings.model_copy(deep=True)
    changed.elasticsearch.api_key = SecretStr(key)
    changed.elasticsearch.password = None
    return changed


def secrets_of(settings: Settings, *more: str) -> list[str]:
    """Every secret value the settings hold, and the parts of an encoded API key."""
    import base64

    values = [s.get_secret_value() for s in (settings.kafka.password,
              settings.elasticsearch.api_key, settings.elasticsearch.password) if s]  # fmt: skip
    values += more
    for value in list(values):
        try:
            values += base64.b64decode(value, validate=True).decode().split(":")
        except ValueError:
            pass
    return [value for value in values if len(value) >= 8]


async def run_cli(settings: Settings, *args: str) -> tuple[int, str, float]:
    """`eventpipe ARGS` with `settings` in its environment: (exit code, output, seconds)."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", *args, cwd=ROOT, env=settings_environment(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with asyncio.timeout(90):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        raise
    return int(proc.returncode or 0), out.decode(), time.monotonic() - started


async def test_pipeline_over_sasl_ssl_and_https_with_an_api_key(
    secure_settings: Settings, unique_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every log line of this process is scanned for secrets
    named = pipeline_settings(secure_settings, unique_name)
    key = api_key_for(named, secure_settings, role_descriptor(named.indices), unique_name)
    settings = with_api_key(named, key)
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert settings.elasticsearch.url.startswith("https://")

    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        ready = (await pipeline.http.get("/readyz")).json()
        assert ready == {"status": "ready", "elasticsearch": "ok"}, ready
        webhook = await pipeline.create_webhook("standard")
        path = f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"
        for i in range(3):
            body = {"event_key": f"secure-{i}", "title": f"over TLS {i}", "severity": "ERROR"}
            response = await pipeline.http.post(path, json=body)
            assert response.status_code == 200, response.text

        found: dict[str, Any] = {}

        async def listed() -> bool:
            found.update(await pipeline.list_events())
            return int(found["total_count"]) >= 3

        await pipeline.wait_for(listed, 90, "3 events through the secured pipeline")
        assert sorted(e["title"] for e in found["results"]) == [f"over TLS {i}" for i in range(3)]

        # What the intake put on the topic: no secret in a header or a value.
        consumer = AIOKafkaConsumer(settings.topics.raw, **settings.kafka.client_options(),
                                    auto_offset_reset="earliest")  # fmt: skip
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=5000)
        finally:
            await consumer.stop()
        records = [r for batch in batches.values() for r in batch]
        assert len(records) == 3
        readyz = (await pipeline.http.get("/readyz")).text
        worker_log = pipeline.worker.log

    carried = [repr(r.headers) + repr(r.value) for r in records]
    logged = [record.getMessage() for record in caplog.records]
    worker_lines = worker_log.read_text(errors="replace")
    assert worker_lines.strip(), "the worker logged nothing: the scan would prove nothing"
    secrets = secrets_of(settings, elastic_password(secure_settings))
    assert len(secrets) == 5  # Kafka password, elastic password, API key, its id and key
    # Counts, not the lines: a failing assertion must not print the secret itself.
    for secret in secrets:
        assert sum(secret in line for line in logged) == 0, "a secret in a log line"
        assert worker_lines.count(secret) == 0, f"a secret in the worker log {worker_log}"
        assert sum(secret in text for text in carried) == 0, "a secret in a Kafka record"
        assert readyz.count(secret) == 0, "a secret in /readyz"


async def test_printed_engine_settings_hold_no_secret(secure_settings: Settings) -> None:
    env = client_environment(secure_settings.engines)
    files = SecureFiles.of(secure_settings.engines)
    printed = "\n".join(f"{name}={value}" for name, value in env.items())
    assert env["EVENTPIPE_KAFKA__PASSWORD_FILE"] == str(files.kafka_password)
    for secret_file in (files.kafka_password, files.api_key, files.elastic_password):
        assert secret_file.stat().st_mode & 0o077 == 0, f"{secret_file} readable by others"
        assert secret_file.read_text().strip() not in printed
    # The printed settings work as they are: `eventpipe check` with them passes Kafka and ES.
    code, out, _ = await run_cli(Settings.model_validate(_groups(env)), "check", "--json")
    findings = json.loads(out)
    # Only the default topics may be missing (no worker ran with these names here).
    failed = [f["summary"] for f in findings if not f["ok"]]
    assert code == (1 if failed else 0) and all(s.startswith("topic missing") for s in failed)
    assert [f["summary"] for f in findings if f["dependency"] == "elasticsearch"] == [
        f"connected to {env['EVENTPIPE_ELASTICSEARCH__URL']} as API key eventpipe, privileges held"
    ]
    assert any(f["ok"] and "SASL_SSL" in f["summary"] for f in findings)

    # --help, with the secrets in the environment, shows none of them.
    settings = Settings.model_validate(_groups(env))
    for args in (["--help"], ["check", "--help"], ["engines", "--help"], ["worker", "--help"]):
        code, out, _ = await run_cli(settings, *args)
        assert code == 0 and "usage:" in out
        assert sum(out.count(s) for s in secrets_of(settings)) == 0


def _groups(env: dict[str, str]) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        group, key = name.removeprefix("EVENTPIPE_").lower().split("__")
        data.setdefault(group, {})[key] = value
    return data


def _other_ca(tmp_path: Path) -> Path:
    path = tmp_path / "other-ca.crt"
    path.write_bytes(new_ca("not the engines' CA").certificate_pem)
    return path


WRONG_SETTINGS = {
    # name: (what to change, dependency, words the finding must say)
    "kafka wrong password": (
        {"kafka": {"password": "not-the-password"}}, "kafka", "authentication failed"),
    "kafka wrong CA": ({"kafka": {"ca_file": "OTHER_CA"}}, "kafka", "not signed by a trusted CA"),
    "kafka plaintext against TLS": (
        {"kafka": {"security_protocol": "PLAINTEXT"}}, "kafka", "expects TLS"),
    "elasticsearch wrong CA": (
        {"elasticsearch": {"ca_certs": "OTHER_CA"}}, "elasticsearch", "not signed by a trusted CA"),
    "elasticsearch plain HTTP against HTTPS": (
        {"elasticsearch": {"url": "HTTP_URL", "ca_certs": None}}, "elasticsearch",
        "expects HTTPS"),
    "elasticsearch key without privileges": (
        {"elasticsearch": {"api_key": "READ_ONLY_KEY"}}, "elasticsearch", "lacks privileges"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(WRONG_SETTINGS))
async def test_a_wrong_setting_fails_fast_and_check_names_it(
    secure_settings: Settings, unique_name: str, tmp_path: Path, case: str
) -> None:
    change, dependency, words = WRONG_SETTINGS[case]
    named = pipeline_settings(secure_settings, unique_name)
    good_key = api_key_for(named, secure_settings, role_descriptor(named.indices), unique_name)
    data = with_api_key(named, good_key).model_dump()
    replacements: dict[str, Any] = {
        "OTHER_CA": str(_other_ca(tmp_path)),
        "HTTP_URL": named.elasticsearch.url.replace("https://", "http://"),
    }
    if "READ_ONLY_KEY" in json.dumps(change):
        read_only = {"cluster": [], "indices": [{"names": ["*"], "privileges": ["read"]}]}
        replacements["READ_ONLY_KEY"] = api_key_for(named, secure_settings, read_only, "ro")
    for group, values in change.items():
        for key, value in values.items():
            data[group][key] = replacements.get(value, value) if isinstance(value, str) else value
    data["kafka"]["password"] = data["kafka"]["password"] or named.kafka.password
    bad = Settings.model_validate(_plain(data))

    code, out, seconds = await run_cli(bad, "check", "--json")
    findings = [f for f in json.loads(out) if f["dependency"] == dependency and not f["ok"]]
    assert code == 1 and seconds < FAST, (code, seconds, out)
    assert len(findings) == 1 and words in findings[0]["summary"], out
    assert findings[0]["permanent"], "a wrong setting must not be retried forever"

    code, out, seconds = await run_cli(bad, "worker")
    assert code == 78 and seconds < FAST, (code, seconds, out[-2000:])
    assert words in out and "Traceback" not in out, out[-2000:]
    assert sum(out.count(s) for s in secrets_of(bad, elastic_password(secure_settings))) == 0


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return value

    return dict(plain(data))


async def test_a_bearer_token_over_https(secure_settings: Settings, unique_name: str) -> None:
    """A service account token (a basic-license bearer token): it authenticates, and check
    says what the account may not do."""
    from deploy.check import check_elasticsearch
    from deploy.engines.secure import elastic_request

    es = secure_settings.elasticsearch
    assert es.ca_certs is not None
    path = f"/_security/service/elastic/fleet-server/credential/token/{unique_name}"
    answer = elastic_request(es.url, es.ca_certs, elastic_password(secure_settings), "POST", path)
    token = answer["token"]["value"]
    with_token = secure_settings.model_copy(deep=True)
    with_token.elasticsearch.bearer_token = SecretStr(token)
    with_token.elasticsearch.password = None
    assert "bearer_auth" in with_token.elasticsearch.client_options()
    [finding] = await check_elasticsearch(with_token)
    assert not finding.ok and "user elastic/fleet-server" in finding.summary
    assert "lacks privileges" in finding.summary and token not in finding.summary
    with_token.elasticsearch.bearer_token = SecretStr(token[:-4] + "AAAA")
    [finding] = await check_elasticsearch(with_token)
    assert not finding.ok and "the bearer token was rejected" in finding.summary


async def test_intake_with_a_wrong_kafka_password_answers_503_at_once(
    secure_settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(secure_settings, unique_name, tmp_path, start_worker=False) as good:
        webhook = await good.create_webhook("standard")
        wrong = good.settings.model_copy(deep=True)
        wrong.kafka.password = SecretStr("not-the-password")
        app = create_app(wrong)  # the same indices, the wrong Kafka password
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
                path = (f"/monitoring/v1/webhook/{webhook['webhook_id']}/"
                        f"{webhook['access_key']}/events")  # fmt: skip
                started = time.monotonic()
                response = await http.post(path, json={"event_key": "k", "title": "t"})
                assert response.status_code == 503 and time.monotonic() - started < 5
                assert response.json()["error"]["code"] == "ERROR_UNAVAILABLE"
                assert (await http.get("/readyz")).status_code == 503
