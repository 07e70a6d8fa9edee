"""API keys: format, hashing, constant-time check, and the domain a caller may read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from query_api.rest.errors import ApiError
from query_api.services.apikeys import domain_scope, hash_secret, new_key, secret_matches, split_key
from schemas.apikey import ApiKeyRecord, Caller


def test_new_key_round_trips_and_is_unique() -> None:
    plain, key_id, secret = new_key()
    assert split_key(plain) == (key_id, secret)
    assert split_key(f"  {plain}\n") == (key_id, secret)
    assert len(secret) >= 40 and len(key_id) == 12
    assert new_key()[0] != plain


@pytest.mark.parametrize(
    "bad", ["", "ep_", "ep_0123456789ab_", "xx_0123456789ab_" + "a" * 40, "ep_XYZ_" + "a" * 40]
)
def test_malformed_keys_are_refused(bad: str) -> None:
    assert split_key(bad) is None


def test_only_the_hash_is_kept_and_checked() -> None:
    _, key_id, secret = new_key()
    record = ApiKeyRecord(
        key_id=key_id,
        secret_sha256=hash_secret(secret),
        domain_id="domain-1",
        created_at=datetime.now(UTC),
    )
    assert secret not in record.model_dump_json()
    assert secret_matches(secret, record)
    assert not secret_matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), record)


def test_domain_key_reads_only_its_domain() -> None:
    caller = Caller(key_id="k", domain_id="domain-1")
    assert domain_scope(caller, None) == "domain-1"
    assert domain_scope(caller, "domain-1") == "domain-1"
    with pytest.raises(ApiError) as refused:
        domain_scope(caller, "domain-2")
    assert (refused.value.status, refused.value.code) == (403, "ERROR_PERMISSION_DENIED")


def test_admin_key_chooses_a_domain_or_all() -> None:
    admin = Caller(key_id="k", domain_id=None)
    assert domain_scope(admin, None) is None
    assert domain_scope(admin, "domain-2") == "domain-2"
