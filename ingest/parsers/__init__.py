"""Source parsers: one pure module per monitoring tool, each `parse(data, options) -> events`.

Find one by its plugin id through `ingest.parsers.registry.get_parser`.
"""
