"""The certificate store alone: what it accepts and refuses, its files (atomic, private)
and the OCPP hash data, checked against OpenSSL's own OCSP CertID."""

from __future__ import annotations

import datetime
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from agent.certificates import CSMS_ROOT, MANUFACTURER_ROOT, CertificateStore, Deleted, HashData, Installed, hash_data
from agent.certificates.store import installed_roots_exist
from tests.cert_factory import NOW, make_certificate


def store_in(tmp_path: Path, most: int = 10, needed: bool = False, client: Path | None = None) -> CertificateStore:
    store = CertificateStore(tmp_path / "certificates", max_entries=lambda: most, csms_root_needed=lambda: needed,
                             client_certificate=client)
    store.load()
    return store


def test_install_writes_one_private_file_per_certificate_and_survives_a_restart(tmp_path: Path) -> None:
    os.umask(0o022)
    root = make_certificate("CSMS root")
    store = store_in(tmp_path)
    assert store.install(CSMS_ROOT, root.pem)[:2] == (Installed.ACCEPTED, "")
    assert store.install(CSMS_ROOT, root.pem)[:2] == (Installed.ACCEPTED, "already installed")
    folder = tmp_path / "certificates" / CSMS_ROOT
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pem"
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "certificates").stat().st_mode) == 0o700
    again = store_in(tmp_path)
    assert [c.serial_number for c in again.roots(CSMS_ROOT)] == [root.certificate.serial_number]
    assert again.roots(MANUFACTURER_ROOT) == []
    assert installed_roots_exist(tmp_path) and not installed_roots_exist(tmp_path, MANUFACTURER_ROOT)


def test_a_write_cut_short_leaves_no_half_pem(tmp_path: Path) -> None:
    """A temporary file of a write that a power cut interrupted is never read as a certificate."""
    folder = tmp_path / "certificates" / CSMS_ROOT
    folder.mkdir(parents=True)
    half = make_certificate("half").pem[:200]
    (folder / ".tmp-abc123").write_text(half)
    store = store_in(tmp_path)
    assert store.count() == 0 and not (folder / ".tmp-abc123").exists()


