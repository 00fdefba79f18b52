"""A CSMS root installed over OCPP is what the link trusts: end to end, a real agent against
real wss:// CSMS processes, each with a certificate of its own throwaway CA.

The charger starts under security profile 2 trusting the operator's CA file; the backend
installs a second CA as CentralSystemRootCertificate; the charger is then set up without
any ca_file and pointed at a CSMS whose certificate only that installed root vouches for.
It connects, and it refuses to delete that root while it is the only one it has.
"""

from __future__ import annotations

from pathlib import Path

import trustme

from .cert_factory import hash_data_of
from .certs import BACKEND_NAMES
from .conformance.helpers import call_checked
from .test_security_profiles import (  # noqa: F401 - fixtures
    PASSWORD,
    agent_log_lines,
    new_cp_id,
    password_file,
    pki,
    stacks,
    tls_csms,
    workdir,
)


def _new_operator(directory: Path) -> tuple[trustme.CA, Path, Path]:
    """A second CA, unrelated to the test PKI's, and a backend certificate it issued."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Ladda new operator")
    leaf = ca.issue_cert(*BACKEND_NAMES)
    cert, key = directory / "server.pem", directory / "server.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return ca, cert, key


async def test_an_installed_csms_root_is_what_a_profile_2_charger_trusts(tls_csms, stacks, workdir, pki):
    from cryptography import x509

    from .cert_factory import Made

    cp_id = new_cp_id()
    secret = password_file(workdir)
    old_csms = await tls_csms(passwords={cp_id: PASSWORD})
    stack = await stacks(old_csms, {"security_profile": 2, "ca_file": str(pki.ca),
                                    "authorization_key_file": str(secret)}, cp_id=cp_id)
    await stack.wait_booted()
    new_ca, cert, key = _new_operator(workdir / "new-operator")
    root_pem = new_ca.cert_pem.bytes().decode()
    answer = await call_checked(stack, "InstallCertificate",
                                {"certificateType": "CentralSystemRootCertificate", "certificate": root_pem})
    assert answer == {"status": "Accepted"}
    await stack.stop()

    # The same charger (same state directory), now without ca_file, to a backend of the new CA.
    new_csms = await tls_csms(cert=cert, key=key, passwords={cp_id: PASSWORD})
    stack.csms = new_csms
    stack.backend = {"security_profile": 2, "authorization_key_file": str(secret)}
    await stack.start()
    await stack.wait_booted()
    lines = await agent_log_lines(stack, '"connected to backend"')
    assert lines[-1]["security_profile"] == 2 and lines[-1]["url"].startswith("wss://")
    assert "ca_file" not in stack.config_path.read_text()

    root = x509.load_pem_x509_certificate(root_pem.encode())
    wanted = hash_data_of(Made(root, None))  # type: ignore[arg-type]
    listed = await call_checked(stack, "GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"})
    assert listed == {"status": "Accepted", "certificateHashData": [wanted]}
    # The only root it trusts, with no ca_file beside it: deleting it would lock the charger out.
    assert await call_checked(stack, "DeleteCertificate", {"certificateHashData": wanted}) == {"status": "Failed"}
    assert (await call_checked(stack, "GetInstalledCertificateIds",
                               {"certificateType": "CentralSystemRootCertificate"}))["status"] == "Accepted"
    refused = await agent_log_lines(stack, '"delete certificate"')
    assert "last CSMS root" in refused[-1]["reason"]


def test_check_config_takes_an_installed_csms_root_for_ca_file(tmp_path: Path) -> None:
    """Profile 2 without ca_file: refused while the store of state.directory holds no CSMS
    root (nothing would be trusted), accepted once it holds one. A manufacturer root does
    not count."""
    from agent.certificates import CSMS_ROOT, MANUFACTURER_ROOT, CertificateStore
    from agent.settings import ConfigError, parse_settings

    from .cert_factory import make_certificate

    state = tmp_path / "state"
    key = password_file(tmp_path)
    text = (f'[charge_point]\nid = "LADDA-0001"\n[backend]\nurl = "wss://127.0.0.1:9000/ocpp"\n'
            f'security_profile = 2\nauthorization_key_file = "{key}"\n[state]\ndirectory = "{state}"\n')
    store = CertificateStore(state / "certificates", max_entries=lambda: 5)
    store.install(MANUFACTURER_ROOT, make_certificate("maker").pem)
    try:
        parse_settings(text, tmp_path / "ladda.toml")
    except ConfigError as exc:
        assert any("backend.ca_file: required with security profile 2" in e for e in exc.errors), exc.errors
    else:
        raise AssertionError("a profile-2 file with nothing to trust was accepted")
    store.install(CSMS_ROOT, make_certificate("installed CSMS root").pem)
    settings = parse_settings(text, tmp_path / "ladda.toml")
    assert settings.backend.security_profile == 2 and settings.backend.ca_file is None


def test_the_tls_context_trusts_ca_file_and_installed_roots_together(tmp_path: Path) -> None:
    import ssl

    import pytest
    from cryptography import x509

    from agent.link.security import SecurityError, link_security
    from agent.settings import BackendSettings

    from .cert_factory import make_certificate
    from .certs import make_pki

    pki = make_pki(tmp_path / "pki")
    installed = make_certificate("installed CSMS root").certificate
    serials = {"file": x509.load_pem_x509_certificate(pki.ca.read_bytes()).serial_number,
               "installed": installed.serial_number}

    def trusted(context: ssl.SSLContext | None) -> set[str]:
        assert context is not None
        held = {int(c["serialNumber"], 16) for c in context.get_ca_certs()}
        assert len(held) == len(context.get_ca_certs())
        return {which for which, serial in serials.items() if serial in held}

    url = "wss://csms.example.com/ocpp"
    both = link_security(BackendSettings(url=url, security_profile=2, ca_file=pki.ca), "CP-1", b"x" * 16, [installed])
    alone = link_security(BackendSettings(url=url, security_profile=2), "CP-1", b"x" * 16, [installed])
    assert trusted(both.ssl) == {"file", "installed"} and trusted(alone.ssl) == {"installed"}
    with pytest.raises(SecurityError, match="needs backend.ca_file or a CSMS root certificate installed"):
        link_security(BackendSettings(url=url, security_profile=2), "CP-1", b"x" * 16, [])


async def test_the_root_under_the_live_connection_stays_and_extra_roots_are_named(tls_csms, stacks, workdir, pki):
    """Profile 2 with ca_file: a root the backend installs is trusted beside it, and the
    next TLS connection names it (subject, SHA-256), once. Then, without ca_file and on a
    backend only that root vouches for, another valid root of some other PKI does not make
    it deletable: it anchors the live connection."""
    from cryptography import x509

    from agent.certificates.store import fingerprint

    from .cert_factory import Made, make_certificate

    cp_id = new_cp_id()
    secret = password_file(workdir)
    old_csms = await tls_csms(passwords={cp_id: PASSWORD})
    stack = await stacks(old_csms, {"security_profile": 2, "ca_file": str(pki.ca),
                                    "authorization_key_file": str(secret)}, cp_id=cp_id)
    await stack.wait_booted()
    new_ca, cert, key = _new_operator(workdir / "new-operator")
    root_pem = new_ca.cert_pem.bytes().decode()
    root = x509.load_pem_x509_certificate(root_pem.encode())
    assert await call_checked(stack, "InstallCertificate", {"certificateType": "CentralSystemRootCertificate",
                                                            "certificate": root_pem}) == {"status": "Accepted"}
    await stack.stop()
    await stack.start()
    await stack.wait_booted()
    named = await agent_log_lines(stack, '"installed CSMS root certificates trusted beside ca_file"')
    assert len(named) == 1
    assert named[0]["roots"] == [{"subject": root.subject.rfc4514_string(), "sha256": fingerprint(root)}]
    await stack.stop()

    new_csms = await tls_csms(cert=cert, key=key, passwords={cp_id: PASSWORD})
    stack.csms = new_csms
    stack.backend = {"security_profile": 2, "authorization_key_file": str(secret)}
    await stack.start()
    await stack.wait_booted()
    other = make_certificate("some other PKI")
    assert await call_checked(stack, "InstallCertificate", {"certificateType": "CentralSystemRootCertificate",
                                                            "certificate": other.pem}) == {"status": "Accepted"}
    wanted = hash_data_of(Made(root, None))  # type: ignore[arg-type]
    assert await call_checked(stack, "DeleteCertificate", {"certificateHashData": wanted}) == {"status": "Failed"}
    refused = await agent_log_lines(stack, '"delete certificate"')
    assert "anchors the current connection" in refused[-1]["reason"]
    assert await call_checked(stack, "DeleteCertificate", {"certificateHashData": hash_data_of(other)}) == {
        "status": "Accepted"}


def test_a_root_openssl_refuses_leaves_ca_file_and_the_other_roots_trusted(tmp_path: Path) -> None:
    from agent.link.security import tls_context

    from .cert_factory import make_certificate
    from .certs import make_pki

    class Unloadable:
        """Read fine by cryptography, refused by OpenSSL (stands in for such a certificate)."""

        subject = make_certificate("odd").certificate.subject

        def public_bytes(self, encoding: object) -> bytes:
            return b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

    pki = make_pki(tmp_path / "pki")
    good = make_certificate("installed CSMS root").certificate
    context = tls_context(pki.ca, None, [Unloadable(), good])  # type: ignore[list-item]
    assert len(context.get_ca_certs()) == 2
