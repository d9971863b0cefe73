"""The traffic gateway of one deployment: `python -m serving.gateway --config routes.json --port N`.

POST /v1/models/<model_id>/predict            → a live variation chosen by weight (sticky by X-Berth-Key)
POST /v1/models/<model_id>/<variation>/predict → that variation
GET  /health/live, /health/ready              → ready once a live variation has replicas;
                                                 the body names the routing config version
GET  /metrics                                  → Prometheus text (serving/gateway_metrics.py)

When the routes list endpoint keys, a predict call needs `Authorization: Bearer <key>`, else 401
with `WWW-Authenticate: Bearer` (serving/endpoint_keys.py); health and /metrics stay open.

Answers look like the model server's: errors are `{"error": …, "status": …}`, a 405 says
`Allow`, and a replica's answer comes back with its status, body, Content-Type and
X-Request-Id (plus X-Berth-Variation). Every request has one id: the caller's X-Request-Id
(1 to 200 bytes, as the model server takes it) or a new one, forwarded to the replica, so the
replica's log lines, the gateway's and the answer all carry the same.

What clients may hold is bounded (serving/gateway_http.py `Limits`, flags below, each also an
env var): read timeouts for headers and body, open connections, and requests waiting for a
replica (`--max-pending`: past it a request gets a fast 503 with Retry-After).

Bodies pass through as bytes over pooled keep-alive connections, one pool per replica
(serving/upstream.py), made on first use and closed once the replica has left the routes
(its requests in flight still finish). A connection failure is retried once on another
replica; a timeout is not (504). The routes file is reloaded on SIGHUP and when it changes.

`--keys-file` names a file holding the endpoint keys (`{"endpoint_keys": [...]}`) apart from the
routes, as on Kubernetes, where the keys are a Secret mounted beside the routes' ConfigMap; it is
watched like the routes. A mounted ConfigMap or Secret changes by the kubelet writing a new
directory and swapping the `..data` symlink to it, so a change is noticed by the file the path
resolves to (device, inode, mtime), not by its mtime alone.

uvicorn runs the process (socket, signals, lifespan, graceful shutdown), but each client
connection is a `serving.gateway_http.ClientConnection`, which hands every request to
`Gateway.answer` and answers it in one write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import orjson

from serving.config import ConfigError, parse_float, parse_int
from serving.endpoint_keys import CHALLENGE, KeyRefused, KeyUsage
from serving.endpoints import Endpoint
from serving.gateway_http import JSON, OWN_PATHS, RETRY_AFTER_S, ClientConnection, Headers, Limits, error_body
from serving.gateway_metrics import GatewayMetrics
from serving.gateway_routes import (
    Route,
    RoutesError,
    RoutingTable,
    key_hash,
    load_routes,
)
from serving.logs import configure_stdlib_logging, log_event
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.upstream import ConnectionFailed, Pool, Response, TimedOut, UpstreamError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Answer = tuple[int, bytes, Headers]
FORWARDED = {b"content-type", b"accept"}  # and the request's id, always
WATCH_S = 1.0
# A replica times a request out itself and answers 504; the gateway waits this much longer
# than the variation's timeout so that the replica's own answer comes through.
TIMEOUT_GRACE_S = 5.0
PREDICT_PATH = b"/v1/predict"
FILES_RESERVED = 2 * 256 + 64  # upstream pools of two replicas, and whatever else the process opens
ECHO_MAX = 200  # characters of a client's path quoted in an error
HEALTH_ALLOW = [JSON, (b"allow", b"GET, HEAD")]


class Reply(Exception):
    """The gateway's own answer to a request it does not forward: a JSON error."""

    def __init__(self, status: int, message: str, *headers: tuple[bytes, bytes]) -> None:
        super().__init__(message)
        self.status, self.body, self.headers = status, error_body(status, message), [JSON, *headers]


