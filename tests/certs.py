"""Throwaway PKI for tests of the security profiles: made fresh per test, never shipped.

A CA signs the test backend's certificate (for 127.0.0.1 and localhost) and a charger's
client certificate; a second, unrelated CA signs a look-alike backend certificate that
a charger trusting only the first CA must refuse.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.secret_scan import secret_key_pem

BACKEND_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Pki:
    ca: Path  # the operator's CA: what a charger puts in backend.ca_file
    server_cert: Path
    server_key: Path
    client_cert: Path  # a charger's certificate, signed by `ca`
    client_key: Path
    rogue_server_cert: Path  # same host names, signed by another CA
    rogue_server_key: Path
    expired_server_cert: Path  # signed by `ca`, but expired
    expired_server_key: Path
    misnamed_server_cert: Path  # signed by `ca`, for another host name
    misnamed_server_key: Path
    rogue_client_cert: Path  # a client certificate from another CA
    rogue_client_key: Path


def _write(cert: trustme.LeafCert, certificate: Path, key: Path) -> None:
    certificate.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    secret_key_pem(cert.private_key_pem.bytes(), f"the private key of {certificate.name}")
    key.write_bytes(cert.private_key_pem.bytes())
    key.chmod(0o600)


def make_pki(directory: Path, client_name: str = "LADDA-TEST") -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca, rogue = trustme.CA(organization_name="Ladda test operator"), trustme.CA(organization_name="Someone else")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    d = directory
    _write(ca.issue_cert(*BACKEND_NAMES), d / "server.pem", d / "server.key")
    _write(ca.issue_cert(client_name, common_name=client_name), d / "client.pem", d / "client.key")
    _write(rogue.issue_cert(*BACKEND_NAMES), d / "rogue-server.pem", d / "rogue-server.key")
    expired = ca.issue_cert(*BACKEND_NAMES, not_before=datetime.datetime(2020, 1, 1),
                            not_after=datetime.datetime(2021, 1, 1))
    _write(expired, d / "expired-server.pem", d / "expired-server.key")
    _write(ca.issue_cert("csms.example.org"), d / "misnamed-server.pem", d / "misnamed-server.key")
    _write(rogue.issue_cert(client_name, common_name=client_name), d / "rogue-client.pem", d / "rogue-client.key")
    return Pki(
        d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key",
        d / "rogue-server.pem", d / "rogue-server.key", d / "expired-server.pem", d / "expired-server.key",
        d / "misnamed-server.pem", d / "misnamed-server.key", d / "rogue-client.pem", d / "rogue-client.key",
    )
