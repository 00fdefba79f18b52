"""Firmware bundles and signatures: what is refused, and why, before anything is installed."""

from __future__ import annotations

import base64
import textwrap
import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from agent.firmware.bundle import MANIFEST, BundleError, this_machine, unpack
from agent.firmware.signature import (
    CertificateRejected,
    SignatureRejected,
    check_certificate,
    load_trusted,
    verify_file,
)
from tests.firmware.signing import certificate, pem


def rewrite(source: Path, target: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """A copy of bundle ``source`` with its members passed through ``change(name, data)``
    (returning None drops a member; extra members come from ``change("", b"")``)."""
    with tarfile.open(source) as original, tarfile.open(target, "w:gz") as copy:
        members = [(m, original.extractfile(m).read()) for m in original.getmembers() if m.isfile()]  # type: ignore[union-attr]
        for member, data in members + [(tarfile.TarInfo(""), b"")]:
            result = change(member.name, data)
            if result is None:
                continue
            name, payload = result
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            copy.addfile(info, io.BytesIO(payload))
    return target


def test_a_good_bundle_unpacks_with_its_version(bundle: Path, tmp_path: Path) -> None:
    unpacked = unpack(bundle, tmp_path)
    assert unpacked.version == "0.1.0" and unpacked.machine == this_machine()
    assert any(w.name.startswith("ladda-0.1.0-") for w in unpacked.wheels.glob("*.whl"))
    assert any(w.name.startswith("structlog-") for w in unpacked.wheels.glob("*.whl"))  # dependencies travel too


def _damage(name: str, data: bytes) -> tuple[str, bytes] | None:
    if name.startswith("wheels/ladda-"):
        return name, data[:-10] + b"0123456789"
    return (name, data) if name else None


def _other_machine(name: str, data: bytes) -> tuple[str, bytes] | None:
    if name == MANIFEST:
        return name, json.dumps({**json.loads(data), "machine": "armv7l"}).encode()
    return (name, data) if name else None


def _escape(name: str, data: bytes) -> tuple[str, bytes] | None:
    return (name, data) if name else ("wheels/../../etc/cron.d/evil", b"* * * * * root true\n")


def _stray(name: str, data: bytes) -> tuple[str, bytes] | None:
    return (name, data) if name else ("install.sh", b"#!/bin/sh\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_damage, r"ladda-0\.1\.0-.*\.whl is damaged \(SHA-256"),
        (_other_machine, r"built for Python 3\.\d+ on armv7l; this controller runs"),
        (_escape, r"points outside the bundle"),
        (_stray, r"unexpected member 'install\.sh'"),
    ],
)
def test_a_bundle_that_is_not_exactly_as_built_is_refused(bundle: Path, tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    bad = rewrite(bundle, tmp_path / "bad.tar.gz", change)
    (tmp_path / "out").mkdir()
    with pytest.raises(BundleError, match=message):
        unpack(bad, tmp_path / "out")
    assert not (tmp_path.parent / "etc").exists()


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "firmware.bin"
    page.write_text("<html>404 Not Found</html>")
    with pytest.raises(BundleError, match="firmware.bin is not a firmware bundle"):
        unpack(page, tmp_path)


# -- signatures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, certificate("Ladda firmware CA", key, "Ladda firmware CA", key)


def _trusted(tmp_path: Path, ca_cert: x509.Certificate) -> list[x509.Certificate]:
    path = tmp_path / "firmware-ca.pem"
    path.write_text(pem(ca_cert))
    return load_trusted(path)


def test_an_ecdsa_or_rsa_signature_from_the_manufacturers_ca_verifies(ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca_key, ca_cert = ca
    firmware = tmp_path / "ladda-firmware.tar.gz"
    firmware.write_bytes(b"bundle bytes" * 1000)
    trusted = _trusted(tmp_path, ca_cert)

    ec_key = ec.generate_private_key(ec.SECP256R1())
    signer = check_certificate(pem(certificate("signer", ec_key, "Ladda firmware CA", ca_key)), trusted)
    verify_file(firmware, base64.b64encode(ec_key.sign(firmware.read_bytes(), ec.ECDSA(hashes.SHA256()))).decode(),
                signer)

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = check_certificate(pem(certificate("signer", rsa_key, "Ladda firmware CA", ca_key)), trusted)
    for pad in (padding.PKCS1v15(), padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH)):
        verify_file(firmware, base64.b64encode(rsa_key.sign(firmware.read_bytes(), pad, hashes.SHA256())).decode(),
                    signer)

    tampered = tmp_path / "tampered.tar.gz"
    tampered.write_bytes(firmware.read_bytes() + b"!")
    good = base64.b64encode(rsa_key.sign(firmware.read_bytes(), padding.PKCS1v15(), hashes.SHA256())).decode()
    with pytest.raises(SignatureRejected, match="does not verify"):
        verify_file(tampered, good, signer)
    with pytest.raises(SignatureRejected, match="not base64"):
        verify_file(firmware, "not base64!", signer)


def test_a_certificate_not_from_the_manufacturers_ca_or_out_of_date_is_refused(ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca_key, ca_cert = ca
    trusted = _trusted(tmp_path, ca_cert)
    key = ec.generate_private_key(ec.SECP256R1())
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CertificateRejected, match="not issued by a configured firmware signing CA"):
        check_certificate(pem(certificate("signer", key, "Ladda firmware CA", stranger)), trusted)  # forged issuer name
    with pytest.raises(CertificateRejected, match="is valid from .* not on"):
        check_certificate(pem(certificate("signer", key, "Ladda firmware CA", ca_key, days=(-30, -1))), trusted)
    with pytest.raises(CertificateRejected, match="not a PEM X.509 certificate"):
        check_certificate("-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n", trusted)


def test_a_signature_wrapped_at_64_columns_verifies(ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """PEM tools (openssl base64) wrap base64 at 64 columns; the line breaks are layout."""
    ca_key, ca_cert = ca
    firmware = tmp_path / "ladda-firmware.tar.gz"
    firmware.write_bytes(b"bundle bytes" * 1000)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = check_certificate(pem(certificate("signer", rsa_key, "Ladda firmware CA", ca_key)),
                               _trusted(tmp_path, ca_cert))
    flat = base64.b64encode(rsa_key.sign(firmware.read_bytes(), padding.PKCS1v15(), hashes.SHA256())).decode()
    for newline in ("\n", "\r\n"):
        wrapped = newline.join(textwrap.wrap(flat, 64)) + newline
        assert wrapped.count(newline) == 6
        verify_file(firmware, wrapped, signer)
    with pytest.raises(SignatureRejected, match="not base64"):
        verify_file(firmware, "\n".join(textwrap.wrap(flat, 64)).replace("\n", "\n#", 1), signer)
