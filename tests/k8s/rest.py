"""A minimal synchronous HTTP client for the emulator (urllib only), used by the conformance tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Response", "RestClient"]

TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def reason(self) -> str | None:
        return self.body.get("reason") if isinstance(self.body, dict) and self.body.get("kind") == "Status" else None


class RestClient:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Response:
        data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Accept": accept, **({"Content-Type": content_type} if data is not None else {}), **(headers or {})}
        req = urllib.request.Request(self.url(path, params), data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
        except urllib.error.HTTPError as exc:
            raw, status, hdrs = exc.read(), exc.code, dict(exc.headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode()
        return Response(status, parsed, hdrs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Response:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> Response:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, patch_type: str = "merge", **kwargs: Any) -> Response:
        content_type = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "apply": "application/apply-patch+yaml",
        }.get(patch_type, patch_type)
        return self.request("PATCH", path, body, content_type=content_type, **kwargs)

    def delete(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.request("DELETE", path, body, **kwargs)

    def watch(self, path: str, *, timeout: float = 5.0, **params: Any) -> Iterator[dict[str, Any]]:
        """Stream watch events (``?watch=true``) until the server ends the stream or ``timeout`` passes."""
        params = {"watch": "true", **{k: v for k, v in params.items() if v is not None}}
        req = urllib.request.Request(self.url(path, params), headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            try:
                for line in resp:
                    if line.strip():
                        yield json.loads(line)
            except TimeoutError:
                return
