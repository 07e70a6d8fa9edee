"""Settings come from EVENTPIPE_* variables and default to the local engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.settings import Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the variables it sets, not the caller's EVENTPIPE_*."""
    import os

    for name in [n for n in os.environ if n.startswith("EVENTPIPE_")]:
        monkeypatch.delenv(name)


def test_defaults_match_local_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVENTPIPE_ENGINES__CACHE_DIR", str(tmp_path))
    settings = Settings()
    assert settings.kafka.bootstrap_servers == f"127.0.0.1:{settings.engines.kafka_port}"
    assert settings.elasticsearch.url == f"http://127.0.0.1:{settings.engines.elasticsearch_port}"
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8000)
    assert settings.elasticsearch.password is None
    assert "basic_auth" not in settings.elasticsearch.client_options()


def test_nested_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS", "broker:29092")
    monkeypatch.setenv("EVENTPIPE_TOPICS__RAW", "custom.raw")
    monkeypatch.setenv("EVENTPIPE_ELASTICSEARCH__PASSWORD", "s3cret")
    monkeypatch.setenv("EVENTPIPE_API__PORT", "9000")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "broker:29092"
    assert settings.topics.raw == "custom.raw"
    assert settings.topics.normalized == "events.normalized"
    assert settings.api.port == 9000
    assert settings.elasticsearch.client_options()["basic_auth"] == ("elastic", "s3cret")


def test_local_node_password_is_picked_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVENTPIPE_ENGINES__CACHE_DIR", str(tmp_path))
    secret = tmp_path / "elasticsearch" / "elastic-password"
    secret.parent.mkdir()
    secret.write_text("generated-pw\n")
    assert Settings().elasticsearch.client_options()["basic_auth"] == ("elastic", "generated-pw")


def test_bad_values_fail_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTPIPE_TOPICS__PARTITIONS", "0")
    with pytest.raises(ValueError, match="partitions"):
        Settings()
