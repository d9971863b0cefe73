"""The traffic gateway of one deployment: `python -m serving.gateway --config routes.json --port N`.

POST /v1/models/<model_id>/predict            → a live variation chosen by weight (sticky by X-Berth-Key)
POST /v1/models/<model_id>/<variation>/predict → that variation
GET  /health/live, /health/ready              → ready once a live variation has replicas;
                                                 the body names the routing config version

Bodies pass through as bytes over pooled keep-alive connections; a connection failure is
retried once on another replica. The routes file is reloaded on SIGHUP and when it changes.
Replicas are reached at `http://host:port` endpoints through one shared client, and at
`unix:/path/server.sock` endpoints through one client per socket, made on first use and
closed once the endpoint has left the routes and its last request has finished.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from serving import endpoints
from serving.endpoints import Endpoint
from serving.gateway_routes import (
    Route,
    RoutesError,
    RoutingTable,
    key_hash,
    load_routes,
)
from serving.logs import configure_stdlib_logging, log_event

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
FORWARDED = {b"content-type", b"accept", b"x-request-id"}
MAX_BODY = 64 * 1024 * 1024
WATCH_S = 1.0
LIMITS = httpx.Limits(max_connections=2000, max_keepalive_connections=500, keepalive_expiry=30)
TIMEOUT = httpx.Timeout(30.0, connect=2.0)


class Reply(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, orjson.dumps({"error": message, **extra})


@dataclass(eq=False)
class Upstream:
    """One replica as the gateway reaches it: the client pooling its connections and its predict URL.
    `own` when the client serves this replica alone (a unix: endpoint) and closes with it."""

    client: httpx.AsyncClient
    predict_url: str
    own: bool
    in_flight: int = 0
    retired: bool = False


class Gateway:
    def __init__(self, routes_path: Path) -> None:
        self.routes_path = routes_path
        self.table: RoutingTable | None = None
        self.mtime = 0.0
        self.client: httpx.AsyncClient | None = None
        self.upstreams: dict[str, Upstream] = {}
        self.background: set[asyncio.Task[None]] = set()

    # --- routes --------------------------------------------------------------------------

    def reload(self) -> None:
        try:
            mtime = self.routes_path.stat().st_mtime
            table = load_routes(self.routes_path)
        except (OSError, RoutesError) as exc:
            log_event("routes_rejected", level="error", error=str(exc))
            return
        self.table, self.mtime = table, mtime
        self._retire({e for r in (*table.live, *table.shadows) for e in r.endpoints})
        log_event("routes_loaded", version=table.version,
                  variations={r.name: len(r.endpoints) for r in (*table.live, *table.shadows)})

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            with contextlib.suppress(OSError):
                if self.routes_path.stat().st_mtime != self.mtime:
                    self.reload()

    # --- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            try:
                status, body, headers = await self._handle(scope, receive)
            except Reply as reply:
                status, body, headers = reply.status, reply.body, []
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"), *headers]})
            await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(limits=LIMITS, timeout=TIMEOUT)
                self.reload()
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload)
                self.background.add(asyncio.create_task(self._watch()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self.background:
                    task.cancel()
                for upstream in self.upstreams.values():
                    if upstream.own:
                        await upstream.client.aclose()
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        path, method = scope["path"], scope["method"]
        if path == "/health/live":
            return 200, b'{"status":"alive"}', []
        if path == "/health/ready":
            table = self.table
            ready = table is not None and table.ready
            answer = {"status": "ready" if ready else "not_ready", "config_version": table.version if table else None}
            return (200 if ready else 503), orjson.dumps(answer), []
        parts = path.strip("/").split("/")
        if len(parts) not in (4, 5) or parts[:2] != ["v1", "models"] or parts[-1] != "predict":
            raise Reply(404, f"no route {path}; POST /v1/models/<model_id>/predict")
        if method != "POST":
            raise Reply(405, f"{path} takes POST")
        table = self.table
        if table is None:
            raise Reply(503, "the gateway has no routes yet")
        if parts[2] != table.model_id:
            raise Reply(404, f"this gateway serves model {table.model_id}, not {parts[2]}")
        headers = {k: v for k, v in scope["headers"] if k in FORWARDED}
        key = next((v for k, v in scope["headers"] if k == b"x-berth-key"), None)
        body = await _read_body(receive)
        route = self._route(table, parts[3] if len(parts) == 5 else None, key_hash(key))
        if len(parts) == 4:
            for mirror in table.mirrors():
                self._spawn(self._mirror(mirror, body, headers))
        return await self._forward(route, body, headers, key_hash(key))

    def _route(self, table: RoutingTable, variation: str | None, hashed: int | None) -> Route:
        if variation is None:
            route = table.choose(hashed)
            if route is None:
                raise Reply(503, "no variation of this deployment has a ready replica")
            return route
        route = table.by_name(variation)
        if route is None:
            names = ", ".join(r.name for r in (*table.live, *table.shadows))
            raise Reply(404, f"no variation {variation!r}; this deployment has: {names}")
        if not route.endpoints:
            raise Reply(503, f"variation {variation} has no ready replica")
        return route

    async def _forward(self, route: Route, body: bytes, headers: dict[bytes, bytes],
                       hashed: int | None) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        candidates = route.candidates(hashed, attempts=2)
        for attempt, endpoint in enumerate(candidates):
            try:
                response = await self._post(endpoint, body, headers, route.timeout_s + 5)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                retryable = isinstance(exc, httpx.TransportError) and not isinstance(
                    exc, (httpx.ReadTimeout, httpx.WriteTimeout))
                log_event("upstream_failed", level="warning", variation=route.name, endpoint=endpoint,
                          error=f"{type(exc).__name__}: {exc}", attempt=attempt + 1, retry=retryable)
                if not retryable:
                    raise Reply(504, f"variation {route.name} did not answer in time") from None
                if attempt + 1 == len(candidates):
                    raise Reply(502, f"no replica of variation {route.name} could be reached") from None
                continue
            out = [(b"x-berth-variation", route.name.encode())]
            return response.status_code, response.content, out
        raise AssertionError("unreachable")

    async def _mirror(self, route: Route, body: bytes, headers: dict[bytes, bytes]) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self._post(route.candidates(None, 1)[0], body, headers, route.timeout_s + 5)

    # --- upstreams -----------------------------------------------------------------------

    async def _post(self, endpoint: str, body: bytes, headers: dict[bytes, bytes], timeout: float) -> httpx.Response:
        upstream = self.upstreams.get(endpoint) or self._connect(endpoint)
        upstream.in_flight += 1
        try:
            return await upstream.client.post(upstream.predict_url, content=body, headers=headers, timeout=timeout)
        finally:
            upstream.in_flight -= 1
            if upstream.retired and upstream.own and not upstream.in_flight:
                self._spawn(upstream.client.aclose())

    def _connect(self, endpoint: str) -> Upstream:
        assert self.client is not None  # noqa: S101 - narrows the type; startup opened the client
        parsed = Endpoint.parse(endpoint)  # load_routes accepted it, so it parses
        if parsed.uds is None:
            upstream = Upstream(self.client, parsed.url("/v1/predict"), own=False)
        else:
            upstream = Upstream(endpoints.async_client(parsed, limits=LIMITS, timeout=TIMEOUT),
                                parsed.url("/v1/predict"), own=True)
        self.upstreams[endpoint] = upstream
        return upstream

    def _retire(self, keep: set[str]) -> None:
        """Forget the upstreams of endpoints no longer routed to; an own client closes at once when
        idle, else when its last in-flight request ends (a drained replica still answers those)."""
        for endpoint in [e for e in self.upstreams if e not in keep]:
            upstream = self.upstreams.pop(endpoint)
            upstream.retired = True
            if upstream.own and not upstream.in_flight:
                self._spawn(upstream.client.aclose())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise Reply(413, f"request body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="routes JSON file written by the backend")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--graceful-timeout-s", type=int, default=30)
    args = parser.parse_args(argv)
    configure_stdlib_logging()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the loop installs the reload handler
    import uvicorn

    log_event("gateway_startup", host=args.host, port=args.port, routes=str(args.config))
    uvicorn.run(Gateway(args.config), host=args.host, port=args.port, http="httptools", loop="uvloop",
                lifespan="on", access_log=False, log_config=None, timeout_keep_alive=75, backlog=2048,
                timeout_graceful_shutdown=args.graceful_timeout_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
