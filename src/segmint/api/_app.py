"""The FastAPI application: ``create_app(cfg)``; routes in :mod:`._routes`.

Settings, stores and the processor are built in the lifespan of the app, never at import;
a replica keeps nothing a second replica would need (state is in the online store), so any
number can run behind a load balancer.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from segmint.api._cache import TTLCache
from segmint.api._keys import SCOPES, ApiKey, check_token
from segmint.api._limits import BodyLimitMiddleware
from segmint.api._metrics import Metrics, MetricsMiddleware
from segmint.config import ProjectConfig
from segmint.errors import (
    ConfigError,
    NotFoundError,
    RuleError,
    SegmintError,
    StoreUnavailable,
    Transient,
)
from segmint.realtime import Dispatcher, Runtime, SegmentExists

log = logging.getLogger("segmint.api")
_STATUS = (
    (SegmentExists, 409, "conflict"),
    (RuleError, 422, "invalid_rule"),
    (NotFoundError, 404, "not_found"),
    (ConfigError, 422, "invalid"),
    (Transient, 503, "unavailable"),
)


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The error body every failure answers: ``error`` (a code), ``message``, ``problems`` (empty)
    and any ``extra`` fields."""
    return JSONResponse({"error": code, "message": message, "problems": [], **extra}, status)


def bad_json() -> JSONResponse:
    """400 for a body that cannot be read as JSON: not UTF-8, not JSON, or nested deeper
    than the parser goes (every route with a body answers it the same way)."""
    return error_response(
        400, "bad_json", "the body is not JSON (UTF-8), or it nests too deep to read"
    )


class Denied(Exception):
    """A request without a valid key (401) or with a key lacking the scope (403)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)


class Auth:
    """Checks API keys against the store's keys, re-read at most every ``ttl`` seconds."""

    def __init__(self, rt: Runtime, enabled: bool, ttl: float = 2.0) -> None:
        self.rt = rt
        self.enabled = enabled
        self.ttl = ttl
        self._keys: dict[str, dict[str, Any]] = {}
        self._read = 0.0

    def records(self) -> dict[str, dict[str, Any]]:
        """The stored key records by key id, re-read at most every ``ttl`` seconds (while the
        store is down, those last read)."""
        if time.monotonic() - self._read > self.ttl:
            try:
                self._keys = self.rt.store.get_meta("keys")
                self._read = time.monotonic()
            except StoreUnavailable:
                pass  # keep checking against the keys last read
        return self._keys

    def check(self, request: Request, scope: str) -> ApiKey:
        """The request's key (``Authorization: Bearer`` or ``X-API-Key``) when valid, not revoked
        and allowed ``scope``; else raise Denied (401 or 403). With auth disabled, a key with
        every scope."""
        if not self.enabled:
            return ApiKey("-", "auth disabled", tuple(SCOPES), "")
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or request.headers.get("x-api-key", "")
        if not token:
            raise Denied(401, "unauthorized", "send an API key: 'Authorization: Bearer sgm_...'")
        key = check_token(self.records(), token)
        if key is None:
            raise Denied(401, "unauthorized", "the API key is not valid")
        if key.revoked_at is not None:
            raise Denied(401, "unauthorized", f"the API key {key.key_id} was revoked")
        if not key.allows(scope):
            raise Denied(
                403,
                "forbidden",
                f"the API key {key.key_id} lacks the scope '{scope}' ({SCOPES[scope]})",
            )
        return key


