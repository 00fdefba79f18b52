"""The root installer's steps on a real directory tree: switching to a release, rolling
back one that does not prove itself (also after a power cut mid-trial), checking
signatures with openssl, and trusting nothing in the directory the service user writes.

The service restart and the health wait are what systemd and the new agent do; here
they are callables, so each outcome can be chosen. The end-to-end tests with the real
agent restarted into a release built from a real bundle are in test_firmware_update.py.
"""

from __future__ import annotations

import base64
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from agent.firmware.install import InstallFailed, Spool, prepare, resume, signing_ca_of, switch, verify_signature
from agent.firmware.layout import ATTEMPT, OUTCOME, PREPARED, REQUEST, SWITCH, Layout, read_json, write_json
from tests.firmware.signing import certificate, pem


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """An installation with one release running (a directory standing in for a virtualenv)."""
    layout = Layout(tmp_path / "opt", tmp_path / "state")
    old = layout.releases / "0.0.9-20260101T000000Z"
    old.mkdir(parents=True)
    layout.current.symlink_to(os.path.relpath(old, layout.opt))
    layout.firmware.mkdir(parents=True)
    return layout


@pytest.fixture
def spool(layout: Layout) -> Iterator[Spool]:
    opened = Spool.open(layout.state)
    assert opened is not None
    yield opened
    opened.close()


def prepared(layout: Layout, version: str = "0.1.0") -> Path:
    release = layout.releases / f"{version}-20261122T120000Z"
    release.mkdir()
    write_json(layout.prepared_record, {"version": version, "release": str(release),
                                        "request": {"request_id": 7, "job": "j1"}})
    write_json(layout.file(PREPARED), {"version": version, "job": "j1"})
    write_json(layout.file(SWITCH), {})
    return release


def outcome(layout: Layout) -> dict:  # type: ignore[type-arg]
    found = read_json(layout.file(OUTCOME))
    assert found is not None
    return found


def test_a_healthy_release_stays_and_the_old_one_is_kept_as_previous(layout: Layout, spool: Spool) -> None:
    old = layout.current.resolve()
    release = prepared(layout)
    restarts: list[str] = []
    waited: list[str] = []

    def healthy(version: str, timeout: float) -> bool:
        waited.append(version)
        assert 0 < timeout <= 60 and layout.current.resolve() == release  # restarted into the new release
        assert read_json(layout.file(ATTEMPT))["version"] == version  # type: ignore[index]  # the agent's copy
        return True

    assert switch(layout, spool, lambda: restarts.append("restart"), healthy, timeout=60) is True
    assert (layout.current.resolve(), layout.previous.resolve()) == (release, old)
    assert restarts == ["restart"] and waited == ["0.1.0"]
    assert (outcome(layout)["status"], outcome(layout)["job"], outcome(layout)["request"]["request_id"]) == (
        "Installed", "j1", 7)
    assert not any(p.exists() for p in (layout.file(SWITCH), layout.file(PREPARED), layout.prepared_record,
                                        layout.opt / ATTEMPT, layout.file(ATTEMPT)))


def test_a_release_that_does_not_prove_itself_is_rolled_back(layout: Layout, spool: Spool) -> None:
    old = layout.current.resolve()
    release = prepared(layout, "0.2.0")
    restarts: list[Path] = []
    assert switch(layout, spool, lambda: restarts.append(layout.current.resolve()), lambda v, t: False, 5) is True
    assert layout.current.resolve() == old
    assert restarts == [release, old]  # restarted into the new one, then back into the old one
    assert not release.exists()  # the failed release is removed
    assert outcome(layout)["status"] == "InstallationFailed"
    assert outcome(layout)["reason"] == ("version 0.2.0 did not become ready and accepted by the backend in time; "
                                         "rolled back to 0.0.9-20260101T000000Z")
    assert not layout.previous.is_symlink()  # not the release now current again: there was none before


