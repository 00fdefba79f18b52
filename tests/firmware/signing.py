"""Firmware signing certificates made on the spot for the signed-update tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID


def name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def certificate(subject: str, key: Any, issuer: str, issuer_key: Any, days: tuple[int, int] = (-1, 365)) -> x509.Certificate:
    """A certificate for ``key`` named ``subject``, signed by ``issuer_key`` as ``issuer``,
    valid from ``days[0]`` to ``days[1]`` days from now; a self-signed one is a CA."""
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + timedelta(days=days[0])).not_valid_after(now + timedelta(days=days[1])))
    if key is issuer_key:  # self-signed: a CA (openssl checks the flag)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
