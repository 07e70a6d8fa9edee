"""Why an engine could not be fetched or started, said so a user can act on it."""


class EngineError(Exception):
    """An engine failed; the message names what failed and where its log is."""
