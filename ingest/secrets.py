"""The secret the intake signs records with and the processor verifies them by."""

from __future__ import annotations

import os
import secrets

from schemas.settings import Settings


def signing_secret(settings: Settings) -> bytes:
    """The configured secret, else the local one (created on first use, owner-readable only)."""
    if settings.ingest.signing_secret is not None:
        return settings.ingest.signing_secret.get_secret_value().encode()
    path = settings.engines.signing_secret_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
        try:
            os.link(draft, path)  # atomic: the first process to get here wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip().encode()
