"""The routes of ``/v1``: each parses, checks the key's scope, calls the library, formats."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from segmint.api import _models as m
from segmint.api._app import error_response
from segmint.api._keys import ApiKey
from segmint.errors import StoreUnavailable
from segmint.realtime import EVENT_SCHEMA, MAX_BATCH, Runtime
from segmint.realtime import _reads as reads

log = logging.getLogger("segmint.api")
router = APIRouter()
_ID = Annotated[str, Query(min_length=1)]


def need(scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
    # async: a plain function would be run in the thread pool, a hop per request
    async def check(request: Request) -> ApiKey:
        key: ApiKey = request.app.state.auth.check(request, scope)
        return key

    check.__name__ = f"need_{scope.replace(':', '_')}"
    return check


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _cached(request: Request, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    value, _stale = request.app.state.cache.get(key, load)
    return value


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _json(content: Any) -> JSONResponse:
    """The body as is: hot reads are built to their schema by the library (the fuzz test
    checks every answer against it), so FastAPI's second validation is skipped."""
    return _Json(content)


def _bad(message: str, field: str = "(body)", rule: str = "invalid") -> JSONResponse:
    problem = {"field": field, "rule": rule, "message": message}
    return error_response(422, "invalid", message, problems=[problem])


_BATCH_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "required": ["events"],
            "additionalProperties": False,
            "properties": {
                "events": {"type": "array", "items": EVENT_SCHEMA, "maxItems": MAX_BATCH}
            },
        },
        EVENT_SCHEMA,
    ]
}


