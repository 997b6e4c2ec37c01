"""Use cases: each combines store, domain rules and metrics. API, web and CLI call these and nothing deeper."""