def test_a_refused_write_is_failed_and_leaves_nothing(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    (tmp_path / "certificates").mkdir()
    (tmp_path / "certificates" / CSMS_ROOT).write_text("a file where the directory should be")  # refused even to root
    status, why, invalid = store.install(CSMS_ROOT, make_certificate("root").pem)
    assert status is Installed.FAILED and "cannot write" in why and not invalid
    assert store.count() == 0


@pytest.mark.parametrize("pem, reason", [
    ("hello", "not a PEM certificate"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not an X.509 certificate"),
])
def test_what_is_not_a_certificate_is_rejected(tmp_path: Path, pem: str, reason: str) -> None:
    status, why, invalid = store_in(tmp_path).install(CSMS_ROOT, pem)
    assert status is Installed.REJECTED and reason in why and invalid


def test_dates_constraints_and_use_are_checked(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    expired = make_certificate("old", not_before=NOW - datetime.timedelta(days=30),
                               not_after=NOW - datetime.timedelta(days=1))
    future = make_certificate("new", not_before=NOW + datetime.timedelta(days=1))
    leaf = make_certificate("leaf", ca=False)
    bare = make_certificate("bare", constraints=False)
    root = make_certificate("root")
    issued = make_certificate("intermediate", issuer=root)
    assert store.install(CSMS_ROOT, expired.pem)[1].startswith("expired on")
    assert store.install(CSMS_ROOT, future.pem)[1].startswith("not valid before")
    assert "CA:false" in store.install(MANUFACTURER_ROOT, leaf.pem)[1]
    assert "no basicConstraints" in store.install(CSMS_ROOT, bare.pem)[1]
    assert "issued by" in store.install(CSMS_ROOT, issued.pem)[1]
    assert store.install("V2GRootCertificate", root.pem) == (
        Installed.REJECTED, "V2GRootCertificate is not offered (no ISO 15118 on this charger)", False)
    assert store.install(CSMS_ROOT, root.pem + root.pem)[0] is Installed.REJECTED
    assert store.count() == 0
    # the store's clock is the caller's: a certificate valid then is accepted
    assert store.install(CSMS_ROOT, future.pem, now=NOW + datetime.timedelta(days=2))[0] is Installed.ACCEPTED


def test_a_full_store_rejects(tmp_path: Path) -> None:
    store = store_in(tmp_path, most=2)
    assert store.install(CSMS_ROOT, make_certificate("a").pem)[0] is Installed.ACCEPTED
    assert store.install(MANUFACTURER_ROOT, make_certificate("b").pem)[0] is Installed.ACCEPTED
    assert store.install(CSMS_ROOT, make_certificate("c").pem) == (Installed.REJECTED,
                                                                     "the store is full (2 certificates)", False)


def _openssl_cert_id(tmp_path: Path, cert: Path, issuer: Path) -> dict[str, str]:
    """OpenSSL's OCSP CertID (SHA-256) of ``cert``: an independent reading of the DER."""
    request = tmp_path / "req.der"
    subprocess.run(["openssl", "ocsp", "-issuer", str(issuer), "-sha256", "-cert", str(cert), "-no_nonce",
                    "-reqout", str(request)], check=True, capture_output=True)
    text = subprocess.run(["openssl", "ocsp", "-reqin", str(request), "-req_text"], check=True,
                          capture_output=True, text=True).stdout
    fields = dict(re.findall(r"(Issuer Name Hash|Issuer Key Hash|Serial Number): (\S+)", text))
    return {"name": fields["Issuer Name Hash"].lower(), "key": fields["Issuer Key Hash"].lower(),
            "serial": fields["Serial Number"].lower()}


def test_hash_data_is_openssls_ocsp_cert_id(tmp_path: Path) -> None:
    root = make_certificate("root", serial=0x00ABCDEF)  # a serial OpenSSL prints with a leading zero
    leaf = make_certificate("leaf", ca=False, issuer=root, serial=0x0102030405)
    for made, name in ((root, "root.pem"), (leaf, "leaf.pem")):
        (tmp_path / name).write_text(made.pem)
    ours_root = hash_data(root.certificate, root.certificate)
    theirs_root = _openssl_cert_id(tmp_path, tmp_path / "root.pem", tmp_path / "root.pem")
    assert (ours_root.issuer_name_hash, ours_root.issuer_key_hash) == (theirs_root["name"], theirs_root["key"])
    assert ours_root.serial_number == "abcdef" and theirs_root["serial"].lstrip("0") == "abcdef"
    ours_leaf = hash_data(leaf.certificate, root.certificate)
    theirs_leaf = _openssl_cert_id(tmp_path, tmp_path / "leaf.pem", tmp_path / "root.pem")
    assert (ours_leaf.issuer_name_hash, ours_leaf.issuer_key_hash) == (theirs_leaf["name"], theirs_leaf["key"])
    assert ours_leaf.serial_number == "102030405"  # no leading zero
    assert ours_leaf.hash_algorithm == "SHA256" and len(ours_leaf.issuer_key_hash) == 64


def test_delete_by_hash_data_in_any_case_and_algorithm(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    root, other = make_certificate("root"), make_certificate("other")
    store.install(MANUFACTURER_ROOT, root.pem)
    store.install(MANUFACTURER_ROOT, other.pem)
    unknown = hash_data(make_certificate("unknown").certificate, None)
    assert store.delete(unknown)[0] is Deleted.NOT_FOUND
    wanted = hash_data(root.certificate, root.certificate, "SHA384")
    shouting = HashData(wanted.hash_algorithm, wanted.issuer_name_hash.upper(), wanted.issuer_key_hash.upper(),
                        "00" + wanted.serial_number.upper())
    assert store.delete(shouting) == (Deleted.ACCEPTED, "")
    assert [c.serial_number for c in store.roots(MANUFACTURER_ROOT)] == [other.certificate.serial_number]
    assert len(list((tmp_path / "certificates" / MANUFACTURER_ROOT).iterdir())) == 1
    assert store.delete(wanted)[0] is Deleted.NOT_FOUND


def test_the_last_csms_root_stays_while_the_link_needs_it(tmp_path: Path) -> None:
    store = store_in(tmp_path, needed=True)
    first, second = make_certificate("first"), make_certificate("second")
    store.install(CSMS_ROOT, first.pem)
    store.install(CSMS_ROOT, second.pem)
    assert store.delete(hash_data(first.certificate, first.certificate))[0] is Deleted.ACCEPTED
    status, why = store.delete(hash_data(second.certificate, second.certificate))
    assert status is Deleted.FAILED and "last CSMS root" in why
    assert store.count() == 1
    relaxed = store_in(tmp_path, needed=False)
    assert relaxed.delete(hash_data(second.certificate, second.certificate))[0] is Deleted.ACCEPTED


def test_the_chargers_own_certificate_is_never_deleted(tmp_path: Path) -> None:
    ca = make_certificate("operator CA")
    own = make_certificate("LADDA-1", ca=False, issuer=ca)
    client = tmp_path / "client.pem"
    client.write_text(own.pem + ca.pem)
    store = store_in(tmp_path, client=client)
    status, why = store.delete(hash_data(own.certificate, ca.certificate))
    assert status is Deleted.FAILED and "own certificate" in why


def test_installed_roots_exist_counts_only_roots_valid_now(tmp_path: Path) -> None:
    """An expired root verifies no backend: it does not let the configuration drop ca_file."""
    old = make_certificate("old root", not_before=NOW - datetime.timedelta(days=60),
                           not_after=NOW - datetime.timedelta(days=1))
    store = store_in(tmp_path)
    assert store.install(CSMS_ROOT, old.pem, NOW - datetime.timedelta(days=30)).status is Installed.ACCEPTED
    (tmp_path / "certificates" / CSMS_ROOT / "junk.pem").write_text("not a certificate")
    assert not installed_roots_exist(tmp_path)
    assert store.install(CSMS_ROOT, make_certificate("new root").pem).status is Installed.ACCEPTED
    assert installed_roots_exist(tmp_path)


def _delete(store: CertificateStore, made, now=None):  # type: ignore[no-untyped-def]
    return store.delete(store_hash(made), now)


def store_hash(made) -> HashData:  # type: ignore[no-untyped-def]
    return hash_data(made.certificate, made.certificate)


def test_the_last_root_valid_now_is_kept_when_the_link_needs_one(tmp_path: Path) -> None:
    """Root A and an older root B, expired since: B counts for nothing, so A stays."""
    a = make_certificate("backend root A")
    b = make_certificate("old root B", not_before=NOW - datetime.timedelta(days=60),
                         not_after=NOW - datetime.timedelta(days=1))
    store = store_in(tmp_path, needed=True)
    assert store.install(CSMS_ROOT, a.pem).status is Installed.ACCEPTED
    assert store.install(CSMS_ROOT, b.pem, NOW - datetime.timedelta(days=30)).status is Installed.ACCEPTED
    status, why = _delete(store, a)
    assert status is Deleted.FAILED and "last CSMS root certificate valid now" in why
    assert len(store.roots(CSMS_ROOT)) == 2
    assert _delete(store, b)[0] is Deleted.ACCEPTED  # the expired one may go


def test_a_root_openssl_refuses_is_not_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A root OpenSSL will not load (read fine by cryptography) keeps no other root deletable."""
    from agent.certificates import store as store_module

    a, odd = make_certificate("backend root A"), make_certificate("odd root")
    store = store_in(tmp_path, needed=True)
    store.install(CSMS_ROOT, a.pem)
    store.install(CSMS_ROOT, odd.pem)
    monkeypatch.setattr(store_module, "openssl_accepts", lambda c: c.serial_number != odd.certificate.serial_number)
    again = store_in(tmp_path, needed=True)
    assert _delete(again, a)[0] is Deleted.FAILED


def test_the_root_under_the_live_connection_is_kept_unless_another_verifies_the_server(tmp_path: Path) -> None:
    a, unrelated = make_certificate("backend root A"), make_certificate("another PKI")
    leaf = make_certificate("csms.example.com", ca=False, issuer=a)
    fixed: list = []
    store = CertificateStore(tmp_path / "certificates", max_entries=lambda: 10,
                             server_chain=lambda: [leaf.certificate, a.certificate], fixed_roots=lambda: fixed)
    store.load()
    store.install(CSMS_ROOT, a.pem)
    store.install(CSMS_ROOT, unrelated.pem)
    status, why = _delete(store, a)
    assert status is Deleted.FAILED and "anchors the current connection" in why
    fixed.append(a.certificate)  # ca_file holds the same root: the server stays verified
    assert _delete(store, a)[0] is Deleted.ACCEPTED
    assert _delete(store, unrelated)[0] is Deleted.ACCEPTED  # no part of the live chain


def test_a_failed_directory_sync_after_the_unlink_still_forgets_the_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.certificates import store as store_module

    root = make_certificate("root")
    store = store_in(tmp_path)
    store.install(CSMS_ROOT, root.pem)

    def refuse(folder: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_module, "_sync_directory", refuse)
    assert _delete(store, root)[0] is Deleted.ACCEPTED
    assert store.roots(CSMS_ROOT) == [] and not list((tmp_path / "certificates" / CSMS_ROOT).glob("*.pem"))
