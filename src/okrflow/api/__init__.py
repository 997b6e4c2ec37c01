"""The REST API (``/api/v1``): thin FastAPI routers that validate, call one service, and return a schema."""
