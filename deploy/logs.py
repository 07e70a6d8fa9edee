"""Log records as one JSON object per line, for the services (API and worker).

Nothing a client sent reaches a line in full: every message and traceback passes
`scrub`, which masks access keys in webhook URLs, API keys (`ep_<id>_<secret>`) and
`X-Access-Key` / `Authorization` values, and cuts what is left to `MAX_MESSAGE_CHARS`.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

MAX_MESSAGE_CHARS = 2000
SECRETS = [
    # /monitoring/v1/webhook/<id>/<access key>/events
    (re.compile(r"(/webhook/[^/\s'\"]+/)(?!events\b)[^/\s'\"]+(/events)"), r"\1***\2"),
    (re.compile(r"\b(ep_[0-9a-f]{12}_)[A-Za-z0-9_-]+"), r"\1***"),
    (re.compile(r"(?i)((?:x-access-key|authorization|access_key)['\"]?\s*[:=]\s*['\"]?)"
                r"(?:bearer\s+)?[^\s'\",}]+"), r"\1***"),
]  # fmt: skip


def scrub(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` with secrets masked, cut to `limit` characters."""
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...}`; exceptions as a `error` string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info), 4 * MAX_MESSAGE_CHARS)
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_logging_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` that sends every logger to stderr as JSON lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # One line per HTTP request (ours or to Elasticsearch) would drown the rest.
        "loggers": {
            "elastic_transport": {"level": "WARNING"},
            "uvicorn.access": {"level": "WARNING"},
        },
    }
