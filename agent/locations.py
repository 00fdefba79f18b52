"""Transfer locations the backend sends (diagnostics up, firmware down): which URLs the
charger can use, and how they may be shown.

Apart from the transfers themselves (``agent.transfer``): the handlers check a URL and
log it masked when the request comes, but the protocol libraries a transfer needs (FTP,
HTTP, urllib) are loaded only once a job runs; most chargers never run one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from .transfer_failures import TransferFailure

SCHEMES = ("ftp", "http", "https")
MASK = "****"
_DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443}


class TransferError(Exception):
    """A transfer failed; the message names the URL (password masked) and what failed.

    ``retry`` is False when trying again cannot help (an unsupported URL, a local file
    that cannot be read or written). ``kind`` says what the server's answer tells.
    """

    def __init__(self, message: str, retry: bool = True, kind: TransferFailure = TransferFailure.FAILED) -> None:
        super().__init__(message)
        self.retry = retry
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Target:
    """A transfer URL taken apart; ``shown`` is the URL as it may be printed."""

    scheme: str
    host: str
    port: int
    user: str
    password: str
    path: str  # percent-encoded, as in the URL
    query: str
    shown: str

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def plain_url(self) -> str:
        """The URL without credentials (urllib takes those as a header)."""
        return f"{self.scheme}://{self.netloc}{self.path or '/'}" + (f"?{self.query}" if self.query else "")

    def scrub(self, text: str) -> str:
        """A server's words with the password removed, should they quote it (as written
        or percent-encoded); one of a few characters would only garble them."""
        if len(self.password) >= 4:
            for secret in {self.password, quote(self.password, safe="")}:
                text = text.replace(secret, MASK)
        return text


def masked_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``****``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:{MASK}@{hostport}").geturl()


def with_file_name(url: str, file_name: str) -> str:
    """A location ending in ``/`` names a directory: the file goes in it under its own name."""
    return url + quote(file_name) if url.endswith("/") else url


def in_directory(url: str, file_name: str) -> str:
    """The URL of ``file_name`` in the directory ``url``, whether or not that ends in ``/``
    (OCPP 1.6 GetDiagnostics: the location is a directory, the file is named by the
    charger). The name is percent-encoded as one path segment; a query stays at the end.
    Raises TransferError (not retryable) if ``url`` is not one this module can use."""
    target(url)
    parts = urlsplit(url)
    directory = parts.path if parts.path.endswith("/") else parts.path + "/"
    return parts._replace(path=directory + quote(file_name, safe="")).geturl()


def check_url(url: str) -> None:
    """Raise TransferError (not retryable) unless ``url`` is one this module can use."""
    target(url)


def target(url: str) -> Target:
    shown = masked_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
        user = unquote(parts.username or "")
        password = unquote(parts.password or "")
    except ValueError as exc:
        raise TransferError(f"{shown}: not a usable URL ({exc})", retry=False) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TransferError(
            f"{shown}: unsupported protocol {scheme + '://' if scheme else '(none)'}; "
            "use ftp://, http:// or https://", retry=False)
    if not parts.hostname:
        raise TransferError(f"{shown}: no host in the URL", retry=False)
    return Target(scheme, parts.hostname, port or _DEFAULT_PORTS[scheme], user, password,
                   parts.path, parts.query, shown)
