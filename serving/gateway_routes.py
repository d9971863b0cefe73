"""The gateway's routing table: read from the JSON file the backend writes, picks replicas.

File shape: {"version", "model_id", "variations": [{"name", "shadow", "traffic_percent",
"timeout_ms", "endpoints": ["http://127.0.0.1:41234", "unix:/run/berth/r1/server.sock", ...]}]}, and
"endpoint_keys" when the deployment requires a key (serving/endpoint_keys.py). The gateway
may instead be given a keys file (`--keys-file`, a JSON object with that one field): then the keys
come from there, as on Kubernetes, where they are a Secret mounted beside the routes ConfigMap.
An endpoint is a replica's TCP address or `unix:` and the absolute path of its Unix socket
(serving/endpoints.py); a file with any other form is rejected. Live variations share traffic
by `traffic_percent`; a shadow variation gets a copy of `traffic_percent`% of requests.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from serving.endpoint_keys import KeyRing
from serving.endpoints import Endpoint


class RoutesError(ValueError):
    """The routing file is missing or malformed; the message says what is wrong."""


@dataclass
class Route:
    name: str
    endpoints: tuple[str, ...]
    traffic_percent: int
    shadow: bool
    timeout_s: float
    _next: itertools.count = field(default_factory=itertools.count, repr=False)

    def candidates(self, key_hash: int | None, attempts: int) -> list[str]:
        """Replicas to try in order for one request: sticky by key when one is given, round robin
        otherwise; each retry moves to the next replica."""
        base = key_hash if key_hash is not None else next(self._next)
        return [self.endpoints[(base + attempt) % len(self.endpoints)] for attempt in range(attempts)]


@dataclass(frozen=True)
class RoutingTable:
    version: str
    model_id: str
    live: tuple[Route, ...]
    shadows: tuple[Route, ...]
    keys: KeyRing | None = None  # None: predict calls need no key

    @property
    def endpoints(self) -> set[str]:
        """Every replica any variation routes to."""
        return {e for r in (*self.live, *self.shadows) for e in r.endpoints}

    @property
    def ready(self) -> bool:
        return any(route.endpoints for route in self.live)

    def by_name(self, name: str) -> Route | None:
        return next((r for r in (*self.live, *self.shadows) if r.name == name), None)

    def choose(self, key_hash: int | None) -> Route | None:
        """A live variation by weight; the same key always lands on the same variation."""
        routes = self._weighted
        if len(routes) < 2:
            return routes[0] if routes else None
        total = sum(r.traffic_percent for r in routes)
        point = (key_hash % total) if key_hash is not None else random.randrange(total)  # noqa: S311 - traffic split, not a secret
        for route in routes:
            point -= route.traffic_percent
            if point < 0:
                return route
        return routes[-1]

    @cached_property
    def _weighted(self) -> tuple[Route, ...]:
        """The live variations that take traffic: the table never changes, so worked out once."""
        return tuple(r for r in self.live if r.endpoints and r.traffic_percent > 0)

    def mirrors(self) -> list[Route]:
        """Shadow variations that get a copy of this request."""
        return [r for r in self.shadows if r.endpoints and random.randrange(100) < r.traffic_percent]  # noqa: S311 - sampling, not a secret


def key_hash(key: bytes | None) -> int | None:
    if not key:
        return None
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def load_routes(path: Path, keys_path: Path | None = None) -> RoutingTable:
    """The table of the routes file; with `keys_path`, its keys come from that file, which must list
    them (a missing or malformed keys file rejects the whole config: keys are never dropped)."""
    data = _read(path, "routes")
    try:
        version, model_id = str(data["version"]), str(data["model_id"])
        routes = [_route(item) for item in data["variations"]]
        keys = KeyRing.from_config(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise RoutesError(f"malformed routes in {path}: {exc!r}") from None
    if keys_path is not None:
        try:
            keys = KeyRing.from_config(_read(keys_path, "endpoint keys"))
        except (KeyError, TypeError, ValueError) as exc:
            raise RoutesError(f"malformed endpoint keys in {keys_path}: {exc!r}") from None
        if keys is None:
            raise RoutesError(f"{keys_path} lists no endpoint_keys")
    return RoutingTable(version, model_id, tuple(r for r in routes if not r.shadow),
                        tuple(r for r in routes if r.shadow), keys)


def _read(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RoutesError(f"can't read {what} from {path}: {exc}") from None
    if not isinstance(data, dict):
        raise RoutesError(f"{path} holds no JSON object")
    return data


def _route(item: dict[str, Any]) -> Route:
    return Route(name=str(item["name"]), endpoints=tuple(str(Endpoint.parse(str(e))) for e in item["endpoints"]),
                 traffic_percent=int(item["traffic_percent"]), shadow=bool(item.get("shadow")),
                 timeout_s=int(item.get("timeout_ms", 30_000)) / 1000)
