"""Kibana saved objects for eventpipe's indices (`eventpipe.ndjson`) and their import.

For teams that run Kibana: data views over the events and alerts indices, saved
searches and an overview dashboard, loaded with `eventpipe kibana import --url URL`.
"""
