"""The routes of ``/v1``: each parses, checks the key's scope, calls the library, formats."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response, Security
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPBearer

from segmint.api import _models as m
from segmint.api._app import bad_json, error_response
from segmint.api._keys import ApiKey
from segmint.api._limits import MAX_DEPTH, too_deep
from segmint.errors import StoreUnavailable
from segmint.realtime import EVENT_SCHEMA, MAX_BATCH, Runtime
from segmint.realtime import _reads as reads

log = logging.getLogger("segmint.api")
router = APIRouter()
_ID = Annotated[str, Query(min_length=1)]
_WHY = {
    400: "The body is not JSON (UTF-8), or nests too deep to read",
    401: "No API key, or one that is not valid or was revoked",
    403: "The key lacks the scope the route needs",
    404: "Nothing by that name or identifier",
    409: "The name is taken, or the segment is not one the API may change",
    413: "The body is over serve.max_body_bytes",
    422: "The request breaks a rule (problems say which field)",
    503: "A store is down; the answer has a request_id, retry shortly",
}
#: what every route with a key may answer besides its own statuses (no 429: segmint sets
#: no request rate limit of its own; a proxy in front of it that does answers for itself)
_KEYED = (401, 403, 413, 422, 503)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each error status it may answer, with the problem body."""
    return {
        code: {"model": m.ErrorBody, "description": _WHY[code]}
        for code in sorted({*_KEYED, *codes})
    }


