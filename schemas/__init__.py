"""The one definition of every concept eventpipe moves: events, queries, settings."""
