"""Conformance of the emulated service proxy (``services/NAME[:PORT]/proxy/PATH``) with kube-apiserver's."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.fakes.servers import TrackingHTTPServer, serve, shut_down
from tests.k8s import ApiEmulator
from tests.k8s.rest import RestClient

NS = "tools"
PROXY = "/api/v1/namespaces/tools/services/{target}/proxy{path}"


class _Echo(BaseHTTPRequestHandler):
    """Answers with what it was asked: method, path with query, headers and body (as JSON); /fail answers 503."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        status = 503 if self.path.startswith("/fail") else 200
        payload = json.dumps(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[str]:
    server = TrackingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = serve(server, "proxy-backend")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    shut_down(server, thread)


@pytest.fixture
def rest(k8s_api: ApiEmulator, backend: str) -> RestClient:
    k8s_api.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9090}]},
        }
    )
    k8s_api.proxy_service(NS, "web", backend)
    return RestClient(k8s_api.url)


@pytest.mark.parametrize(
    "target", ["web", "web:http", "web:8080", "http:web:http", "web:admin"], ids=lambda t: t.replace(":", "_")
)
def test_proxy_forwards_path_and_query_to_the_service(rest: RestClient, target: str) -> None:
    response = rest.get(PROXY.format(target=target, path="/metrics"), params={"name[]": "a b"})
    assert response.status == 200
    assert response.body["method"] == "GET"
    assert response.body["path"] == "/metrics?name%5B%5D=a+b"


def test_proxy_without_a_path_asks_for_the_root(rest: RestClient) -> None:
    assert rest.get(PROXY.format(target="web:http", path="")).body["path"] == "/"


def test_proxy_forwards_bodies_and_headers_but_not_the_callers_credentials(rest: RestClient) -> None:
    response = rest.post(
        PROXY.format(target="web:http", path="/hooks/git-sync"),
        {"x": 1},
        headers={"Authorization": "Bearer secret-token", "Gitsync-Hash": "abc123"},
    )
    assert response.status == 200
    assert response.body["method"] == "POST"
    assert json.loads(response.body["body"]) == {"x": 1}
    assert response.body["headers"]["Gitsync-Hash"] == "abc123"
    assert "Authorization" not in response.body["headers"]


def test_proxy_passes_the_backends_error_status_through(rest: RestClient) -> None:
    response = rest.get(PROXY.format(target="web:http", path="/fail"))
    assert response.status == 503
    assert response.body["path"] == "/fail"  # the backend's own body, not a Status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("target", "setup", "code", "message"),
    [
        ("nope:http", None, 404, 'services "nope" not found'),
        ("web:metrics", None, 503, 'no endpoints available for service "web"'),
        ("web:7070", None, 503, 'no service port 7070 found for service "web"'),
        ("web:http", "no-endpoints", 503, 'no endpoints available for service "web"'),
        ("web:http", "dead-backend", 503, "error trying to reach service"),
    ],
    ids=["unknown-service", "unknown-port-name", "unknown-port-number", "no-endpoints", "backend-down"],
)
def test_proxy_failures_are_kubernetes_statuses(
    rest: RestClient, k8s_api: ApiEmulator, target: str, setup: str | None, code: int, message: str
) -> None:
    if setup == "no-endpoints":
        k8s_api.proxy_service(NS, "web", None)
    elif setup == "dead-backend":
        k8s_api.proxy_service(NS, "web", f"http://127.0.0.1:{_free_port()}")
    response = rest.get(PROXY.format(target=target, path="/readyz"))
    assert response.status == code
    assert response.body["kind"] == "Status"
    assert response.body["reason"] == ("NotFound" if code == 404 else "ServiceUnavailable")
    assert message in response.body["message"]


def test_proxy_is_counted_as_the_proxy_subresource(rest: RestClient, k8s_api: ApiEmulator) -> None:
    k8s_api.reset_access()
    rest.get(PROXY.format(target="web:http", path="/readyz"))
    accesses = list(k8s_api.access_counts())
    assert [(a.verb, a.resource, a.subresource, a.namespace, a.code) for a in accesses] == [
        ("get", "services", "proxy/readyz", NS, 200)
    ]


def test_the_server_version_is_served(rest: RestClient) -> None:
    version = rest.get("/version").body
    assert version["gitVersion"].startswith("v1.")
    assert {"major", "minor", "platform"} <= set(version)