def test_a_rollback_gives_previous_back_its_release(layout: Layout, spool: Spool) -> None:
    """current 0.0.9, previous 0.0.8; 0.2.0 fails its trial: current 0.0.9, previous 0.0.8."""
    old = layout.current.resolve()
    older = layout.releases / "0.0.8-20251201T000000Z"
    (older / "bin").mkdir(parents=True)
    layout.previous.symlink_to(os.path.relpath(older, layout.opt))
    prepared(layout, "0.2.0")
    assert switch(layout, spool, lambda: None, lambda v, t: False, 5) is True
    assert (layout.current.resolve(), layout.previous.resolve()) == (old, older)


def test_a_trial_cut_by_a_power_cut_is_finished_at_the_next_start(layout: Layout, spool: Spool) -> None:
    old = layout.current.resolve()
    prepared(layout, "0.2.0")

    def power_cut() -> None:
        raise SystemExit("the controller lost power")

    with pytest.raises(SystemExit):
        switch(layout, spool, power_cut, lambda v, t: True, 60)
    assert (layout.opt / ATTEMPT).exists()  # the trial is on record where root keeps it

    # At boot, with the trial's time run out and no health marker: back to the old release.
    attempt = read_json(layout.opt / ATTEMPT)
    write_json(layout.opt / ATTEMPT, {**attempt, "deadline": time.time() - 1})  # type: ignore[dict-item]
    restarts: list[Path] = []
    assert resume(layout, spool, lambda: restarts.append(layout.current.resolve()), lambda v, t: False) is True
    assert layout.current.resolve() == old and restarts == [old]
    assert outcome(layout)["status"] == "InstallationFailed"
    assert resume(layout, spool, lambda: pytest.fail("restarted"), lambda v, t: True) is False  # done once


def test_a_build_cut_short_is_reported_failed_by_the_next_run(layout: Layout, spool: Spool) -> None:
    write_json(layout.file(REQUEST + ".taken"), {"bundle": "bundle.tar.gz", "job": "j9"})
    assert prepare(layout, spool) is True
    assert (outcome(layout)["status"], outcome(layout)["job"]) == ("InstallationFailed", "j9")
    assert "interrupted" in outcome(layout)["reason"]
    assert not layout.file(REQUEST + ".taken").exists()  # it will not come back


def test_a_bundle_that_cannot_be_installed_fails_before_anything_is_switched(layout: Layout, spool: Spool) -> None:
    old = layout.current.resolve()
    (layout.firmware / "bundle.tar.gz").write_text("<html>Service Unavailable</html>")
    write_json(layout.file(REQUEST), {"bundle": "bundle.tar.gz", "job": "j2"})
    assert prepare(layout, spool) is True
    assert layout.current.resolve() == old and not layout.file(PREPARED).exists()
    # The file failed the check of what it is: verification, not installation (OCPP's word).
    assert outcome(layout)["status"] == "InstallVerificationFailed" and outcome(layout)["job"] == "j2"
    assert "is not a firmware bundle" in outcome(layout)["reason"]
    assert not (layout.firmware / "bundle.tar.gz").exists() and not layout.file(REQUEST).exists()


