"""Endpoint keys at the gateway: which callers may predict, checked without asking the console.

The routes file the backend writes carries, for a deployment that requires keys,
`"endpoint_keys": [{"id": "12", "sha256": "<hex>", "expires_at": <Unix time or null>}, ...]`
(every key of the project not revoked); a file without the field means keys are not required.
A gateway started with `--keys-file` reads the list from that file instead (same field), which on
Kubernetes is a Secret mounted beside the routes' ConfigMap (serving/gateway.py).
A caller sends `Authorization: Bearer <key>`; the gateway hashes it with SHA-256 and compares
the digest with each accepted one in constant time (hmac.compare_digest, no early exit).

A plain fast hash is enough: keys are 32 random bytes (256 bits), so no dictionary or
brute-force search of a leaked hash can find one, unlike a password that needs a slow hash.

Uses are counted per key id here (`KeyUsage`), shown on `/metrics`; the console scrapes them
to learn each key's last use, since the gateway never writes to the console's database.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BEARER = b"bearer "
CHALLENGE = (b"www-authenticate", b'Bearer realm="berth"')
USES_METRIC = "berth_gateway_endpoint_key_requests_total"
LAST_USED_METRIC = "berth_gateway_endpoint_key_last_used_seconds"


class KeyRefused(Exception):
    """The request carries no accepted key; the message says what to send instead."""


@dataclass(frozen=True)
class AcceptedKey:
    key_id: str
    digest: bytes                 # sha256 of the key
    expires_at: float | None      # Unix time; None never expires


class KeyRing:
    """The keys one deployment accepts, as its routes file lists them."""

    def __init__(self, keys: Iterable[AcceptedKey]) -> None:
        self.keys = tuple(keys)

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> KeyRing | None:
        """None when the config has no `endpoint_keys` (the deployment requires none); raises
        ValueError/KeyError/TypeError on a malformed list, so the whole file is rejected."""
        items = data.get("endpoint_keys")
        if items is None:
            return None
        if not isinstance(items, list):
            raise TypeError("endpoint_keys must be a list")
        return cls(AcceptedKey(str(item["id"]), bytes.fromhex(str(item["sha256"])),
                               None if item.get("expires_at") is None else float(item["expires_at"]))
                   for item in items)

    def check(self, headers: Iterable[tuple[bytes, bytes]], now: float | None = None) -> str:
        """The id of the key the request carries; KeyRefused when it has none that is accepted now."""
        presented = bearer_token(headers)
        if not presented:
            raise KeyRefused("this deployment requires an endpoint key: send the header "
                             "'Authorization: Bearer <key>' (create a key on the project's Endpoint keys page)")
        digest = hashlib.sha256(presented).digest()
        found: AcceptedKey | None = None
        for key in self.keys:  # every key compared, matching or not: the time says nothing about which
            if hmac.compare_digest(key.digest, digest):
                found = key
        if found is None:
            raise KeyRefused("this endpoint key is not accepted here: it is mistyped, revoked, or belongs to "
                             "another project")
        if found.expires_at is not None and found.expires_at <= (time.time() if now is None else now):
            when = datetime.fromtimestamp(found.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise KeyRefused(f"this endpoint key expired on {when}; create a new one on the project's "
                             "Endpoint keys page")
        return found.key_id


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The token of an `Authorization: Bearer …` header (scheme case-insensitive), else b""."""
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == BEARER:
            return value[7:].strip()
    return b""


class KeyUsage:
    """Uses of each key since the gateway started, and when each was last used (Unix time)."""

    def __init__(self) -> None:
        self.uses: dict[str, int] = {}
        self.last_used: dict[str, float] = {}

    def note(self, key_id: str) -> None:
        self.uses[key_id] = self.uses.get(key_id, 0) + 1
        self.last_used[key_id] = time.time()

    def render(self) -> bytes:
        """Prometheus text lines for /metrics (empty when no key was used)."""
        if not self.uses:
            return b""
        lines = [f"# HELP {USES_METRIC} Predict requests accepted with each endpoint key.",
                 f"# TYPE {USES_METRIC} counter"]
        lines += [f'{USES_METRIC}{{key_id="{k}"}} {n}' for k, n in sorted(self.uses.items())]
        lines += [f"# HELP {LAST_USED_METRIC} When each endpoint key was last accepted (Unix time).",
                  f"# TYPE {LAST_USED_METRIC} gauge"]
        lines += [f'{LAST_USED_METRIC}{{key_id="{k}"}} {t:.3f}' for k, t in sorted(self.last_used.items())]
        return ("\n".join(lines) + "\n").encode()
