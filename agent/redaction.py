"""The one place secrets are taken out of text before it is logged or archived.

Every log line (the agent's own events and the libraries' records) passes through
:class:`Redactor` as the last step before rendering, tracebacks included, and every
line a diagnostics archive takes from the log files passes through :func:`redact_text`
again (a file written by an older release, or by a line logged before a secret was
known, is cleaned on the way out).

What is a secret: the values the agent knows to be secret (the AuthorizationKey, the
basic-auth password, key passwords: registered with :func:`register_secret` as soon as
they are known, a new AuthorizationKey before it is even stored); the password part of
any URL (``ftp://user:PASSWORD@host/``); an HTTP ``Authorization`` header's credentials;
a PEM private key; and the value of any field whose name says it is secret.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

MASK = "****"
#: Field names whose values are never shown, compared without case, ``_`` or ``-``.
SECRET_FIELDS = frozenset({
    "authorizationkey", "password", "passwd", "secret", "token", "privatekey", "keypassword", "basicauthpassword",
})
#: Secrets shorter than this are not searched for inside text (a 1-character "secret"
#: would mask every occurrence of that character); such values are refused as keys anyway.
_MIN_SECRET = 4

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@\"']*):[^\s/@\"']*@")
_AUTH_HEADER = re.compile(r"(?i)(?P<head>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|digest)\s+)"
                          r"[A-Za-z0-9+/=._~-]+")
_PRIVATE_KEY = re.compile(r"-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
                          re.DOTALL)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: object) -> None:
    """From now on ``value`` (and its hexadecimal decoding, if it is one) never appears in
    a log line or a diagnostics archive. Safe to call from any thread, any number of times."""
    if not isinstance(value, str) or len(value) < _MIN_SECRET:
        return
    with _lock:
        _secrets.add(value)
        if len(value) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in value):
            try:
                decoded = bytes.fromhex(value).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                decoded = ""
            if len(decoded) >= _MIN_SECRET and decoded.isprintable():
                _secrets.add(decoded)


def known_secrets() -> list[str]:
    """The registered secrets, longest first (so a secret containing another is masked whole)."""
    with _lock:
        return sorted(_secrets, key=len, reverse=True)


def forget_secrets() -> None:
    """Drop every registered secret (tests, and a process that starts logging anew)."""
    with _lock:
        _secrets.clear()


def redact_text(text: str) -> str:
    """``text`` with every secret it holds replaced by ``****``."""
    if not text:
        return text
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH_HEADER.sub(lambda m: m.group("head") + MASK, text)
    if "PRIVATE KEY-----" in text:
        text = _PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m.group('kind')}----- {MASK}", text)
    return text


def is_secret_field(name: str) -> bool:
    return name.lower().replace("_", "").replace("-", "") in SECRET_FIELDS


def redact_value(value: Any, depth: int = 0) -> Any:
    """A log field's value with secrets masked, looking inside lists and dicts."""
    if isinstance(value, str):
        return redact_text(value)
    if depth > 8:
        return value
    if isinstance(value, Mapping):
        return {k: (MASK if isinstance(k, str) and is_secret_field(k) and v else redact_value(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return value


class Redactor:
    """structlog processor: the last step before an event is rendered, anywhere."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        for secret in secrets:
            register_secret(secret)

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if key.startswith("_"):
                continue  # structlog's own records (the stdlib LogRecord), rendered from the fields
            if is_secret_field(key) and value:
                event[key] = MASK
            else:
                event[key] = redact_value(value)
        return event
