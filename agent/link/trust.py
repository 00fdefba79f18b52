"""What the TLS link trusts, seen from the live connection: the server chain a handshake
verified (so the certificate store can keep the root it stands on), the ``ca_file``
certificates, and a log line naming each installed CSMS root trusted beside ``ca_file``.

Why the log line: a CSMS root may be installed over a plain ``ws://`` link (OCPP 2.0.1
A05 installs the new root before a security profile upgrade), where anyone on the path
could have sent it. Refusing those would break the upgrade, so they are trusted like the
others; the operator sees, at each TLS connection after a change, exactly which extra
anchors are in use (subject and SHA-256 fingerprint) and can compare them with the
backend operator's (docs/operations.md, "CSMS root certificates").
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from cryptography import x509

log = structlog.get_logger("agent.link")


def verified_chain(ssl_object: Any) -> list[x509.Certificate]:
    """The server chain the handshake verified, leaf first and trust anchor last; the peer
    certificate alone where the Python at hand cannot give the chain (the store then
    checks which roots signed the leaf directly); empty when there is no TLS."""
    if not isinstance(ssl_object, (ssl.SSLObject, ssl.SSLSocket)):
        return []
    from cryptography import x509

    # Public from Python 3.13; 3.10-3.12 have it on the private object underneath.
    getter = getattr(ssl_object, "get_verified_chain", None) or getattr(
        getattr(ssl_object, "_sslobj", None), "get_verified_chain", None)
    try:
        if getter is not None:
            return [x509.load_der_x509_certificate(_der(c)) for c in getter()]
        leaf = ssl_object.getpeercert(binary_form=True)
        return [x509.load_der_x509_certificate(leaf)] if leaf else []
    except (ValueError, ssl.SSLError, AttributeError) as exc:
        log.warning("cannot read the server's certificate chain", error=str(exc))
        return []


def _der(certificate: Any) -> bytes:
    """DER of a chain element (``bytes`` from some Python versions, ``_ssl.Certificate`` from others)."""
    if isinstance(certificate, bytes):
        return certificate
    return certificate.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]


def ca_file_certificates(ca_file: Path | None) -> list[x509.Certificate]:
    """The certificates of ``ca_file`` (none when unset or unreadable: checked at start)."""
    if ca_file is None:
        return []
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(ca_file.read_bytes())
    except (OSError, ValueError):
        return []


class InstalledRootsNotice:
    """Logs the installed CSMS roots a TLS connection trusts beside ``ca_file``, once per
    change of that set (not at every reconnection)."""

    def __init__(self) -> None:
        self._last: tuple[str, ...] | None = None

    def connected(self, roots: Sequence[x509.Certificate], ca_file: Path | None) -> None:
        from ..certificates.store import fingerprint

        prints = tuple(sorted(fingerprint(c) for c in roots))
        if prints == self._last:
            return
        self._last = prints
        if not roots:
            return
        log.warning("installed CSMS root certificates trusted beside ca_file" if ca_file else
                    "installed CSMS root certificates trusted (no ca_file)",
                    ca_file=str(ca_file) if ca_file else None,
                    roots=[{"subject": c.subject.rfc4514_string(), "sha256": fingerprint(c)} for c in roots],
                    check="compare the fingerprints with the backend operator's; see docs/operations.md")
