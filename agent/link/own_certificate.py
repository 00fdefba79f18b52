"""The link's part in the charger's own certificate: the signing job wired to this link
(its settings, its certificate store, its security events) and which handshake failure
counts as the backend refusing the client certificate.

The protocol-neutral work is :mod:`agent.certificates.own` and
:mod:`agent.certificates.signing`; the adapter only sends SignCertificate
(``BackendLink.sign_certificate``) and spells CertificateSigned's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog

from .. import clock
from ..certificates import CSMS_ROOT
from ..certificates.own import DIRECTORY as OWN_DIRECTORY
from ..certificates.own import OwnCertificate, register_key
from ..certificates.signing import CertificateSigning
from .rpc import CallFailed

if TYPE_CHECKING:
    from cryptography import x509

    from .connection import BackendLink

log = structlog.get_logger(__name__)
#: How often a request waiting for the link looks again (s).
ONLINE_POLL_S = 0.5
#: The beginnings of the link-down lines (agent.link.security) that say the backend ended
#: the TLS handshake: what a refused client certificate looks like from the charger. A
#: refused *server* certificate ("TLS: the backend's certificate ...") is not the client's fault.
_REFUSED = ("TLS: the backend closed the connection during the handshake", "TLS: handshake failed")


def tls_refused(problem: str) -> bool:
    return problem.startswith(_REFUSED)


def own_certificate_signing(link: BackendLink) -> tuple[OwnCertificate, CertificateSigning]:
    backend = link.settings.backend
    configured = None
    if backend.client_certificate is not None and backend.client_key is not None:
        configured = (backend.client_certificate, backend.client_key)
    own = OwnCertificate(link.certificates.directory / OWN_DIRECTORY, configured, lambda: clock.current().now())
    keys = [own.directory / "pending" / "key.pem"]
    renewed = own.renewed()
    if renewed is not None:
        keys.append(renewed[1])
    for key in keys:  # keys an earlier run made: never in a log line either
        with contextlib.suppress(OSError):
            register_key(key.read_bytes())
    link.certificates.renewed_own = lambda: own.chain() if own.renewed() else []  # DeleteCertificate refuses it

    def trusted() -> list[x509.Certificate]:
        """What a signed chain may end at: the installed CSMS roots, the TOML's ca_file, and
        the CAs above the client certificate in use (the operator signs renewals the same way)."""
        from cryptography import x509

        anchors = list(link.certificates.roots(CSMS_ROOT))
        if backend.ca_file is not None:
            try:
                anchors += x509.load_pem_x509_certificates(backend.ca_file.read_bytes())
            except (OSError, ValueError):
                pass
        anchors += own.chain()[1:]
        if configured is not None:
            anchors += link.certificates.own_certificates()[1:]
        return anchors

    async def record_event(kind: str, info: str) -> None:
        await link.db.run(link.journal.record_security_event, kind, info)
        link.wake()

    def subject() -> tuple[str, str]:
        return link.settings.charge_point.id, str(link.config["CpoName"])

    async def send(csr: str) -> bool:
        """SignCertificate on the next accepted connection; True when the backend answered Accepted."""
        while True:
            while not link.online:
                await asyncio.sleep(ONLINE_POLL_S)
            cp = link._cp
            if cp is None:
                continue
            try:
                answer = await cp.request(link._sign_certificate_request(csr))
            except CallFailed as exc:
                if exc.code == "ConnectionLost":
                    continue  # sent again on the next connection
                log.warning("sign certificate failed", error=str(exc))
                return False
            status = getattr(answer, "status", None)
            log.info("sign certificate", answer=status)
            return status == "Accepted"

    renew = backend.certificate_renew_days
    signing = CertificateSigning(
        own, send=send, subject=subject,
        wait_minimum=lambda: link.config.int("SecurityCtrlr.CertSigningWaitMinimum"),
        repeat_times=lambda: link.config.int("SecurityCtrlr.CertSigningRepeatTimes"),
        trusted=trusted, max_chain=lambda: link.config.int("CertificateSignedMaxChainSize"),
        record_event=record_event, now=lambda: clock.current().now(), renew_days=renew or None)
    return own, signing
