"""The scraper's client for the pod proxy is made from the kubeconfig as the `kubernetes` client reads it: the
API server's CA, a client certificate, and a bearer token renewed when it expires.

An HTTPS server of this test plays the API server's pod proxy: it trusts only client certificates its CA
signed, answers a pod's `/metrics` only with the token it currently accepts, and serves Prometheus text. The
kubeconfig carries the CA and the client certificate as data (as `kubectl config view --raw` shows them), and
the token comes from an exec credential plugin (as EKS, GKE and OIDC logins give it).
"""

from __future__ import annotations

import base64
import datetime
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes.client import Configuration

from deployments.backends.kubernetes import proxy
from deployments.backends.kubernetes.client import connect
from monitoring.scrape import scrape_all
from monitoring.targets import Target

METRICS = b"# TYPE berth_requests_total counter\nberth_requests_total{path=\"/v1/predict\",code=\"200\"} 7\n"
POD_PATH = "/api/v1/namespaces/berth-fraud/pods/iris-default-0:8080/proxy"


@dataclass
class Pem:
    cert: bytes
    key: bytes


def issue(name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
          server: bool = False) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Pem]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1)))
    if issuer is None:
        builder = builder.issuer_name(subject).add_extension(x509.BasicConstraints(ca=True, path_length=None), True) \
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), True)
        signer = key
    else:
        builder = builder.issuer_name(issuer[0].subject).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            False)
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                                            False)
        signer = issuer[1]
    cert = builder.sign(signer, hashes.SHA256())
    pem = Pem(cert.public_bytes(serialization.Encoding.PEM),
              key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))
    return cert, key, pem


class ProxyHandler(BaseHTTPRequestHandler):
    server: ApiServer

    def do_GET(self) -> None:
        peer = self.connection.getpeercert() or {}
        user = dict(item[0] for item in peer.get("subject", ()))
        self.server.seen.append((self.path, self.headers.get("Authorization", ""), user.get("commonName", "")))
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self._answer(401, b'{"kind":"Status","code":401,"reason":"Unauthorized"}')
        if self.path != f"{POD_PATH}/metrics":
            return self._answer(404, b'{"kind":"Status","code":404}')
        return self._answer(200, METRICS, "text/plain; version=0.0.4")

    def _answer(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.token = "first-token"  # noqa: S105 - the token this API server accepts now
        self.seen: list[tuple[str, str, str]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused handshake (no client certificate): the client sees it

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


@dataclass
class Cluster:
    server: ApiServer
    ca: Pem
    client: Pem
    token_file: Path
    tmp: Path

    def kubeconfig(self, name: str, ca: bool = True, client_cert: bool = True) -> str:
        cluster: dict[str, Any] = {"server": self.server.url}
        if ca:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca.cert).decode()
        plugin = self.tmp / "token_plugin.py"
        plugin.write_text(
            "import json, pathlib\n"
            "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential',\n"
            f"    'status': {{'token': pathlib.Path({str(self.token_file)!r}).read_text().strip(),\n"
            "               'expirationTimestamp': '2001-01-01T00:00:00Z'}}))\n")  # expired at once: asked each time
        user: dict[str, Any] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                         "command": sys.executable, "args": [str(plugin)]}}
        if client_cert:
            user["client-certificate-data"] = base64.b64encode(self.client.cert).decode()
            user["client-key-data"] = base64.b64encode(self.client.key).decode()
        path = self.tmp / name
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "tls",
            "clusters": [{"name": "tls", "cluster": cluster}], "users": [{"name": "berth", "user": user}],
            "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "berth"}}]}))
        return str(path)

    def rotate_token(self, token: str) -> None:
        self.token_file.write_text(token)
        self.server.token = token


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    ca_cert, ca_key, ca = issue("stand-in CA")
    _, _, server = issue("kube-apiserver", (ca_cert, ca_key), server=True)
    _, _, client = issue("berth-console", (ca_cert, ca_key))
    for name, pem in (("server", server), ("ca", ca)):
        (tmp_path / f"{name}.crt").write_bytes(pem.cert)
        (tmp_path / f"{name}.key").write_bytes(pem.key)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    tls.load_verify_locations(tmp_path / "ca.crt")
    tls.verify_mode = ssl.CERT_REQUIRED
    api = ApiServer(tls)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    token_file = tmp_path / "token"
    running = Cluster(api, ca, client, token_file, tmp_path)
    running.rotate_token("first-token")
    yield running
    api.shutdown()
    api.server_close()


def scraped(kubeconfig: str | Configuration) -> dict[str, float]:
    """What the scraper reads from the pod through the client the Kubernetes backend would give it."""
    configuration = connect(kubeconfig).configuration if isinstance(kubeconfig, str) else kubeconfig
    target = Target("default", "default-3f9a1c2e-0", proxy.pod_url(configuration, "berth-fraud", "iris-default-0", 8080),
                    client=proxy.client_for(configuration))
    found = scrape_all([target])
    return {name: value for (name, _), value in found[target].items()} if target in found else {}


def test_the_scraper_reads_a_pod_with_the_kubeconfigs_ca_client_certificate_and_token(cluster: Cluster) -> None:
    assert scraped(cluster.kubeconfig("kubeconfig")) == {"berth_requests_total": 7}
    assert cluster.server.seen[-1] == (f"{POD_PATH}/metrics", "Bearer first-token", "berth-console")


def test_an_expired_token_is_renewed_through_the_configurations_refresh_hook(cluster: Cluster) -> None:
    configuration = connect(cluster.kubeconfig("kubeconfig")).configuration  # loaded once, as a worker keeps it
    assert scraped(configuration)

    cluster.rotate_token("second-token")  # the plugin gives the new one; the old one is refused from now on

    assert scraped(configuration) == {"berth_requests_total": 7}
    assert cluster.server.seen[-1][1] == "Bearer second-token"


def test_a_new_configuration_of_the_same_cluster_gets_the_same_client_with_its_token(cluster: Cluster) -> None:
    kubeconfig = cluster.kubeconfig("kubeconfig")
    client = proxy.client_for(connect(kubeconfig).configuration)
    cluster.rotate_token("second-token")

    assert proxy.client_for(connect(kubeconfig).configuration) is client, "one client per process and cluster"
    assert scraped(kubeconfig) == {"berth_requests_total": 7}


@pytest.mark.parametrize(("ca", "client_cert"), [(False, True), (True, False)])
def test_nothing_is_read_without_the_clusters_ca_or_the_client_certificate(cluster: Cluster, ca: bool,
                                                                          client_cert: bool) -> None:
    kubeconfig = cluster.kubeconfig(f"kubeconfig-{ca}-{client_cert}", ca=ca, client_cert=client_cert)

    assert scraped(kubeconfig) == {}
    assert not cluster.server.seen, "no request got through the TLS handshake"


def test_the_pod_proxy_client_keys_on_the_cluster_not_on_the_token(cluster: Cluster) -> None:
    first = connect(cluster.kubeconfig("one")).configuration
    again = connect(cluster.kubeconfig("two")).configuration
    other = connect(cluster.kubeconfig("three", client_cert=False)).configuration

    assert proxy.client_for(first) is proxy.client_for(again)
    assert proxy.client_for(other) is not proxy.client_for(first)
