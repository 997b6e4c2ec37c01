"""Web UI routes (placeholder until the web skeleton lands)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    return None