# --- events ----------------------------------------------------------------------------------
@router.post(
    "/v1/events",
    response_model=m.EventsOut,
    tags=["events"],
    summary="Send one event or a batch of up to 1,000",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BATCH_SCHEMA}},
        }
    },
    responses={400: {"model": m.ErrorBody, "description": "The body is not JSON"}},
)
async def post_events(
    request: Request, _key: Annotated[ApiKey, Depends(need("events:write"))]
) -> Any:
    """Each event is checked on its own: accepted ones are applied (or queued for the
    worker), retries of an ``event_id`` already received are answered ``duplicate`` and not
    counted again, and rejected ones come back with field and rule, kept in the dead letters."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "bad_json", "the body is not JSON")
    except RecursionError:
        return error_response(400, "too_deep", "the body nests too deep to read")
    if isinstance(body, dict) and "events" in body:
        extra = sorted(set(body) - {"events"})
        if extra:
            return _bad(
                f"unknown key {extra[0]!r} beside 'events'", str(extra[0])[:64], "unknown_field"
            )
        items = body["events"]
        if not isinstance(items, list):
            return _bad("'events' should be a list of events", "events", "type")
    elif isinstance(body, dict):
        items = [body]
    else:
        return _bad('send an event object or {"events": [...]}', "(body)", "type")
    if len(items) > MAX_BATCH:
        return _bad(
            f"a batch holds at most {MAX_BATCH} events, got {len(items)}", "events", "max_items"
        )
    rt = _rt(request)
    from starlette.concurrency import run_in_threadpool

    out = await run_in_threadpool(reads.collect_events, rt, items)
    metrics = request.app.state.metrics
    for outcome in ("accepted", "duplicate", "rejected"):
        if out[outcome]:
            metrics.events.labels(outcome).inc(out[outcome])
    if out["changes"]:
        metrics.changes.inc(out["changes"])
    if out["lag_seconds"] is not None:
        metrics.lag.observe(out["lag_seconds"])
    if out["accepted"]:
        request.app.state.cache.drop()
    return JSONResponse(out, 202 if out["queued"] else 200)


# --- customers -----------------------------------------------------------------------------
@router.get(
    "/v1/customers/{identifier}",
    response_model=m.Customer,
    tags=["customers"],
    responses={404: {"model": m.ErrorBody}},
)
async def get_customer(
    identifier: str, request: Request, _key: Annotated[ApiKey, Depends(need("profiles:read"))]
) -> Any:
    """A customer's features, segments, scores and clusters. The identifier is any the shop
    uses: customer id, anonymous id, or e-mail (looked up through its pseudonym)."""
    rt = _rt(request)
    return _json(
        _cached(
            request,
            ("customer", identifier),
            lambda: reads.customer_view(rt, identifier),
        )
    )


@router.get(
    "/v1/customers/{identifier}/segments",
    response_model=m.CustomerSegments,
    tags=["customers"],
    responses={404: {"model": m.ErrorBody}},
)
async def get_customer_segments(
    identifier: str, request: Request, _key: Annotated[ApiKey, Depends(need("profiles:read"))]
) -> Any:
    """The segments a customer is in now (rule segments live, the others as published)."""
    rt = _rt(request)

    return _json(
        _cached(request, ("segments", identifier), lambda: reads.segments_of(rt, identifier))
    )


@router.get(
    "/v1/recommendations/{customer_id}", response_model=m.Recommendations, tags=["recommendations"]
)
async def get_recommendations(
    customer_id: str,
    request: Request,
    _key: Annotated[ApiKey, Depends(need("profiles:read"))],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    device: Annotated[str | None, Query(max_length=64, description="e.g. mobile")] = None,
    country: Annotated[str | None, Query(max_length=64, description="e.g. GB")] = None,
    hour: Annotated[
        str | None,
        Query(
            pattern=r"^([01]?[0-9]|2[0-3]|night|morning|afternoon|evening)$",
            description="0-23 or a day part (night, morning, afternoon, evening)",
        ),
    ] = None,
    weekday: Annotated[str | None, Query(pattern=r"^[0-6]$", description="0 (Monday) to 6")] = None,
    season: Annotated[str | None, Query(pattern=r"^(winter|spring|summer|autumn)$")] = None,
) -> Any:
    """The customer's top ``k``. With a context (device, country, hour, weekday, season) the
    model in memory ranks for that moment. Unknown customers, customers without a list and
    a missing model still get an answer (200): their precomputed list, else the most popular
    products of their segments, else overall, with ``fallback`` and ``reason`` saying so."""
    rt = _rt(request)
    given = {
        "device": device,
        "country": country,
        "hour": hour,
        "weekday": weekday,
        "season": season,
    }
    context = {key: v for key, v in given.items() if v}
    cache_key = ("recs", customer_id, k, tuple(sorted(context.items())))
    return _json(_cached(request, cache_key, lambda: reads.recommend(rt, customer_id, k, context)))


# --- segments ------------------------------------------------------------------------------
@router.get("/v1/segments", response_model=m.SegmentList, tags=["segments"])
def list_segments(request: Request, _key: Annotated[ApiKey, Depends(need("segments:read"))]) -> Any:
    return {"segments": reads.segment_list(_rt(request))}


def _changed(rt: Runtime, name: str, changes: list[Any]) -> dict[str, Any]:
    view = reads.segment_view(rt, name)
    mine = [c for c in changes if c.segment == name]
    return {
        **view,
        "entered": sum(c.change == "entered" for c in mine),
        "exited": sum(c.change == "exited" for c in mine),
    }


@router.post(
    "/v1/segments",
    response_model=m.SegmentChanged,
    status_code=201,
    tags=["segments"],
    responses={409: {"model": m.ErrorBody}},
)
def create_segment(
    body: m.SegmentIn, request: Request, _key: Annotated[ApiKey, Depends(need("segments:admin"))]
) -> Any:
    """Define a rule segment (checked by the rule parser: a mistake is a 422 naming the
    column) and compute it for every customer now; it is then kept live."""
    rt = _rt(request)
    changes = rt.define(body.name, body.rule, body.description)
    request.app.state.cache.drop()
    return _changed(rt, body.name, changes)


@router.get(
    "/v1/segments/{name}",
    response_model=m.Segment,
    tags=["segments"],
    responses={404: {"model": m.ErrorBody}},
)
def get_segment(
    name: str, request: Request, _key: Annotated[ApiKey, Depends(need("segments:read"))]
) -> Any:
    return reads.segment_view(_rt(request), name)


@router.put(
    "/v1/segments/{name}",
    response_model=m.SegmentChanged,
    tags=["segments"],
    responses={404: {"model": m.ErrorBody}, 409: {"model": m.ErrorBody}},
)
def replace_segment(
    name: str,
    body: m.SegmentUpdate,
    request: Request,
    _key: Annotated[ApiKey, Depends(need("segments:admin"))],
) -> Any:
    """Change an API-defined segment's rule; members are recomputed at once."""
    rt = _rt(request)
    changes = rt.define(name, body.rule, body.description, replace=True)
    request.app.state.cache.drop()
    return _changed(rt, name, changes)