class Gateway:
    def __init__(self, routes_path: Path, limits: Limits | None = None, keys_path: Path | None = None) -> None:
        self.routes_path = routes_path
        self.keys_path = keys_path  # None: the keys, if any, are in the routes file
        self.limits = limits or Limits()
        self.pending = 0  # requests waiting for a replica's answer
        # kept by serving/gateway_http.py ClientConnection; ordered: the oldest leaves first, in O(1)
        self.unproven_connections: OrderedDict[Any, None] = OrderedDict()
        self.table: RoutingTable | None = None
        self.seen: tuple[tuple[int, ...], ...] = ()  # _files_seen() of the files the table was read from
        self.pools: dict[str, Pool] = {}
        self.background: set[asyncio.Task[None]] = set()
        self.metrics = GatewayMetrics()
        self.key_usage = KeyUsage()

    # --- routes --------------------------------------------------------------------------

    def reload(self) -> None:
        try:
            seen = self._files_seen()
            table = load_routes(self.routes_path, self.keys_path)
        except (OSError, RoutesError) as exc:
            log_event("routes_rejected", level="error", error=str(exc))
            return
        self.table, self.seen = table, seen
        self.metrics.config_version = table.version
        self._retire(table.endpoints)
        log_event("routes_loaded", version=table.version,
                  variations={r.name: len(r.endpoints) for r in (*table.live, *table.shadows)})

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            with contextlib.suppress(OSError):
                if self._files_seen() != self.seen:
                    self.reload()

    def _files_seen(self) -> tuple[tuple[int, ...], ...]:
        """Which file each config path resolves to, and its version: a kubelet swap changes the inode."""
        paths = (self.routes_path,) if self.keys_path is None else (self.routes_path, self.keys_path)
        return tuple((s.st_dev, s.st_ino, s.st_mtime_ns) for s in (p.stat() for p in paths))

    # --- requests ----------------------------------------------------------------------

    def refused(self, headers: Headers, status: int) -> tuple[bytes, bytes]:
        """Count a request the connection answered without a route (over capacity, a bug in the gateway):
        its caller saw the status, so /metrics does too. Its X-Request-Id header, to answer and log with."""
        self.metrics.observe("", status, 0.0)
        return request_id(headers)

    async def answer(self, method: bytes, path: str, headers: Headers, body: bytes) -> Answer:
        """Status, body and headers (Content-Type first) for one request; every refusal is a JSON error."""
        rid = request_id(headers)
        try:
            if path in OWN_PATHS:
                status, answer, extra = self._own(method, path)
                return status, answer, [*extra, rid]
            parts = path.strip("/").split("/")
            if len(parts) not in (4, 5) or parts[:2] != ["v1", "models"] or parts[-1] != "predict":
                raise Reply(404, f"no route {_echo(path)}; POST /v1/models/<model_id>/predict")
            return await self._predict(method, path, parts, headers, body, rid)
        except Reply as reply:
            return reply.status, reply.body, [*reply.headers, rid]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI, for uvicorn's lifespan only: requests come through ClientConnection."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.reload()
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload)
                self.background.add(asyncio.create_task(self._watch()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self.background:
                    task.cancel()
                for pool in self.pools.values():
                    pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _predict(self, method: bytes, path: str, parts: list[str], headers: Headers, body: bytes,
                       rid: tuple[bytes, bytes]) -> Answer:
        """Forward one predict request (or refuse it), counted in the gateway's metrics either way."""
        metrics = self.metrics
        started = time.perf_counter()
        metrics.in_flight += 1
        variation, status = "", 0
        try:
            if method != b"POST":
                raise Reply(405, f"{_echo(path)} answers POST only, not {method.decode('latin-1')}",
                            (b"allow", b"POST"))
            route, forwarded, hashed = self._choose(parts, headers, body, rid)
            variation = route.name
            self.pending += 1
            try:
                answer = await self._forward(route, body, forwarded, hashed, rid[1])
            finally:
                self.pending -= 1
            status = answer[0]
            return answer
        except Reply as reply:
            status = reply.status
            raise
        except Exception:
            status = 500  # serving/gateway_http.py answers it
            raise
        finally:
            metrics.in_flight -= 1
            if status:
                metrics.observe(variation, status, time.perf_counter() - started)

    def _choose(self, parts: list[str], headers: Headers, body: bytes, rid: tuple[bytes, bytes]
                ) -> tuple[Route, Headers, int | None]:
        """The variation to send a predict request to, the headers to send, the caller's key hashed;
        shadow copies are sent from here."""
        if self.pending >= self.limits.max_pending:
            raise Reply(503, f"the gateway holds its most requests waiting for replicas ({self.pending}); "
                             "retry shortly",
                        (b"retry-after", b"%d" % RETRY_AFTER_S))
        table = self.table
        if table is None:
            raise Reply(503, "the gateway has no routes yet")
        if table.keys is not None:
            try:
                self.key_usage.note(table.keys.check(headers))
            except KeyRefused as exc:
                raise Reply(401, str(exc), CHALLENGE) from None
        if parts[2] != table.model_id:
            raise Reply(404, f"this gateway serves model {table.model_id}, not {parts[2]}")
        forwarded, key = [rid], None
        for name, value in headers:
            if name in FORWARDED:
                forwarded.append((name, value))
            elif name == b"x-berth-key":
                key = value
        hashed = key_hash(key)
        route = self._route(table, parts[3] if len(parts) == 5 else None, hashed)
        if len(parts) == 4:
            for mirror in table.mirrors():
                self._spawn(self._mirror(mirror, body, forwarded))
        return route, forwarded, hashed

    def _own(self, method: bytes, path: str) -> Answer:
        """Health and metrics: GET (or HEAD) only."""
        if method not in (b"GET", b"HEAD"):
            return 405, error_body(405, f"{path} answers GET only, not {method.decode('latin-1')}"), HEALTH_ALLOW
        if path == "/metrics":
            return (200, self.metrics.render() + self.key_usage.render(),
                    [(b"content-type", METRICS_CONTENT_TYPE.encode())])
        if path == "/health/live":
            return 200, b'{"status":"alive"}', [JSON]
        table = self.table
        ready = table is not None and table.ready
        answer = {"status": "ready" if ready else "not_ready", "config_version": table.version if table else None}
        return (200 if ready else 503), orjson.dumps(answer), [JSON]

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

    async def _forward(self, route: Route, body: bytes, headers: Headers, hashed: int | None,
                       rid: bytes) -> Answer:
        candidates = route.candidates(hashed, attempts=2)
        for attempt, endpoint in enumerate(candidates):
            try:
                response = await self._post(endpoint, body, headers, route.timeout_s + TIMEOUT_GRACE_S)
            except UpstreamError as exc:
                self.metrics.upstream_error(route.name, exc)
                retryable = isinstance(exc, ConnectionFailed)
                log_event("upstream_failed", level="warning", request_id=rid.decode("latin-1"), variation=route.name,
                          endpoint=endpoint, error=f"{type(exc).__name__}: {exc}", attempt=attempt + 1,
                          retry=retryable)
                if isinstance(exc, TimedOut):
                    raise Reply(504, f"variation {route.name} did not answer in time") from None
                if attempt + 1 == len(candidates):
                    raise Reply(502, f"no replica of variation {route.name} could be reached") from None
                continue
            return response.status, response.body, [*response.headers, (b"x-berth-variation", route.name.encode())]
        raise AssertionError("unreachable")

    async def _mirror(self, route: Route, body: bytes, headers: Headers) -> None:
        if self.pending >= self.limits.max_pending:  # a copy is the first thing to drop when busy
            return
        self.pending += 1
        try:
            await self._post(route.candidates(None, 1)[0], body, headers, route.timeout_s + TIMEOUT_GRACE_S)
        except UpstreamError as exc:
            self.metrics.upstream_error(route.name, exc)
        finally:
            self.pending -= 1

    # --- upstreams -----------------------------------------------------------------------

    async def _post(self, endpoint: str, body: bytes, headers: Headers, timeout: float) -> Response:
        pool = self.pools.get(endpoint) or self._pool(endpoint)
        return await pool.post(PREDICT_PATH, body, headers, timeout)

    def _pool(self, endpoint: str) -> Pool:
        pool = Pool(Endpoint.parse(endpoint))  # load_routes accepted it, so it parses
        if self.table is not None and endpoint in self.table.endpoints:
            self.pools[endpoint] = pool
        else:  # routed by a table replaced since: serve this one request, keep nothing open
            pool.close()
        return pool

    def _retire(self, keep: set[str]) -> None:
        """Close the pools of endpoints no longer routed to: idle connections at once, busy ones
        once their answer is in (a drained replica still answers those)."""
        for endpoint in [e for e in self.pools if e not in keep]:
            self.pools.pop(endpoint).close()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def _echo(path: str) -> str:
    """A client's path as an error message quotes it: cut short, so a long one is not sent back whole."""
    return path if len(path) <= ECHO_MAX else path[:ECHO_MAX] + "…"


def request_id(headers: Headers) -> tuple[bytes, bytes]:
    """The request's X-Request-Id header: the caller's, taken as the model server takes it (1 to 200
    bytes), else a new one. Forwarded to the replica, so a forwarded request's comes back the same."""
    for name, value in headers:
        if name == b"x-request-id" and 0 < len(value) <= 200:
            return name, value
    return b"x-request-id", os.urandom(16).hex().encode()


def _setting(env: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type that parses strictly; its default comes from `env` when set."""

    def parse_flag(text: str) -> Any:
        try:
            return parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (flag or {env})") from None

    return parse_flag


LIMIT_FLAGS = (  # flag, env var, parser, help; defaults are Limits'
    ("--header-timeout-s", "BERTH_GATEWAY_HEADER_TIMEOUT_S", lambda t: parse_float(t, minimum=0.01),
     "a request's headers must arrive within this many seconds of its first byte, else 408"),
    ("--body-timeout-s", "BERTH_GATEWAY_BODY_TIMEOUT_S", lambda t: parse_float(t, minimum=0.01),
     "a request's body must arrive within this many seconds of its headers, else 408"),
    ("--max-connections", "BERTH_GATEWAY_MAX_CONNECTIONS", lambda t: parse_int(t, minimum=1),
     "open client connections past which requests other than health checks get 503"),
    ("--max-pending", "BERTH_GATEWAY_MAX_PENDING", lambda t: parse_int(t, minimum=1),
     "requests waiting for replicas past which a request gets 503"),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serving.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="routes JSON file written by the backend")
    parser.add_argument("--keys-file", type=Path, default=None,
                        help="JSON file listing the accepted endpoint keys (then predict calls need one; "
                             "the routes file's own list is not used)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--graceful-timeout-s", type=int, default=30)
    defaults = Limits()
    for flag, env, parse, text in LIMIT_FLAGS:
        field = flag[2:].replace("-", "_")
        default = os.environ.get(env, str(getattr(defaults, field)))
        parser.add_argument(flag, dest=field, type=_setting(env, parse), default=default,
                            help=f"{text} (default {getattr(defaults, field)}) [env {env}]")
    return parser.parse_args(argv)


def _fit_file_limit(limits: Limits) -> Limits:
    """Every connection is a file descriptor: allow as many as the hard limit does, and keep the
    connection cap under it (with room for replicas' connections and the routes file), so that
    the cap, not accept() failing, is what a flood meets."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    room = hard - FILES_RESERVED if hard != resource.RLIM_INFINITY else limits.max_connections
    if limits.max_connections <= room:
        return limits
    log_event("max_connections_lowered", level="warning", asked=limits.max_connections, allowed=max(1, room),
              open_files_limit=hard)
    return replace(limits, max_connections=max(1, room))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_stdlib_logging()
    limits = _fit_file_limit(Limits(args.header_timeout_s, args.body_timeout_s, args.max_connections,
                                    args.max_pending))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the loop installs the reload handler
    import uvicorn

    log_event("gateway_startup", host=args.host, port=args.port, routes=str(args.config),
              keys_file=str(args.keys_file or ""), **asdict(limits))
    uvicorn.run(Gateway(args.config, limits, args.keys_file), host=args.host, port=args.port, http=ClientConnection, loop="uvloop",
                lifespan="on", access_log=False, proxy_headers=False, server_header=False, log_config=None,
                timeout_keep_alive=75, backlog=2048, timeout_graceful_shutdown=args.graceful_timeout_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
