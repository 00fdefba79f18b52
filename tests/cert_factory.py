"""Certificates made by a test, with the dates and constraints the test chooses."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class Made:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_certificate(name: str, *, ca: bool = True, issuer: Made | None = None,
                     not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
                     serial: int | None = None, constraints: bool = True) -> Made:
    """A certificate for ``name``: self-signed unless ``issuer`` is given, valid from a day
    ago for a year unless the test says otherwise."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ladda tests"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
        .not_valid_after(not_after or NOW + datetime.timedelta(days=365))
    )
    if constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Made(certificate, key)


def hash_data_of(made: Made, issuer: Made | None = None) -> dict[str, str]:
    """The certificate's OCPP hash data (camelCase, SHA256) as a backend computes it."""
    from agent.certificates import hash_data

    data = hash_data(made.certificate, (issuer or made).certificate)
    return {"hashAlgorithm": data.hash_algorithm, "issuerNameHash": data.issuer_name_hash,
            "issuerKeyHash": data.issuer_key_hash, "serialNumber": data.serial_number}


def sign_csr(csr_pem: str, issuer: Made, *, not_before: datetime.datetime | None = None,
             not_after: datetime.datetime | None = None, public_key: object = None) -> x509.Certificate:
    """What a backend's CA makes of a charger's CSR: a leaf with the CSR's subject and key
    (or ``public_key``, to make one that does not fit), signed by ``issuer``."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key or csr.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
        .not_valid_after(not_after or NOW + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(issuer.key, hashes.SHA256())
    )


def pem_of(*certificates: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)