def create_app(cfg: ProjectConfig, runtime: Runtime | None = None) -> FastAPI:
    """The API for project ``cfg`` (``runtime`` for tests that built their own)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.open(cfg)
        app.state.rt = rt
        app.state.auth = Auth(rt, cfg.serve.auth)
        app.state.cache = TTLCache(cfg.serve.cache_ttl_seconds)
        # the recommender for context requests loads in the background, not on a request
        threading.Thread(target=rt.model, name="segmint-model", daemon=True).start()
        dispatcher = None
        if cfg.serve.webhooks and rt.bus is None:
            dispatcher = Dispatcher(rt.store, cfg.serve.webhooks)
            dispatcher.start()
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop()
            if runtime is None:
                rt.close()

    app = FastAPI(
        title="segmint",
        version="1",
        summary="Customer segments and recommendations, live.",
        description="Send events as they happen; ask which segments a customer is in and "
        "what to show them. Every route but /healthz, /readyz and /metrics needs an API key "
        "(`segmint keys create`) with the scope it names.",
        lifespan=lifespan,
        # each route documents the error statuses it answers (responses= in _routes)
    )
    app.state.metrics = metrics
    _handlers(app, metrics)
    from segmint.api._routes import router

    app.include_router(router)
    if cfg.serve.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.serve.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, limit=cfg.serve.max_body_bytes)
    return app


def _allowed(request: Request) -> list[str]:
    """Every method some route serves at the request's path, by public API only: the
    routes of the app and of the router it includes (FastAPI wraps an included router in a
    private class), each asked whether it ``matches`` (PARTIAL: the path, not the method)."""
    from segmint.api._routes import router

    methods: set[str] = set()
    for route in [*request.app.routes, *router.routes]:
        served = getattr(route, "methods", None)
        if served and route.matches(request.scope)[0] != Match.NONE:
            methods |= set(served)
    return sorted(methods)


#: the longest text an error body echoes from the request (ids, names, keys)
ECHO_MAX = 64
_QUOTED = re.compile(f"'([^']{{{ECHO_MAX}}})[^']+'|\"([^\"]{{{ECHO_MAX}}})[^\"]+\"")


def clip(text: str, limit: int = ECHO_MAX) -> str:
    """``text`` as an error body may echo it: at most ``limit`` characters, then '…'."""
    return text if len(text) <= limit else text[:limit] + "…"


def _clip_quoted(message: str) -> str:
    """A message with every quoted value over ECHO_MAX characters cut (a 10,000-character
    id came back whole in its 404), and the whole kept under 1,000 characters."""
    message = _QUOTED.sub(
        lambda m: f"'{m.group(1)}…'" if m.group(1) is not None else f'"{m.group(2)}…"',
        message,
    )
    return clip(message, 1_000)


def _handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        body = {"error": exc.code, "message": exc.message, "problems": []}
        return JSONResponse(body, exc.status, headers=headers)

    @app.exception_handler(SegmintError)
    async def domain(request: Request, exc: SegmintError) -> JSONResponse:
        for kind, status, code in _STATUS:
            if isinstance(exc, kind):
                if isinstance(exc, StoreUnavailable):
                    metrics.store_errors.inc()
                extra = {"column": exc.column} if isinstance(exc, RuleError) else {}
                if isinstance(exc, Transient):
                    # a store's message names files and URLs: logged, not answered
                    rid = uuid.uuid4().hex[:16]
                    log.warning("request %s: %s: %s", rid, type(exc).__name__, exc)
                    message = "a store is unavailable; retry shortly"
                    return error_response(status, code, message, request_id=rid)
                return error_response(status, code, _clip_quoted(str(exc)), **extra)
        return error_response(400, "bad_request", _clip_quoted(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return bad_json()  # as POST /v1/events answers it: the body is unreadable
        problems = [
            {
                "field": clip(".".join(str(p) for p in e.get("loc", ()) if p != "body"))
                or "(body)",
                "rule": str(e.get("type", "invalid")),
                "message": _clip_quoted(str(e.get("msg", ""))),
            }
            for e in errors
        ]
        first = problems[0] if problems else {"field": "(request)", "message": "is invalid"}
        return JSONResponse(
            {
                "error": "invalid",
                "message": f"{first['field']}: {first['message']}",
                "problems": problems,
            },
            422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, too deep)
            if isinstance(exc.__cause__, RecursionError):
                return error_response(400, "too_deep", "the body nests too deep to read")
            return bad_json()
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        response = error_response(exc.status_code, code, _clip_quoted(str(exc.detail)))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods
            response.headers["Allow"] = ", ".join(_allowed(request))
        return response

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # only input nests deep enough for this (JSON bodies, rules): the client's mistake
        return error_response(400, "too_deep", "the request nests too deep to read")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "an unexpected error; it was logged")
