"""Webhooks: their store, the registry that authenticates senders, and signed envelopes."""
