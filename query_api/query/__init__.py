"""The query core, with no web framework: translators and compilers of the query languages."""
