"""Where a replica listens, as one string, and the httpx client that reaches it.

Two forms: `http://127.0.0.1:41234` (a TCP port) and `unix:/absolute/path/server.sock` (a
Unix socket, for a replica sandboxed without a network). Requests to a unix: endpoint go
through a transport bound to the socket and are addressed to `http://replica`; the host
name only fills the URL and the Host header. The gateway reaches replicas through its own
pools (serving/upstream.py), built on `Endpoint` too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

UNIX = "unix:"
SOCKET_BASE_URL = "http://replica"


class EndpointError(ValueError):
    """An endpoint string in neither form; the message shows both."""


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint: the base URL requests are built on and, for unix:, the socket path."""

    base_url: str
    uds: str | None = None

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        if text.startswith(UNIX):
            path = text[len(UNIX):]
            if not os.path.isabs(path):
                raise EndpointError(f"endpoint {text!r}: a unix: endpoint names an absolute socket path")
            return cls(SOCKET_BASE_URL, path)
        if text.startswith(("http://", "https://")):
            return cls(text.rstrip("/"))
        raise EndpointError(f"endpoint {text!r}: expected http://host:port or unix:/absolute/path/to/server.sock")

    def __str__(self) -> str:
        return UNIX + self.uds if self.uds is not None else self.base_url

    def url(self, path: str) -> str:
        """The absolute URL of `path` (which starts with /) on this endpoint."""
        return self.base_url + path


# No TLS ever runs over a replica's socket, so its transport skips loading a CA bundle (that
# costs ~35 ms per client). trust_env=False: an HTTP(S)_PROXY in the environment would
# otherwise take http://replica to the proxy instead of the socket.

def client(endpoint: Endpoint, **options: Any) -> httpx.Client:
    """A client for this endpoint alone; `options` go to httpx.Client (timeout, …)."""
    if endpoint.uds is None:
        return httpx.Client(**options)
    return httpx.Client(transport=httpx.HTTPTransport(uds=endpoint.uds, verify=False), trust_env=False, **options)

