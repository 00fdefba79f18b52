"""OCPP security profiles 0-3 on the backend link: the TLS context and the HTTP Basic header.

One function decides what a connection carries, from the configured profile only, so
the link can never quietly use less: profile 2 or 3 without a usable CA file is an
error, not a plain connection, and a failed handshake is retried at the same profile.

The TLS context trusts only the configured CA file and the CSMS root certificates the
backend installed over OCPP (``agent.certificates``; no system store: a charger should
trust its operator's hierarchy, not every public CA), verifies the chain and the host
name, and needs TLS 1.2 or later. There is deliberately no way to switch that off.
Either source alone is enough: a backend can move a charger to a new CSMS root by
installing it, and a charger set up with installed roots only needs no ``ca_file``.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import structlog

if TYPE_CHECKING:
    from cryptography import x509

    from ..settings import BackendSettings

#: Profiles that send HTTP Basic credentials, and those that need TLS.
BASIC_AUTH_PROFILES = frozenset({1, 2})
TLS_PROFILES = frozenset({2, 3})


class SecurityError(Exception):
    """The link cannot be secured as configured; the message names the key and the fix."""


class TlsFileError(SecurityError):
    """A TLS file cannot be used; `key` names its [backend] key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class LinkSecurity:
    """What one connection attempt carries: a TLS context (profiles 2, 3) and headers (1, 2)."""

    profile: int
    ssl: ssl.SSLContext | None
    headers: dict[str, str]


def link_security(backend: BackendSettings, charge_point_id: str, password: bytes | None,
                  installed_roots: Sequence[x509.Certificate] = (),
                  renewed_identity: tuple[Path, Path] | None = None) -> LinkSecurity:
    """The connection settings of the configured profile; raises SecurityError rather than
    return anything weaker. Built per attempt, so renewed certificate files, the CSMS
    roots installed since (``installed_roots``) and a client certificate the backend signed
    (``renewed_identity``, which wins over the configured pair) are picked up."""
    profile = backend.security_profile
    scheme = urlsplit(backend.url).scheme
    if (scheme == "wss") != (profile in TLS_PROFILES):
        raise SecurityError(f"security profile {profile} does not go with a {scheme}:// backend.url")
    context = None
    if profile in TLS_PROFILES:
        if backend.ca_file is None and not installed_roots:
            raise SecurityError(f"security profile {profile} needs backend.ca_file "
                                "or a CSMS root certificate installed by the backend")
        identity = None
        if profile == 3:
            identity = renewed_identity
            if identity is None:
                if backend.client_certificate is None or backend.client_key is None:
                    raise SecurityError("security profile 3 needs backend.client_certificate and backend.client_key")
                identity = (backend.client_certificate, backend.client_key)
        context = tls_context(backend.ca_file, identity, installed_roots)
    headers: dict[str, str] = {}
    if profile in BASIC_AUTH_PROFILES:
        if not password:
            raise SecurityError(f"security profile {profile} needs an authorization key")
        headers = basic_auth_header(charge_point_id, password)
    return LinkSecurity(profile, context, headers)


def basic_auth_header(charge_point_id: str, password: bytes) -> dict[str, str]:
    """RFC 7617 credentials: the user is the charge point id, the password sent as is."""
    token = base64.b64encode(charge_point_id.encode() + b":" + password).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def tls_context(ca_file: Path | None, identity: tuple[Path, Path] | None = None,
                installed_roots: Sequence[x509.Certificate] = ()) -> ssl.SSLContext:
    """A client context that trusts only `ca_file` and `installed_roots` and, for profile 3,
    presents `identity`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        load_trust(context, ca_file)
    for root in installed_roots:
        _trust_installed(context, root)
    if identity is not None:
        load_identity(context, *identity)
    return context


def _trust_installed(context: ssl.SSLContext, root: x509.Certificate) -> None:
    """Trust one installed root; one OpenSSL refuses is logged and left out, so it cannot
    stop the link from using ``ca_file`` or the other roots (the store checked each one,
    but ``cryptography`` reads some certificates OpenSSL does not)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        context.load_verify_locations(cadata=root.public_bytes(Encoding.PEM).decode("ascii"))
    except (ssl.SSLError, ValueError) as exc:
        structlog.get_logger("agent.link").warning(
            "installed CSMS root refused by OpenSSL: not trusted", subject=root.subject.rfc4514_string(),
            error=_reason(exc) if isinstance(exc, ssl.SSLError) else str(exc))


def load_trust(context: ssl.SSLContext, ca_file: Path) -> None:
    """Trust the CA certificates of a PEM file; TlsFileError says what is wrong with it."""
    _readable("ca_file", ca_file)
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except ssl.SSLError as exc:
        if exc.reason == "NO_CERTIFICATE_OR_CRL_FOUND":
            raise TlsFileError("ca_file", "holds no PEM certificate (-----BEGIN CERTIFICATE-----)") from None
        raise TlsFileError("ca_file", f"is not a usable PEM CA file ({_reason(exc)})") from None


