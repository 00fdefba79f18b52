"""OCPP certificate hash data: how both protocols name one certificate.

OCPP 2.0.1 part 2 (CertificateHashDataType) and the 1.6 security whitepaper take the
fields of an OCSP CertID (RFC 6960): ``issuerNameHash`` is the hash of the DER encoding
of the certificate's issuer name, ``issuerKeyHash`` the hash of the issuer's public key
as the *contents* of the subjectPublicKey BIT STRING (without tag, length and the
unused-bits octet), ``serialNumber`` the serial in hexadecimal without ``0x`` and
without leading zeroes. Both hashes are taken over the bytes as they are in the
certificate, read from its DER with the small reader below, never re-encoded, so the
values are the ones ``openssl ocsp -issuer ... -cert ... -reqout`` puts in a request.

Hexadecimal is written in lower case; a backend's hash data is compared without regard
to case and to leading zeroes of the serial number (backends differ on both).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

#: OCPP's HashAlgorithmEnumType and the hashlib name of each.
ALGORITHMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}


@dataclass(frozen=True, slots=True)
class HashData:
    """One certificate's hash data, in OCPP's words (hexadecimal strings, lower case)."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def wire(self) -> dict[str, str]:
        """As both protocols spell it (the library turns snake_case into camelCase)."""
        return {"hash_algorithm": self.hash_algorithm, "issuer_name_hash": self.issuer_name_hash,
                "issuer_key_hash": self.issuer_key_hash, "serial_number": self.serial_number}

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> HashData:
        """The backend's hash data (snake_case or camelCase keys); ValueError if incomplete."""
        def field(snake: str, camel: str) -> str:
            value = raw.get(snake, raw.get(camel))
            if not isinstance(value, str):
                raise ValueError(f"certificateHashData has no {camel}")
            return value

        return cls(field("hash_algorithm", "hashAlgorithm"), field("issuer_name_hash", "issuerNameHash"),
                   field("issuer_key_hash", "issuerKeyHash"), field("serial_number", "serialNumber"))

    def same_serial_and_issuer_name(self, other: HashData) -> bool:
        return (self.hash_algorithm == other.hash_algorithm
                and self.issuer_name_hash.lower() == other.issuer_name_hash.lower()
                and _serial(self.serial_number) == _serial(other.serial_number))

    def matches(self, other: HashData) -> bool:
        """The same certificate, allowing for case and a serial's leading zeroes."""
        return self.same_serial_and_issuer_name(other) and self.issuer_key_hash.lower() == other.issuer_key_hash.lower()


def _serial(text: str) -> str:
    return text.lower().removeprefix("0x").lstrip("0") or "0"


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate | None, algorithm: str = "SHA256") -> HashData:
    """The hash data of ``certificate``, whose issuer is ``issuer`` (itself for a root).
    Without the issuer (a leaf whose CA the charger does not hold) the key hash is empty."""
    digest = ALGORITHMS.get(algorithm)
    if digest is None:
        raise ValueError(f"hash algorithm {algorithm} is not one of {', '.join(ALGORITHMS)}")
    fields = tbs_fields(certificate.tbs_certificate_bytes)
    key_hash = ""
    if issuer is not None:
        key_hash = hashlib.new(digest, subject_public_key(issuer)).hexdigest()
    return HashData(algorithm, hashlib.new(digest, fields.issuer).hexdigest(), key_hash,
                    format(certificate.serial_number, "x"))


@dataclass(frozen=True, slots=True)
class TbsFields:
    issuer: bytes  # the issuer Name, DER as in the certificate (tag and length included)
    public_key_bits: bytes  # the subjectPublicKey BIT STRING's contents, without the unused-bits octet


def subject_public_key(certificate: x509.Certificate) -> bytes:
    return tbs_fields(certificate.tbs_certificate_bytes).public_key_bits


def tbs_fields(tbs: bytes) -> TbsFields:
    """The issuer and the public key bits of a TBSCertificate (RFC 5280 4.1):
    SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity, subject,
    subjectPublicKeyInfo SEQUENCE { algorithm, subjectPublicKey BIT STRING }, ... }."""
    body, _ = _element(tbs, 0, expect=0x30)
    items = list(_children(body))
    if items and items[0][0] == 0xA0:  # explicit version
        items = items[1:]
    if len(items) < 6:
        raise ValueError("not a TBSCertificate: too few fields")
    issuer = items[2][2]
    spki_body = items[5][1]
    spki = list(_children(spki_body))
    if len(spki) < 2 or spki[1][0] != 0x03 or not spki[1][1]:
        raise ValueError("not a TBSCertificate: no subjectPublicKey BIT STRING")
    return TbsFields(issuer, spki[1][1][1:])


def _children(data: bytes) -> Any:
    """(tag, contents, whole element) of each DER element in ``data``."""
    offset = 0
    while offset < len(data):
        start = offset
        tag = data[offset]
        contents, offset = _element(data, offset)
        yield tag, contents, data[start:offset]


def _element(data: bytes, offset: int, expect: int | None = None) -> tuple[bytes, int]:
    """The contents of the DER element at ``offset`` and the offset after it."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[offset]
    if expect is not None and tag != expect:
        raise ValueError(f"DER tag {tag:#x} where {expect:#x} was expected")
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte DER tags do not occur in a TBSCertificate's top level")
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated DER")
    return data[offset:offset + length], offset + length
