"""Conformance of the emulator's container logs (``pods/NAME/log``) with kube-apiserver, over plain HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.k8s import ApiEmulator
from tests.k8s.rest import RestClient

LOG = "/api/v1/namespaces/{ns}/pods/{name}/log"


@pytest.fixture
def rest(k8s_api: ApiEmulator) -> RestClient:
    k8s_api.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "runner", "namespace": "jobs"},
            "spec": {"containers": [{"name": "terraform", "image": "orchestrator"}]},
        }
    )
    return RestClient(k8s_api.url)


def test_log_is_the_text_written_as_plain_text(k8s_api: ApiEmulator, rest: RestClient) -> None:
    k8s_api.write_pod_log("jobs", "runner", "init ok\nplan: 1 to add")
    k8s_api.write_pod_log("jobs", "runner", "apply done")
    response = rest.get(LOG.format(ns="jobs", name="runner"), accept="*/*")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.body == "init ok\nplan: 1 to add\napply done\n"


def test_timestamps_prefix_each_line_with_its_rfc3339_nano_time(k8s_api: ApiEmulator, rest: RestClient) -> None:
    k8s_api.write_pod_log("jobs", "runner", "first line", at=datetime(2026, 5, 1, 10, 0, 0, 250000, tzinfo=UTC))
    k8s_api.write_pod_log("jobs", "runner", "second line")
    body = rest.get(LOG.format(ns="jobs", name="runner"), params={"timestamps": "true"}, accept="*/*").body
    first, second = body.splitlines()
    assert first == "2026-05-01T10:00:00.250000000Z first line"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z second line", second)


def test_tail_lines_keeps_the_last_lines(k8s_api: ApiEmulator, rest: RestClient) -> None:
    k8s_api.write_pod_log("jobs", "runner", "one line\ntwo lines\nthree lines")
    path = LOG.format(ns="jobs", name="runner")
    assert rest.get(path, params={"tailLines": "2"}, accept="*/*").body == "two lines\nthree lines\n"
    assert rest.get(path, params={"tailLines": "x"}, accept="*/*").status == 400


def test_a_pod_without_output_has_an_empty_log(rest: RestClient) -> None:
    response = rest.get(LOG.format(ns="jobs", name="runner"), accept="*/*")
    assert (response.status, response.body) == (200, None)  # empty body


@pytest.mark.parametrize(
    ("namespace", "name", "params", "status"),
    [
        ("jobs", "missing", {}, 404),
        ("other", "runner", {}, 404),
        ("jobs", "runner", {"container": "sidecar"}, 400),
        ("jobs", "runner", {"container": "terraform"}, 200),
    ],
    ids=["unknown-pod", "other-namespace", "unknown-container", "named-container"],
)
def test_log_errors_like_kube_apiserver(
    rest: RestClient, namespace: str, name: str, params: dict[str, str], status: int
) -> None:
    response = rest.get(LOG.format(ns=namespace, name=name), params=params, accept="*/*")
    assert response.status == status
    if status != 200:
        assert response.body["kind"] == "Status" and response.body["code"] == status


def test_writes_to_the_log_subresource_are_refused(rest: RestClient) -> None:
    response = rest.post(LOG.format(ns="jobs", name="runner"), {"x": 1})
    assert response.status == 405
