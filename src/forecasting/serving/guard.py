"""An ASGI guard in front of the forecast APIs: JSON only, and a body-size limit before parsing.

An oversized body is refused from its ``Content-Length`` at once, or as soon as the bytes
received pass the limit, so a 10 MB request costs microseconds instead of seconds of JSON
parsing. Anything but ``application/json`` (form data, BentoML's pickle type, text) gets 415.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class InFlight:
    """How many guarded requests this process is handling right now (read by the batcher)."""

    def __init__(self) -> None:
        self.count = 0


class RequestGuard:
    """Wraps the service's ASGI app; only POSTs to ``json_paths`` are checked and counted."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        json_paths: frozenset[str],
        in_flight: InFlight | None = None,
    ) -> None:
        self.app, self.max_body_bytes, self.json_paths = app, max_body_bytes, json_paths
        self.in_flight = in_flight if in_flight is not None else InFlight()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or pass on one request; a passed body is replayed to the app unchanged."""
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in self.json_paths
        ):
            await self.app(scope, receive, send)
            return
        self.in_flight.count += 1
        try:
            await self._guard(scope, receive, send)
        finally:
            self.in_flight.count -= 1

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {key.lower(): value for key, value in scope["headers"]}
        media = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        if media != "application/json":
            await _refuse(
                send,
                415,
                f"send a JSON body with content-type application/json, not {media or 'none'!r}",
            )
            return
        limit = self.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, f"the body is {int(declared)} bytes; the limit is {limit}")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, 413, f"the body passed the limit of {limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if size == 0:
            await _refuse(send, 400, "the body is empty: send a JSON object")
            return
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