#: the two ways to send a key, declared so the document says which routes need one (the
#: check itself is Auth.check's: these only name the headers, never refuse)
_BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer sgm_...`")
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="The key as is")


def need(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A route dependency passing only requests whose key allows ``scope`` (else Auth.check raises
    Denied: 401 or 403)."""

    # async: a plain function would be run in the thread pool, a hop per request
    async def check(
        request: Request,
        _bearer: Annotated[Any, Security(_BEARER)] = None,
        _header: Annotated[Any, Security(_HEADER)] = None,
    ) -> ApiKey:
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
    "description": 'One event, or `{"events": [...]}` with up to 1,000. The request is '
    "refused (422) only when it is neither; each event is then checked on its own, and "
    "one that breaks the Event schema is answered `rejected` in `results` (and kept in the "
    "dead letters), not refused with the request.",
    "anyOf": [
        {
            "type": "object",
            "required": ["events"],
            "additionalProperties": False,
            "properties": {
                "events": {
                    "type": "array",
                    "items": {"anyOf": [EVENT_SCHEMA, {}]},
                    "maxItems": MAX_BATCH,
                }
            },
        },
        EVENT_SCHEMA,
        {"type": "object", "not": {"required": ["events"]}},
    ],
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
    responses=_errors(400),
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
        return bad_json()
    except RecursionError:
        return error_response(400, "too_deep", "the body nests too deep to read")
    if too_deep(body):
        return error_response(
            400, "too_deep", f"the body nests over {MAX_DEPTH} levels deep; events need far fewer"
        )
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
    responses=_errors(404),
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
    responses=_errors(404),
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
    "/v1/recommendations/{customer_id}",
    response_model=m.Recommendations,
    tags=["recommendations"],
    responses=_errors(),
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
@router.get("/v1/segments", response_model=m.SegmentList, tags=["segments"], responses=_errors())
def list_segments(request: Request, _key: Annotated[ApiKey, Depends(need("segments:read"))]) -> Any:
    """Every segment the service knows (rule segments of segmint.yaml or the API, and those the
    batch path published), with its size."""
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
    responses=_errors(400, 409),
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
    responses=_errors(404),
)
async def get_segment(
    name: str, request: Request, _key: Annotated[ApiKey, Depends(need("segments:read"))]
) -> Any:
    """One segment; served from the last state read when the store is down (as customer
    reads are)."""
    rt = _rt(request)
    return _json(_cached(request, ("segment", name), lambda: reads.segment_view(rt, name)))


@router.put(
    "/v1/segments/{name}",
    response_model=m.SegmentChanged,
    tags=["segments"],
    responses=_errors(400, 404, 409),
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
    responses=_errors(404, 409),
)
def delete_segment(
    name: str, request: Request, _key: Annotated[ApiKey, Depends(need("segments:admin"))]
) -> Response:
    """Delete an API-defined segment; its members leave it (each a segment.exited)."""
    _rt(request).undefine(name)
    request.app.state.cache.drop()
    return Response(status_code=204)


#: what a cursor is: the hex of a customer id's UTF-8 (hex, not base64, so that the
#: document's pattern says exactly which cursors are taken: base64 has non-canonical forms)
_CURSOR_PATTERN = re.compile(r"(?:[0-9a-f]{2})*")


def _encode_cursor(customer_id: str) -> str:
    return customer_id.encode("utf-8", errors="surrogatepass").hex()


def _cursor(text: str) -> str | None:
    """The customer id a page starts after. Every text of the pattern is a position in id
    order, so every one is accepted (bytes that are not UTF-8 read as U+FFFD)."""
    return bytes.fromhex(text).decode("utf-8", errors="replace") or None


_CURSOR = Query(
    max_length=512,
    # checked by the route, so that a refusal names the field `cursor`
    json_schema_extra={"pattern": f"^{_CURSOR_PATTERN.pattern}$"},
    description="The `next_cursor` of the page before (omit it for the first page).",
)


@router.get(
    "/v1/segments/{name}/members",
    response_model=m.Members,
    tags=["segments"],
    responses=_errors(404),
)
def segment_members(
    name: str,
    request: Request,
    _key: Annotated[ApiKey, Depends(need("segments:read"))],
    cursor: Annotated[str | None, _CURSOR] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    """Members in id order, a page at a time: pass ``next_cursor`` back as ``cursor``."""
    rt = _rt(request)
    reads.segment_view(rt, name)
    if cursor and not _CURSOR_PATTERN.fullmatch(cursor):
        return _bad("cursor is not one this API gave out", "cursor", "format")
    page = rt.store.members(name, _cursor(cursor or ""), limit)
    nxt = None
    if len(page) == limit:
        nxt = _encode_cursor(page[-1])
    return {"segment": name, "members": page, "next_cursor": nxt}


@router.get(
    "/v1/segments/{name}/history",
    response_model=m.History,
    tags=["segments"],
    responses=_errors(404),
)
def segment_history(
    name: str,
    request: Request,
    _key: Annotated[ApiKey, Depends(need("segments:read"))],
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    """The batch computations of a segment (size, entered, exited per as-of) and its latest
    ``limit`` live changes, newest first."""
    return reads.segment_history(_rt(request), name, limit)


# --- what was set aside -------------------------------------------------------------------
@router.get(
    "/v1/dead-letters", response_model=m.DeadLetters, tags=["operations"], responses=_errors()
)
def dead_letters(
    request: Request,
    _key: Annotated[ApiKey, Depends(need("admin"))],
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    """Rejected events, kept as sent with the field and rule each broke; an item over
    4,096 bytes as JSON is shown cut, with its size."""
    store = _rt(request).store
    return {
        "items": [_shown_letter(d) for d in store.dead_letters(limit)],
        "dropped": store.dead_letters_dropped(),
    }


#: the most of one dead letter's item an answer shows (1,000 of them make a 4 MB answer)
LETTER_MAX = 4_096


def _as_json(value: Any) -> tuple[bytes, bool]:
    """``value`` as JSON bytes and whether the answer can carry it as is (orjson, which
    answers, refuses lone surrogates and more than 254 levels: those are shown as text)."""
    try:
        return orjson.dumps(value), True
    except (orjson.JSONEncodeError, TypeError):
        try:
            return json.dumps(value, default=str).encode(), False
        except (RecursionError, ValueError):
            return b'"(nests too deep to show)"', False


def _shown_letter(letter: dict[str, Any]) -> dict[str, Any]:
    """A dead letter as the answer shows it: whole when its item is small, else the start
    of the item's JSON text with ``truncated`` and ``size`` (bytes as JSON)."""
    shown = dict(letter)
    for key in ("event", "errors"):
        text, whole = _as_json(letter.get(key))
        if whole and len(text) <= LETTER_MAX:
            continue
        shown[key] = text[:LETTER_MAX].decode("utf-8", errors="ignore")
        if len(text) > LETTER_MAX:
            shown["truncated"] = True
        if key == "event":
            shown["size"] = letter.get("size", len(text))
    return shown


@router.get(
    "/v1/webhooks/deliveries", response_model=m.Deliveries, tags=["operations"], responses=_errors()
)
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
