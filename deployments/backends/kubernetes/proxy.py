"""Reaching a pod's port from outside the cluster: through the API server's pod proxy, with the console's credentials.

A pod's port answers at `<api>/api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/<path>` (the
`pods/proxy` subresource, which the shipped Role grants). The API server authenticates that
request like any other, so the HTTP client that reads it (the metrics scraper, the endpoint keys'
last use) carries what the `kubernetes` client's Configuration holds: the CA (file or data) or no
verification, a client certificate and key, a proxy, the TLS server name, and the bearer token,
read on every request through `Configuration.auth_settings()`, which runs the configuration's
refresh hook first (an exec plugin's, OIDC's or the in-cluster service account's token that
expires is renewed there, as the `kubernetes` client itself renews it).

One httpx client per process and per cluster (making one loads a CA bundle, ~30 ms of CPU):
`client_for(configuration)` gives the same client for every Configuration of the same cluster and
user, and reads the token from the newest Configuration it was given.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Generator
from typing import Any

import certifi
import httpx
from kubernetes.client import Configuration

TIMEOUT_S = 5.0  # callers pass their own per request when they want less (the scraper's 2 s)

_clients: dict[tuple[Any, ...], tuple[httpx.Client, _Credentials]] = {}
_lock = threading.Lock()


def pod_url(configuration: Configuration, namespace: str, pod: str, port: int) -> str:
    """The base URL of `pod`'s `port` through the API server (append `/metrics`, `/health/ready`…)."""
    return f"{configuration.host.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy"


def client_for(configuration: Configuration) -> httpx.Client:
    """The process's client for the cluster and user of `configuration` (made on first use)."""
    key = _key(configuration)
    with _lock:
        found = _clients.get(key)
        if found is None:
            credentials = _Credentials(configuration)
            found = _clients[key] = (_client(configuration, credentials), credentials)
        found[1].configuration = configuration
    return found[0]


class _Credentials(httpx.Auth):
    """Each request gets the Configuration's current authorization header (and TLS server name)."""

    def __init__(self, configuration: Configuration) -> None:
        self.configuration = configuration

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        configuration = self.configuration
        settings: dict[str, Any] = dict(configuration.auth_settings())
        for setting in settings.values():
            if setting["in"] == "header" and setting["value"]:
                request.headers[setting["key"]] = setting["value"]
        if getattr(configuration, "tls_server_name", None):
            request.extensions = {**request.extensions, "sni_hostname": configuration.tls_server_name}
        yield request


def _key(configuration: Configuration) -> tuple[Any, ...]:
    """What makes two configurations need different clients: the cluster's address and TLS (the token is
    read per request, from the newest Configuration: the console has one kubeconfig)."""
    c = configuration
    return (c.host, c.ssl_ca_cert, c.ca_cert_data, c.verify_ssl, c.cert_file, c.key_file, c.proxy,
            getattr(c, "tls_server_name", None), c.assert_hostname)


def _client(configuration: Configuration, credentials: _Credentials) -> httpx.Client:
    return httpx.Client(verify=_tls(configuration), auth=credentials, proxy=configuration.proxy or None,
                        timeout=TIMEOUT_S, trust_env=False)


def _tls(configuration: Configuration) -> ssl.SSLContext:
    """As the `kubernetes` client verifies the API server (urllib3 with the same settings)."""
    c = configuration
    if c.verify_ssl:
        cadata = c.ca_cert_data.decode() if isinstance(c.ca_cert_data, bytes) else c.ca_cert_data
        context = ssl.create_default_context(cafile=c.ssl_ca_cert or (None if cadata else certifi.where()),
                                             cadata=cadata)
        context.check_hostname = c.assert_hostname is not False
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if c.cert_file:
        context.load_cert_chain(c.cert_file, c.key_file)
    return context
