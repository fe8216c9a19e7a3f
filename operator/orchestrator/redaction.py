"""Keep secrets out of everything the operator writes: status, events, logs and ticket text."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MASK = "***"
# Values this short would mask ordinary words; credentials and exposed secrets are longer in practice.
MIN_SECRET_LENGTH = 4
_HEADER_VALUE = re.compile(
    r"(?i)(['\"]?(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key)['\"]?\s*[:=]\s*)"
    r"(['\"]?)[^'\"\n,}]+"
)
_BASIC_OR_BEARER = re.compile(r"(?i)\b(basic|bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}")


class Redactor:
    """Masks known secret values (and their base64 and ``user:secret`` encodings) plus credential headers."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            self._secrets.add(secret)
            self._secrets.add(base64.b64encode(secret.encode()).decode())

    def add_basic_auth(self, user: str, token: str) -> None:
        self.add([token, f"{user}:{token}"])

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def contains_secret(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        text = _HEADER_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        return _BASIC_OR_BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def merged(*redactors: Redactor) -> Redactor:
    """One redactor masking everything the given ones mask."""
    result = Redactor()
    for redactor in redactors:
        result._secrets |= redactor._secrets
    return result
