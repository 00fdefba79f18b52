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

import enum
import re
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

MASK = "****"
#: A field whose name (without case, ``_`` or ``-``) contains one of these never shows its value.
SECRET_NAME_PARTS = ("password", "passwd", "secret", "authorizationkey", "authkey", "apikey", "privatekey",
                     "accesstoken", "bearertoken", "credential")
#: ... nor does a field with exactly one of these names (not "key": a configuration key's
#: name is logged as ``key``).
SECRET_NAMES = frozenset({"token"})
#: Secrets shorter than this are not searched for inside text (a 1-character "secret"
#: would mask every occurrence of that character); such values are refused as keys anyway.
_MIN_SECRET = 4

# The password runs to the last "@" of the URL (a password with "@" or "/" in it is masked
# whole; masking a little too much is the safe side).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@\"']*):[^\s\"']*@")
_AUTH_HEADER = re.compile(r"(?i)(?P<head>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|digest)\s+)"
                          r"[A-Za-z0-9+/=._~-]+")
# A value quoted after a name that says it is secret, in any text (a repr, a header dump):
# password='x', "authorizationKey": "x", api_key=x ...
_NAMED_SECRET = re.compile(
    r"(?i)(?P<head>\b[\w-]*(?:password|passwd|secret|authorization_?key|auth_?key|api_?key|private_?key|"
    r"access_?token|bearer_?token|auth_?token)"
    r"[\"']?\s*[=:]\s*)(?:(?P<q>[\"'])[^\"']*(?P=q)|[^\s,;)}\]\"']+)")
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
            _secrets.update((value.lower(), value.upper()))  # hexadecimal is hexadecimal in either case
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
    text = _NAMED_SECRET.sub(lambda m: f"{m.group('head')}{MASK}", text)
    if "PRIVATE KEY-----" in text:
        text = _PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m.group('kind')}----- {MASK}", text)
    return text


def is_secret_field(name: str) -> bool:
    plain = name.lower().replace("_", "").replace("-", "")
    return plain in SECRET_NAMES or any(part in plain for part in SECRET_NAME_PARTS)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A log field's value with secrets masked, looking inside lists and dicts; anything
    else that is not a plain number becomes its (redacted) text, as a renderer would show it."""
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth > 8:
        return "(nested too deep to log)"
    if isinstance(value, Mapping):
        return {redact_value(str(k)): (MASK if is_secret_field(str(k)) and v else redact_value(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return redact_text(str(value) if isinstance(value, enum.Enum | Path) else repr(value))


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
