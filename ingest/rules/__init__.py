"""Event rules (SPEC §10): the pure compiler and the topic they live in."""
