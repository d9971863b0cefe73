"""HTTP ↔ DataPlane, as a bare ASGI app (no framework on the hot path).

This module only translates: routes, headers, body limits, content negotiation, and
the one place where errors become JSON responses. The work happens in `DataPlane`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from serving.access_log import AccessLog
from serving.codec import encode_json
from serving.dataplane import DataPlane
from serving.errors import MethodNotAllowed, ServingError, echo
from serving.logs import log_event
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.metrics import ServerMetrics, route_label
from serving.request_metrics import RequestMetrics

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
PREDICT = "/v1/predict"
CLOSE = (b"connection", b"close")


class ClientGone(Exception):
    """The client disconnected before sending its whole body."""


@dataclass
class Hooks:
    """What the composition root plugs in around the data plane."""

    startup: Callable[[], Awaitable[None]]
    shutdown: Callable[[], Awaitable[None]]
    all_ready: Callable[[], bool]
    scrape: Callable[[], bytes]


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    request_id: str
    content_type: bytes | None = None
    accept: bytes | None = None
    content_length: int | None = None


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()  # beyond content type, length and request id


class RestApp:
    def __init__(self, plane: DataPlane, metrics: ServerMetrics, hooks: Hooks,
                 max_body_bytes: int, access_log: bool = True) -> None:
        self.plane = plane
        self.metrics = metrics
        self.request_metrics = RequestMetrics(metrics)
        self.hooks = hooks
        self.max_body_bytes = max_body_bytes
        self.access_log = AccessLog() if access_log else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = _parse(scope)
        self.request_metrics.started()
        try:
            response = await self._answer(request, receive)
            if response.status != 499:
                # A server without a model (standing in while the parent loads it) closes each
                # connection, so clients reconnect to the workers that come next.
                await _send(send, response, request.request_id, close=not self.plane.ready)
        except BaseException:  # cancelled (the server stops) or the connection broke
            self.request_metrics.abandoned()
            raise
        self._record(request, response.status, time.perf_counter() - started)

    async def _answer(self, request: _Request, receive: Receive) -> _Response:
        try:
            return await self._route(request, receive)
        except ServingError as exc:
            if exc.status >= 500:
                self.metrics.errors.labels(type(exc).__name__).inc()
            return error_response(exc)
        except ClientGone:
            return _Response(499, b"")
        except Exception as exc:  # never a stack trace to the client
            log_event("unhandled_error", level="error", request_id=request.request_id,
                      error=f"{type(exc).__name__}: {exc}")
            return error_response(ServingError(f"internal error: {type(exc).__name__}", 500))

    def _record(self, request: _Request, status: int, seconds: float) -> None:
        route = route_label(request.path)
        self.request_metrics.finished(route, status, seconds)
        if self.access_log is not None and (route == PREDICT or status >= 400):
            self.access_log.request(request.request_id, request.method, request.path, status, seconds)

    async def _route(self, request: _Request, receive: Receive) -> _Response:
        path = request.path
        if path == PREDICT:
            _allow(request, "POST")
            return await self._predict(request, receive)
        if path == "/health/live":
            _allow(request, "GET")
            return _Response(200, b'{"status":"alive"}')
        if path == "/health/ready":
            _allow(request, "GET")
            if self.plane.ready and self.hooks.all_ready():
                return _Response(200, b'{"status":"ready"}')
            return _Response(503, b'{"status":"loading","error":"the model is loading or warming up"}')
        if path == "/metrics":
            _allow(request, "GET")
            self.request_metrics.write()  # this worker's latest counts, this scrape included
            return _Response(200, self.hooks.scrape(), METRICS_CONTENT_TYPE.encode())
        if path == "/v1/metadata":
            _allow(request, "GET")
            return _Response(200, encode_json(self.plane.metadata()))
        raise ServingError(f"no route {echo(path)}; POST {PREDICT} to predict", 404)

    async def _predict(self, request: _Request, receive: Receive) -> _Response:
        _check_content_type(request.content_type)
        _check_accept(request.accept)
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)

        async def read_body() -> bytes:
            return await _read_body(receive, self.max_body_bytes)

        result = await self.plane.predict(read_body, request.request_id)
        return _Response(200, encode_json(result))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.hooks.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.hooks.shutdown()
                self.request_metrics.write()
                if self.access_log is not None:
                    self.access_log.flush()
                await send({"type": "lifespan.shutdown.complete"})
                return


def error_response(exc: ServingError) -> _Response:
    """The one place errors become responses: {"error": message, "status": code}."""
    allow = ((b"allow", exc.allow.encode()),) if isinstance(exc, MethodNotAllowed) else ()
    return _Response(exc.status, encode_json({"error": exc.message, "status": exc.status}), headers=allow)


def _parse(scope: Scope) -> _Request:
    request = _Request(scope["method"], scope["path"], "")
    for name, value in scope["headers"]:
        if name == b"content-type":
            request.content_type = value
        elif name == b"accept":
            request.accept = value
        elif name == b"content-length":
            request.content_length = int(value) if value.isdigit() else None
        elif name == b"x-request-id" and 0 < len(value) <= 200:
            request.request_id = value.decode("latin-1")
    if not request.request_id:
        request.request_id = os.urandom(16).hex()
    return request


def _allow(request: _Request, method: str) -> None:
    if request.method != method and not (method == "GET" and request.method == "HEAD"):
        raise MethodNotAllowed(f"{echo(request.path)} answers {method} only, not {echo(request.method)}",
                               "GET, HEAD" if method == "GET" else method)


def _check_content_type(content_type: bytes | None) -> None:
    if content_type is None or content_type == JSON:
        return
    media = content_type.split(b";", 1)[0].strip().lower()
    if media != JSON and not media.endswith(b"+json"):
        raise ServingError(
            f"unsupported Content-Type {echo(media.decode('latin-1'))!r}; send JSON with "
            "'Content-Type: application/json'", 415)


def _check_accept(accept: bytes | None) -> None:
    if accept is None or _accepts_json(accept):
        return
    raise ServingError(
        f"can't answer in {echo(accept.decode('latin-1'))!r}; this server answers application/json", 406)


def _accepts_json(accept: bytes) -> bool:
    for part in accept.lower().split(b","):
        media, _, params = part.partition(b";")
        media = media.strip()
        acceptable = media in (JSON, b"*/*", b"application/*", b"") or media.endswith(b"+json")
        if acceptable and not _q_is_zero(params):
            return True
    return False


def _q_is_zero(params: bytes) -> bool:
    for param in params.split(b";"):
        name, _, value = param.strip().partition(b"=")
        if name == b"q":
            try:
                return float(value) == 0.0
            except ValueError:
                return False
    return False


def _too_large(limit: int) -> ServingError:
    return ServingError(f"request body is larger than {limit} bytes (BERTH_MAX_BODY_BYTES)", 413)


async def _read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False) and message["type"] == "http.request":
        if len(body) > limit:
            raise _too_large(limit)
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    if message["type"] == "http.disconnect":
        raise ClientGone
    return b"".join(chunks)


async def _send(send: Send, response: _Response, request_id: str, close: bool = False) -> None:
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        (b"x-request-id", request_id.encode("latin-1")),
    ]
    headers.extend(response.headers)
    if close:
        headers.append(CLOSE)
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
