"""Request size limits, enforced before a route reads the body.

Any key with ``events:write`` (a browser collector's, say) could otherwise send a 100 MB body,
have its rejected items kept whole as dead letters and fill the disk. A body over
``serve.max_body_bytes`` is answered 413 with the usual JSON error, whether it declares its
length or streams it in chunks.
"""

from __future__ import annotations

from typing import Any

import orjson

Scope = dict[str, Any]


class BodyLimitMiddleware:
    """Pure ASGI middleware: 413 for bodies over ``limit`` bytes."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = orjson.dumps(
            {
                "error": "too_large",
                "message": f"the request body is over {self.limit:,} bytes "
                "(serve.max_body_bytes); send fewer events per request",
                "problems": [],
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


#: how deep a JSON body may nest: an event is 2 levels (3 in a batch) plus its
#: ``properties``, which the event rules bound further; json.loads itself stops near 1,000
MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON) nests deeper than ``limit`` containers. Iterative,
    so a body parsed at the edge of the recursion limit is measured without recursing;
    the scalars of a flat event cost a type test each."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