@router.delete(
    "/v1/segments/{name}",
    status_code=204,
    tags=["segments"],
    responses={404: {"model": m.ErrorBody}, 409: {"model": m.ErrorBody}},
)
def delete_segment(
    name: str, request: Request, _key: Annotated[ApiKey, Depends(need("segments:admin"))]
) -> Response:
    """Delete an API-defined segment; its members leave it (each a segment.exited)."""
    _rt(request).undefine(name)
    request.app.state.cache.drop()
    return Response(status_code=204)


def _encode_cursor(customer_id: str) -> str:
    return base64.urlsafe_b64encode(customer_id.encode()).decode().rstrip("=")


def _cursor(text: str | None) -> str | None:
    if not text:
        return None
    try:
        after = base64.urlsafe_b64decode(text.encode() + b"==").decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("cursor") from None
    # the decoder drops characters outside its alphabet ('!!!' decodes to ''): a cursor is
    # one this API gave out only if it encodes back to itself
    if not after or _encode_cursor(after) != text.rstrip("="):
        raise ValueError("cursor")
    return after


@router.get(
    "/v1/segments/{name}/members",
    response_model=m.Members,
    tags=["segments"],
    responses={404: {"model": m.ErrorBody}},
)
def segment_members(
    name: str,
    request: Request,
    _key: Annotated[ApiKey, Depends(need("segments:read"))],
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    """Members in id order, a page at a time: pass ``next_cursor`` back as ``cursor``."""
    rt = _rt(request)
    reads.segment_view(rt, name)
    try:
        after = _cursor(cursor)
    except ValueError:
        return _bad("cursor is not one this API gave out", "cursor", "format")
    page = rt.store.members(name, after, limit)
    nxt = None
    if len(page) == limit:
        nxt = _encode_cursor(page[-1])
    return {"segment": name, "members": page, "next_cursor": nxt}


@router.get(
    "/v1/segments/{name}/history",
    response_model=m.History,
    tags=["segments"],
    responses={404: {"model": m.ErrorBody}},
)
def segment_history(
    name: str,
    request: Request,
    _key: Annotated[ApiKey, Depends(need("segments:read"))],
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    return reads.segment_history(_rt(request), name, limit)


# --- what was set aside -------------------------------------------------------------------
@router.get("/v1/dead-letters", response_model=m.DeadLetters, tags=["operations"])
def dead_letters(
    request: Request,
    _key: Annotated[ApiKey, Depends(need("admin"))],
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    """Rejected events, kept as sent with the field and rule each broke."""
    return {"items": _rt(request).store.dead_letters(limit)}


@router.get("/v1/webhooks/deliveries", response_model=m.Deliveries, tags=["operations"])
def webhook_deliveries(
    request: Request,
    _key: Annotated[ApiKey, Depends(need("admin"))],
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    """The delivery log: every notification's webhook, status and attempts."""
    return {"items": _rt(request).store.deliveries(limit)}


# --- operations ----------------------------------------------------------------------------
@router.get("/healthz", response_model=m.Health, tags=["operations"])
async def healthz() -> Any:
    """The process answers (liveness)."""
    return {"status": "ok"}


@router.get(
    "/readyz", response_model=m.Ready, tags=["operations"], responses={503: {"model": m.Ready}}
)
def readyz(request: Request) -> Any:
    """Whether the stores answer; 503 with ``degraded`` when one does not (reads are then
    served from the last state this replica read)."""
    rt = _rt(request)
    checks: dict[str, str] = {}
    published: dict[str, Any] = {}
    try:
        rt.store.ping()
        info = rt.store.info()
        published = {"version": info.version, "as_of": info.as_of, "customers": info.customers}
        checks["online_store"] = "ok"
    except StoreUnavailable as exc:  # the detail (paths, URLs) goes to the log only
        log.warning("readyz: online store down: %s", exc)
        checks["online_store"] = "down"
    if rt.bus is not None:
        try:
            rt.bus.ping()
            lag = rt.bus.lag()
            for state, n in lag.items():
                request.app.state.metrics.stream.labels(state).set(n)
            checks["event_bus"] = "ok"
        except StoreUnavailable as exc:
            log.warning("readyz: event bus down: %s", exc)
            checks["event_bus"] = "down"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "degraded", "checks": checks, "published": published}
    return JSONResponse(body, 200 if ok else 503)


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this replica, with the stream's backlog read at the scrape."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    rt = _rt(request)
    if rt.bus is not None:
        try:
            for state, n in rt.bus.lag().items():
                request.app.state.metrics.stream.labels(state).set(n)
        except StoreUnavailable:
            request.app.state.metrics.store_errors.inc()

    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
