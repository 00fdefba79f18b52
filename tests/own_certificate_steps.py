"""Steps both protocols' own-certificate conformance tests share: a throwaway operator CA
that signs what the charger asks for, the charger's keys registered as secrets, and the
profile 3 set-up whose next connection shows which certificate the charger presents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from simulators.harness import Stack
from tests.cert_factory import Made, make_certificate, pem_of, sign_csr
from tests.secret_scan import secret_key_pem


def signer_ca() -> Made:
    """The operator's CA that signs charger certificates (not the TLS server's CA)."""
    return make_certificate("Ladda test operator: charger CA")


def register_charger_keys(stack: Stack) -> None:
    """Every private key the charger made (pending or in use): secrets no log may hold."""
    for path in (stack.state_dir / "certificates").rglob("key.pem"):
        secret_key_pem(path.read_text(), f"the charger's own key {path.parent.name}")


def common_name(csr_pem: str) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    return str(csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def organization(csr_pem: str) -> str | None:
    names = x509.load_pem_x509_csr(csr_pem.encode()).subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else None


def signed_chain(csr_pem: str, ca: Made) -> str:
    return pem_of(sign_csr(csr_pem, ca))


def trust_file(directory: Path, server_ca: Path, ca: Made) -> Path:
    """One PEM with the TLS server's CA and the charger CA: the charger's ca_file and the
    backend's client_ca alike."""
    path = directory / "operator-cas.pem"
    path.write_text(server_ca.read_text() + ca.pem)
    return path


async def connections(stack: Stack, since: int = 0) -> list[dict[str, Any]]:
    """The CSMS's 'connected' events for this charger (with the client certificate's CN)."""
    reply = await stack.csms.request("messages", cp=stack.cp_id, since_seq=since)
    return [m["payload"] for m in reply["messages"] if m["direction"] == "event" and m["type"] == "connected"]
