"""The charger's own certificate alone (agent.certificates.own and .signing): the CSR's
subject and key, the checks of a signed chain, the renewal margin with dates the test
chooses, the atomic switch to a new pair and the fallback to the old one."""

from __future__ import annotations

import asyncio
import datetime
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.certificates.own import OwnCertificate
from agent.certificates.signing import CertificateSigning
from tests.cert_factory import NOW, make_certificate, pem_of, sign_csr
from tests.secret_scan import secret_key_pem

CA = make_certificate("Operator CA")


def own_in(tmp_path: Path, configured: tuple[Path, Path] | None = None) -> OwnCertificate:
    return OwnCertificate(tmp_path / "certificates" / "own", configured)


def request(own: OwnCertificate) -> str:
    csr = own.new_request("CP-0001", "Ladda Operator")
    secret_key_pem((own.directory / "pending" / "key.pem").read_text(), "the charger's pending key")
    return csr


def test_the_csr_names_the_charger_and_its_organisation_with_a_private_p256_key(tmp_path: Path) -> None:
    own = own_in(tmp_path)
    csr = x509.load_pem_x509_csr(request(own).encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-0001"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Ladda Operator"
    key_file = own.directory / "pending" / "key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(own.directory.stat().st_mode) == 0o700
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert own.pending_csr() == csr.public_bytes(serialization.Encoding.PEM).decode()  # kept for a retry or restart


def test_a_chain_that_fits_the_key_and_a_trusted_ca_is_stored_and_used(tmp_path: Path) -> None:
    own = own_in(tmp_path)
    leaf = sign_csr(request(own), CA)
    verdict = own.accept(pem_of(leaf), NOW, [CA.certificate], 10000)
    assert verdict.accepted and verdict.why == ""
    pair = own.identity()
    assert pair is not None and own.renewed() == pair
    assert x509.load_pem_x509_certificate(pair[0].read_bytes()) == leaf
    assert stat.S_IMODE(pair[1].stat().st_mode) == 0o600
    assert own.pending_csr() is None and own.on_trial()
    # Twice is once: no request is pending any more.
    again = own.accept(pem_of(leaf), NOW, [CA.certificate], 10000)
    assert not again.accepted and not again.invalid and "no certificate signing request" in again.why


def test_an_intermediate_in_the_chain_leads_to_the_trusted_root(tmp_path: Path) -> None:
    own = own_in(tmp_path)
    sub = make_certificate("Operator sub-CA", issuer=CA)
    leaf = sign_csr(request(own), sub)
    assert own.accept(pem_of(leaf, sub.certificate), NOW, [CA.certificate], 10000).accepted


@pytest.mark.parametrize("case", ["other key", "unknown CA", "expired", "too long", "not PEM", "broken chain"])
def test_an_invalid_chain_is_refused_as_invalid(tmp_path: Path, case: str) -> None:
    own = own_in(tmp_path)
    csr = request(own)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    rogue = make_certificate("Someone else's CA")
    chain = {
        "other key": lambda: pem_of(sign_csr(csr, CA, public_key=other)),
        "unknown CA": lambda: pem_of(sign_csr(csr, rogue)),
        "expired": lambda: pem_of(sign_csr(csr, CA, not_before=NOW - datetime.timedelta(days=30),
                                           not_after=NOW - datetime.timedelta(days=1))),
        "too long": lambda: pem_of(sign_csr(csr, CA)) + " " * 10000,
        "not PEM": lambda: "MIIB...",
        "broken chain": lambda: pem_of(sign_csr(csr, CA), rogue.certificate),
    }[case]()
    verdict = own.accept(chain, NOW, [CA.certificate], 10000)
    assert not verdict.accepted and verdict.invalid and verdict.why
    assert own.renewed() is None and own.pending_csr() is not None  # nothing switched; still waiting


def test_a_certificate_not_valid_yet_is_used_from_its_not_before(tmp_path: Path) -> None:
    configured = (tmp_path / "client.pem", tmp_path / "client.key")
    clock = [NOW]
    own = OwnCertificate(tmp_path / "certificates" / "own", configured, lambda: clock[0])
    leaf = sign_csr(request(own), CA, not_before=NOW + datetime.timedelta(hours=2))
    assert own.accept(pem_of(leaf), NOW, [CA.certificate], 10000).accepted
    assert own.identity() == configured  # the old pair meanwhile
    own.connected()
    assert not own.refused() and own.on_trial()  # those connections were the old pair's
    clock[0] = NOW + datetime.timedelta(hours=3)
    assert own.leaf() == leaf and own.identity() != configured
    own.connected()
    assert not own.on_trial()


def test_the_new_pair_replaces_the_old_once_it_connected(tmp_path: Path) -> None:
    configured = (tmp_path / "client.pem", tmp_path / "client.key")
    own = own_in(tmp_path, configured)
    assert own.identity() == configured
    first = sign_csr(request(own), CA)
    assert own.accept(pem_of(first), NOW, [CA.certificate], 10000).accepted
    own.connected()
    assert not own.on_trial()
    first_pair = own.identity()
    second = sign_csr(request(own), CA)
    assert own.accept(pem_of(second), NOW, [CA.certificate], 10000).accepted
    assert own.leaf() == second and first_pair is not None and first_pair[0].exists()  # the old one kept on trial
    own.connected()
    assert not first_pair[0].exists() and not first_pair[1].exists()  # removed once the new one connected
    assert own.leaf() == second


def test_a_refused_new_pair_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    configured = (tmp_path / "client.pem", tmp_path / "client.key")
    own = own_in(tmp_path, configured)
    leaf = sign_csr(request(own), CA)
    assert own.accept(pem_of(leaf), NOW, [CA.certificate], 10000).accepted
    renewed = own.identity()
    assert own.refused()
    assert own.identity() == configured and renewed is not None
    assert renewed[0].exists()  # kept until the pair given back has connected: the refusal may be the network's
    assert not own.refused()  # nothing on trial any more: the TOML's pair stays
    own.connected()  # the TOML's pair connected: the refused one goes now
    assert not renewed[0].exists() and own.identity() == configured


def test_a_refused_new_pair_with_nothing_to_fall_back_to_is_kept(tmp_path: Path) -> None:
    """A charger whose only pair is the one the backend signed (profile 3, no TOML pair)
    never gives it up: it would be left with no certificate and no way back."""
    own = own_in(tmp_path)
    leaf = sign_csr(request(own), CA)
    assert own.accept(pem_of(leaf), NOW, [CA.certificate], 10000).accepted
    pair = own.identity()
    assert pair is not None
    assert not own.refused()
    assert own.identity() == pair and pair[0].exists() and pair[1].exists()


def test_the_choice_survives_a_restart(tmp_path: Path) -> None:
    own = own_in(tmp_path)
    leaf = sign_csr(request(own), CA)
    own.accept(pem_of(leaf), NOW, [CA.certificate], 10000)
    again = own_in(tmp_path)
    assert again.leaf() == leaf and again.on_trial()
    assert not list(again.directory.rglob(".tmp-*"))


@pytest.mark.parametrize(("days_left", "margin", "due"), [(40, 30, False), (29, 30, True), (-1, 30, True),
                                                           (5, 0, False)])
def test_renewal_is_due_within_the_margin(tmp_path: Path, days_left: int, margin: int, due: bool) -> None:
    own = own_in(tmp_path)
    leaf = sign_csr(request(own), CA, not_before=NOW - datetime.timedelta(days=300),
                    not_after=NOW + datetime.timedelta(days=days_left, hours=1))
    if days_left > 0:
        assert own.accept(pem_of(leaf), NOW, [CA.certificate], 10000).accepted
        assert own.renewal_due(NOW, margin) is due
    else:  # an expired one cannot be taken, but one configured can expire
        path = tmp_path / "client.pem"
        path.write_text(pem_of(leaf))
        assert own_in(tmp_path, (path, tmp_path / "client.key")).renewal_due(NOW, margin) is due


async def test_signing_retries_doubling_the_wait_then_takes_the_certificate(tmp_path: Path) -> None:
    own = own_in(tmp_path)
    sent: list[tuple[float, str]] = []
    events: list[tuple[str, str]] = []
    loop = asyncio.get_running_loop()

    async def send(csr: str) -> bool:
        sent.append((loop.time(), csr))
        return len(sent) > 1  # the first is Rejected

    async def record(kind: str, info: str) -> None:
        events.append((kind, info))

    signing = CertificateSigning(own, send=send, subject=lambda: ("CP-0001", "Ladda Operator"),
                                 wait_minimum=lambda: 1, repeat_times=lambda: 3, trusted=lambda: [CA.certificate],
                                 max_chain=lambda: 10000, record_event=record, now=lambda: NOW)
    task = asyncio.create_task(signing.run())
    try:
        signing.request()
        while len(sent) < 3:
            await asyncio.sleep(0.05)
        (t1, csr1), (t2, csr2), (t3, csr3) = sent[:3]
        assert csr1 == csr2 == csr3  # the same request, the same key
        assert 0.9 <= t2 - t1 < 1.8 and 1.9 <= t3 - t2 < 3.0  # CertSigningWaitMinimum, then doubled
        secret_key_pem((own.directory / "pending" / "key.pem").read_text(), "the charger's pending key")
        rogue = make_certificate("Someone else's CA")
        bad = await signing.certificate_signed(pem_of(sign_csr(csr1, rogue)), "InvalidChargingStationCertificate")
        assert not bad.accepted and events and events[0][0] == "InvalidChargingStationCertificate"
        good = await signing.certificate_signed(pem_of(sign_csr(csr1, CA)), "InvalidChargingStationCertificate")
        assert good.accepted and len(events) == 1
        count = len(sent)
        await asyncio.sleep(2.5)
        assert len(sent) == count  # answered: no more requests
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_signing_gives_up_after_the_repeat_times(tmp_path: Path) -> None:
    own = own_in(tmp_path)
    sent: list[str] = []

    async def send(csr: str) -> bool:
        sent.append(csr)
        return True

    async def record(kind: str, info: str) -> None:
        pass

    signing = CertificateSigning(own, send=send, subject=lambda: ("CP-0001", ""), wait_minimum=lambda: 1,
                                 repeat_times=lambda: 1, trusted=lambda: [], max_chain=lambda: 10000,
                                 record_event=record, now=lambda: NOW)
    task = asyncio.create_task(signing.run())
    try:
        signing.request()
        await asyncio.sleep(3.5)
        assert len(sent) == 2  # the first and one repeat
        secret_key_pem((own.directory / "pending" / "key.pem").read_text(), "the charger's pending key")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _record(kind: str, info: str) -> None:
    pass


def _signing(own: OwnCertificate, sent: list[str], renew_days: int | None = None) -> CertificateSigning:
    async def send(text: str) -> bool:
        sent.append(text)
        return True

    return CertificateSigning(own, send=send, subject=lambda: ("CP-0001", ""), wait_minimum=lambda: 60,
                              repeat_times=lambda: 1, trusted=lambda: [CA.certificate], max_chain=lambda: 10000,
                              record_event=_record, now=lambda: NOW, renew_days=renew_days)


async def _until(sent: list[str]) -> None:
    for _ in range(200):
        if sent:
            return
        await asyncio.sleep(0.05)


async def test_a_pending_request_is_resumed_after_a_restart(tmp_path: Path) -> None:
    csr = request(own_in(tmp_path))
    sent: list[str] = []
    task = asyncio.create_task(_signing(own_in(tmp_path), sent).run())
    try:
        await _until(sent)
        assert sent == [csr]  # the same CSR (and key) as before the restart
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_renewal_within_the_margin_starts_a_request_with_a_new_key(tmp_path: Path) -> None:
    own = own_in(tmp_path)
    csr = request(own)
    # Signed with 10 days left: inside a 30-day margin, the check at start asks again.
    assert own.accept(pem_of(sign_csr(csr, CA, not_after=NOW + datetime.timedelta(days=10))), NOW,
                      [CA.certificate], 10000).accepted
    sent: list[str] = []
    task = asyncio.create_task(_signing(own_in(tmp_path), sent, renew_days=30).run())
    try:
        await _until(sent)
        assert len(sent) == 1 and sent[0] != csr
        secret_key_pem((own.directory / "pending" / "key.pem").read_text(), "the charger's renewal key")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_no_renewal_outside_the_margin(tmp_path: Path) -> None:
    own = own_in(tmp_path)
    csr = request(own)
    assert own.accept(pem_of(sign_csr(csr, CA, not_after=NOW + datetime.timedelta(days=60))), NOW,
                      [CA.certificate], 10000).accepted
    sent: list[str] = []
    task = asyncio.create_task(_signing(own_in(tmp_path), sent, renew_days=30).run())
    try:
        await asyncio.sleep(1.0)
        assert sent == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_check_config_takes_a_renewed_pair_for_the_tomls_under_profile_3(tmp_path: Path) -> None:
    """Profile 3 without client_certificate/client_key: refused until the backend signed a
    certificate for the charger (kept in the state directory), accepted after."""
    from agent.link.security import link_security
    from agent.settings import ConfigError, parse_settings

    state = tmp_path / "state"
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(CA.pem)
    text = (f'[charge_point]\nid = "CP-0001"\n[backend]\nurl = "wss://127.0.0.1:9000/ocpp"\n'
            f'security_profile = 3\nca_file = "{ca_file}"\n[state]\ndirectory = "{state}"\n')
    with pytest.raises(ConfigError) as refused:
        parse_settings(text, tmp_path / "ladda.toml")
    assert any("backend.client_certificate: required with security profile 3" in e for e in refused.value.errors)
    own = OwnCertificate(state / "certificates" / "own")
    assert own.accept(pem_of(sign_csr(request(own), CA)), NOW, [CA.certificate], 10000).accepted
    settings = parse_settings(text, tmp_path / "ladda.toml")
    assert settings.backend.security_profile == 3 and settings.backend.client_certificate is None
    security = link_security(settings.backend, "CP-0001", None, (), own.renewed())
    assert security.profile == 3 and security.ssl is not None
