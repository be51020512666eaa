"""The app uvicorn imports (``segmint serve``): the project named by ``SEGMINT_PROJECT``."""

from __future__ import annotations

import os

from fastapi import FastAPI

from segmint.api._app import create_app
from segmint.config import load_config


def app() -> FastAPI:
    """Factory: each uvicorn worker process builds its own app from the project file."""
    return create_app(load_config(os.environ.get("SEGMINT_PROJECT")))