def test_the_installer_trusts_no_path_the_service_user_wrote(layout: Layout, spool: Spool, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("root's")
    # A path instead of a name, and a planted link: nothing outside the directory is touched.
    for request in ({"bundle": str(precious)}, {"bundle": "../../precious"}):
        write_json(layout.file(REQUEST), request)
        assert prepare(layout, spool) is True
        assert "must be a file name" in outcome(layout)["reason"]
    (layout.firmware / "bundle.tar.gz").symlink_to(precious)
    write_json(layout.file(REQUEST), {"bundle": "bundle.tar.gz"})
    assert prepare(layout, spool) is True
    assert "cannot open the bundle" in outcome(layout)["reason"]
    assert precious.read_text() == "root's" and not (layout.firmware / "bundle.tar.gz").is_symlink()

    # A prepared.json the agent wrote is not the installer's record: no switch.
    write_json(layout.file(PREPARED), {"version": "6.6.6", "release": str(tmp_path)})
    write_json(layout.file(SWITCH), {})
    old = layout.current.resolve()
    assert switch(layout, spool, lambda: pytest.fail("restarted"), lambda v, t: True) is True
    assert layout.current.resolve() == old and tmp_path.is_dir()

    # The directory swapped for a link while root works: the handle still names the real one.
    real = layout.firmware.rename(layout.state / "firmware.real")
    layout.firmware.symlink_to(tmp_path)
    write_json(real / REQUEST, {"bundle": "bundle.tar.gz"})
    assert prepare(layout, spool) is True
    assert (real / OUTCOME).exists() and not (tmp_path / OUTCOME).exists()
    with pytest.raises(OSError):  # and opening it anew refuses the link
        Spool.open(layout.state)


# -- signatures, checked again by root with openssl -------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path_factory.mktemp("ca") / "firmware-ca.pem"
    path.write_text(pem(certificate("Ladda firmware CA", key, "Ladda firmware CA", key)))
    return key, path


def test_root_checks_the_signature_itself_when_a_signing_ca_is_set(ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca_key, ca_path = ca
    bundle = tmp_path / "bundle.tar.gz"
    bundle.write_bytes(os.urandom(4096))
    for key, sign in (
        (ec.generate_private_key(ec.SECP256R1()), lambda k, d: k.sign(d, ec.ECDSA(hashes.SHA256()))),
        (rsa.generate_private_key(public_exponent=65537, key_size=2048),
         lambda k, d: k.sign(d, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH), hashes.SHA256())),
    ):
        signer = pem(certificate("signer", key, "Ladda firmware CA", ca_key))
        good = {"signature": base64.b64encode(sign(key, bundle.read_bytes())).decode(), "certificate": signer}
        work = tmp_path / f"work-{type(key).__name__}"
        work.mkdir()
        verify_signature(bundle, good, ca_path, work)
        # Wrapped at 64 columns, as PEM tools write it: the same signature.
        wrapped = "\n".join(textwrap.wrap(good["signature"], 64)) + "\n"
        assert wrapped.count("\n") >= 2
        verify_signature(bundle, {**good, "signature": wrapped}, ca_path, work)
        with pytest.raises(InstallFailed, match="not base64"):
            verify_signature(bundle, {**good, "signature": wrapped.replace("\n", "\n!", 1)}, ca_path, work)
        with pytest.raises(InstallFailed, match="does not verify"):
            verify_signature(bundle, {**good, "signature": base64.b64encode(b"x" * 64).decode()}, ca_path, work)
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = pem(certificate("signer", stranger, "Ladda firmware CA", stranger))
    with pytest.raises(InstallFailed, match="verify the signing certificate"):
        verify_signature(bundle, {"signature": "AAAA", "certificate": forged}, ca_path, tmp_path)
    with pytest.raises(InstallFailed, match="unsigned firmware refused"):
        verify_signature(bundle, {}, ca_path, tmp_path)


def test_the_signing_ca_comes_from_the_technicians_file(tmp_path: Path) -> None:
    config = tmp_path / "ladda.toml"
    config.write_text('[firmware]\nsigning_ca = "certs/firmware-ca.pem"\n')
    assert signing_ca_of(config) == tmp_path / "certs" / "firmware-ca.pem"
    config.write_text('[firmware]\nsigning_ca = ""\n')
    assert signing_ca_of(config) is None
    assert signing_ca_of(tmp_path / "absent.toml") is None


def test_nothing_to_do_without_a_request(layout: Layout, spool: Spool) -> None:
    assert prepare(layout, spool) is False
    assert switch(layout, spool, lambda: pytest.fail("restarted"), lambda v, t: True) is False
    assert resume(layout, spool, lambda: pytest.fail("restarted"), lambda v, t: True) is False