def load_identity(context: ssl.SSLContext, certificate: Path, key: Path) -> None:
    """Present a certificate and its key; TlsFileError names the file at fault."""
    cert_text = _readable("client_certificate", certificate)
    key_text = _readable("client_key", key)
    if "-----BEGIN CERTIFICATE-----" not in cert_text:
        raise TlsFileError("client_certificate", "holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    if "ENCRYPTED" in key_text:
        raise TlsFileError("client_key", "is encrypted; the agent needs the key unencrypted (protect it with mode 600)")
    if "PRIVATE KEY-----" not in key_text:
        raise TlsFileError("client_key", "holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)")

    def no_password() -> bytes:  # never let OpenSSL prompt on a terminal
        raise TlsFileError("client_key", "is encrypted; the agent needs the key unencrypted (protect it with mode 600)")

    try:
        context.load_cert_chain(str(certificate), str(key), password=no_password)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsFileError("client_key",
                               "does not belong to backend.client_certificate (key values mismatch)") from None
        raise TlsFileError("client_key", f"cannot be used with backend.client_certificate ({_reason(exc)})") from None


def _readable(key: str, path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise TlsFileError(key, f"file not found ({path})") from None
    except IsADirectoryError:
        raise TlsFileError(key, f"is a directory, not a PEM file ({path})") from None
    except PermissionError:
        raise TlsFileError(key, f"cannot be read: permission denied ({path})") from None
    except OSError as exc:
        raise TlsFileError(key, f"cannot be read: {exc.strerror or exc} ({path})") from None


def _reason(exc: ssl.SSLError) -> str:
    return exc.reason or str(exc)


def fingerprint(secret: str | bytes) -> str:
    """A stable digest of a password, to notice that the file's key changed without storing it."""
    data = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(data).hexdigest()


def describe_tls_failure(error: BaseException, backend: BackendSettings) -> str | None:
    """A technician's line for a failed TLS handshake, or None if `error` is not one."""
    if isinstance(error, ssl.SSLCertVerificationError):
        code = error.verify_code
        if code in (2, 19, 20, 21):  # issuer unknown, self-signed in chain, local issuer unknown, leaf only
            if backend.ca_file is None:
                return "TLS: the backend's certificate is not signed by a CSMS root certificate installed by the backend"
            return f"TLS: the backend's certificate is not signed by a CA in backend.ca_file ({backend.ca_file})"
        if code == 10:
            return "TLS: the backend's certificate has expired"
        if code == 9:
            return "TLS: the backend's certificate is not valid yet (check the charger's clock)"
        if code in (62, 64):  # host name, IP address mismatch
            host = urlsplit(backend.url).hostname
            return f"TLS: the backend's certificate is not valid for the host name {host!r} in backend.url"
        return f"TLS: the backend's certificate was refused: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        if error.reason in OLD_TLS_REASONS:
            return "TLS: the backend offers only TLS older than 1.2, which this charger refuses"
        if error.reason in CIPHER_REASONS:
            return "TLS: the backend offers no cipher suite this charger accepts"
        return f"TLS: handshake failed: {_reason(error)}"
    return None


#: How OpenSSL says that the peer speaks only a TLS version below the minimum (1.2): the
#: server's alert, or its hello naming an older version.
OLD_TLS_REASONS = frozenset({"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "WRONG_SSL_VERSION",
                             "WRONG_VERSION_NUMBER"})
#: ... and that no cipher suite is shared.
CIPHER_REASONS = frozenset({"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH"})


def security_event_for(error: BaseException) -> tuple[str, str] | None:
    """The security event (type, techInfo) a failed connection attempt is, if any: the
    backend refused this charger's credentials (HTTP 401), its certificate failed the
    checks, it offered only TLS older than 1.2 or no acceptable cipher suite."""
    from websockets.exceptions import InvalidStatus  # the link's library; this module stays light

    from .. import security_events as events

    if isinstance(error, InvalidStatus) and error.response.status_code == 401:
        return events.FAILED_TO_AUTHENTICATE_AT_CSMS, "the backend answered HTTP 401 to the connection request"
    if isinstance(error, ssl.SSLCertVerificationError):
        return events.INVALID_CSMS_CERTIFICATE, f"TLS: {error.verify_message or _reason(error)}"
    if isinstance(error, ssl.SSLError) and error.reason in OLD_TLS_REASONS:
        return events.INVALID_TLS_VERSION, f"TLS: the backend offers only TLS older than 1.2 ({error.reason})"
    if isinstance(error, ssl.SSLError) and error.reason in CIPHER_REASONS:
        return events.INVALID_TLS_CIPHER_SUITE, f"TLS: no shared cipher suite ({error.reason})"
    return None


def describe_closed_handshake(profile: int) -> str:
    """The backend hung up before answering the upgrade. With TLS 1.3 that is how a refused
    client certificate looks from the charger's side; a plain server given a TLS hello
    does the same."""
    if profile == 3:
        return ("TLS: the backend closed the connection during the handshake; "
                "it probably did not accept this charger's client certificate")
    if profile == 2:
        return ("TLS: the backend closed the connection during the handshake "
                "(no wss:// there, or it wants a client certificate: profile 3)")
    return "the backend closed the connection during the handshake"
