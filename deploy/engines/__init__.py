"""The local engines: a real Kafka broker and a real Elasticsearch node, fetched and run here."""

from deploy.engines.errors import EngineError
from deploy.engines.manage import EngineStatus, down, secure_up, status, up

__all__ = ["EngineError", "EngineStatus", "down", "secure_up", "status", "up"]
