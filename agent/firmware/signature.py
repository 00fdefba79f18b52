"""Checks for SignedUpdateFirmware (OCPP 1.6 security whitepaper, use case L01).

The backend sends the firmware's location, a signature (base64) and the certificate
that made it (PEM). The charger installs only what a key it trusts vouches for:

1. the signing certificate must be issued by one of the manufacturer's firmware CAs
   configured in ``[firmware] signing_ca`` and be valid today; otherwise the request is
   answered ``InvalidCertificate`` and nothing is downloaded;
2. once downloaded, the file's signature must verify with that certificate's key:
   SHA-256 with ECDSA, or with RSA (PKCS#1 v1.5 or PSS); otherwise ``InvalidSignature``
   and nothing is installed.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


class CertificateRejected(Exception):
    """The signing certificate is not one to trust; the message says why."""


class SignatureRejected(Exception):
    """The firmware file does not carry a valid signature; the message says why."""


def load_trusted(path: Path) -> list[x509.Certificate]:
    """The firmware signing CA certificates in the PEM file ``path``."""
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateRejected(f"cannot read the firmware signing CA file {path}: {exc}") from None
    if not certificates:
        raise CertificateRejected(f"{path} holds no certificate")
    return certificates


def check_certificate(pem: str, trusted: list[x509.Certificate], now: datetime | None = None) -> x509.Certificate:
    """The signing certificate, if one of ``trusted`` issued it and it is valid ``now``."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise CertificateRejected(f"the signing certificate is not a PEM X.509 certificate: {exc}") from None
    now = now or datetime.now(timezone.utc)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise CertificateRejected(
            f"the signing certificate {certificate.subject.rfc4514_string()} is valid from "
            f"{certificate.not_valid_before_utc:%Y-%m-%d} to {certificate.not_valid_after_utc:%Y-%m-%d}, "
            f"not on {now:%Y-%m-%d}")
    for issuer in trusted:
        if certificate.issuer != issuer.subject:
            continue
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return certificate
    raise CertificateRejected(
        f"the signing certificate {certificate.subject.rfc4514_string()} (issuer "
        f"{certificate.issuer.rfc4514_string()}) is not issued by a configured firmware signing CA")


def verify_file(path: Path, signature_b64: str, certificate: x509.Certificate) -> None:
    """Raise :class:`SignatureRejected` unless ``signature_b64`` signs the file's bytes."""
    try:
        # Line breaks and spaces are not part of base64's alphabet but of its layout:
        # PEM tools wrap it at 64 columns. Anything else is refused (validate=True).
        signature = base64.b64decode("".join(signature_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRejected("the signature is not base64") from None
    data = path.read_bytes()
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            return
        if isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                key.verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO),
                           hashes.SHA256())
            return
    except InvalidSignature:
        raise SignatureRejected(f"the signature of {path.name} does not verify with the signing certificate's "
                                "key (SHA-256)") from None
    raise SignatureRejected(f"the signing certificate's key ({type(key).__name__}) is not ECDSA or RSA")
