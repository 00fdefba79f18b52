"""The root installer's steps on a real directory tree: building a release from a bundle,
switching to it, and rolling back when the new release does not prove itself.

The service restart and the health wait are what systemd and the new agent do; here
they are callables, so each outcome can be chosen. The end-to-end tests with the real
agent restarted into the new release are in test_firmware_update.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.firmware.install import prepare, switch
from agent.firmware.layout import (
    OUTCOME,
    PREPARED,
    REQUEST,
    SWITCH,
    Layout,
    read_json,
    write_json,
)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """An installation with one release running (a directory standing in for a virtualenv)."""
    layout = Layout(tmp_path / "opt", tmp_path / "state")
    old = layout.releases / "0.0.9-20260101T000000Z"
    old.mkdir(parents=True)
    layout.current.symlink_to(os.path.relpath(old, layout.opt))
    layout.firmware.mkdir(parents=True)
    return layout


def prepared(layout: Layout, version: str = "0.1.0") -> Path:
    release = layout.releases / f"{version}-20261122T120000Z"
    release.mkdir()
    write_json(layout.prepared_record, {"version": version, "release": str(release), "request": {"request_id": 7}})
    write_json(layout.file(PREPARED), {"version": version})
    write_json(layout.file(SWITCH), {})
    return release


def test_a_healthy_release_stays_and_the_old_one_is_kept_as_previous(layout: Layout) -> None:
    old = layout.current.resolve()
    release = prepared(layout)
    restarts: list[str] = []
    waited: list[tuple[str, float]] = []

    def healthy(version: str, timeout: float) -> bool:
        waited.append((version, timeout))
        assert layout.current.resolve() == release  # the service restarts into the new release
        return True

    assert switch(layout, lambda: restarts.append("restart"), healthy, timeout=60) is True
    assert (layout.current.resolve(), layout.previous.resolve()) == (release, old)
    assert restarts == ["restart"] and waited == [("0.1.0", 60)]
    outcome = read_json(layout.file(OUTCOME))
    assert outcome is not None and (outcome["status"], outcome["version"], outcome["request"]) == (
        "Installed", "0.1.0", {"request_id": 7})
    assert not layout.file(SWITCH).exists() and not layout.file(PREPARED).exists()
    assert not layout.prepared_record.exists()


def test_a_release_that_does_not_prove_itself_is_rolled_back(layout: Layout) -> None:
    old = layout.current.resolve()
    release = prepared(layout, "0.2.0")
    restarts: list[Path] = []
    assert switch(layout, lambda: restarts.append(layout.current.resolve()), lambda v, t: False, timeout=5) is True
    assert layout.current.resolve() == old
    assert restarts == [release, old]  # restarted into the new one, then back into the old one
    assert not release.exists()  # the failed release is removed
    outcome = read_json(layout.file(OUTCOME))
    assert outcome is not None and outcome["status"] == "InstallationFailed"
    assert outcome["reason"] == ("version 0.2.0 did not become ready and accepted by the backend within 5 s; "
                                 "rolled back to 0.0.9-20260101T000000Z")


def test_a_switch_without_a_prepared_release_changes_nothing(layout: Layout) -> None:
    old = layout.current.resolve()
    write_json(layout.file(SWITCH), {})
    assert switch(layout, lambda: pytest.fail("restarted"), lambda v, t: True) is True
    assert layout.current.resolve() == old
    assert read_json(layout.file(OUTCOME))["reason"] == "a switch was asked for, but no release was prepared"  # type: ignore[index]


def test_a_bundle_that_cannot_be_installed_fails_before_anything_is_switched(layout: Layout) -> None:
    old = layout.current.resolve()
    junk = layout.firmware / "bundle.tar.gz"
    junk.write_text("<html>Service Unavailable</html>")
    write_json(layout.file(REQUEST), {"bundle": str(junk)})
    assert prepare(layout) is True
    assert layout.current.resolve() == old and not layout.file(PREPARED).exists()
    outcome = read_json(layout.file(OUTCOME))
    assert outcome is not None and outcome["status"] == "InstallationFailed"
    assert "bundle.tar.gz is not a firmware bundle" in outcome["reason"]
    assert not junk.exists() and not layout.file(REQUEST).exists()  # nothing is left to retrigger the installer


def test_the_installer_trusts_no_path_the_service_user_wrote(layout: Layout, tmp_path: Path) -> None:
    # A compromised agent names a file outside its directory, or plants links for root to
    # follow: nothing outside the firmware directory is read, written or removed.
    precious = tmp_path / "precious"
    precious.write_text("root's")
    write_json(layout.file(REQUEST), {"bundle": str(precious)})
    assert prepare(layout) is True
    assert precious.read_text() == "root's"
    assert "is not in" in read_json(layout.file(OUTCOME))["reason"]  # type: ignore[index]

    layout.file(OUTCOME).unlink()
    (layout.firmware / "bundle.tar.gz").symlink_to(precious)
    write_json(layout.file(REQUEST), {"bundle": str(layout.firmware / "bundle.tar.gz")})
    assert prepare(layout) is True
    assert precious.read_text() == "root's" and not (layout.firmware / "bundle.tar.gz").is_symlink()
    assert "cannot open the bundle" in read_json(layout.file(OUTCOME))["reason"]  # type: ignore[index]

    # A switch trusts only the installer's own record, not a prepared.json the agent wrote.
    layout.file(OUTCOME).unlink()
    write_json(layout.file(PREPARED), {"version": "6.6.6", "release": str(tmp_path)})
    write_json(layout.file(SWITCH), {})
    old = layout.current.resolve()
    assert switch(layout, lambda: pytest.fail("restarted"), lambda v, t: True) is True
    assert layout.current.resolve() == old and tmp_path.is_dir()


def test_nothing_to_do_without_a_request(layout: Layout) -> None:
    assert prepare(layout) is False
    assert switch(layout, lambda: pytest.fail("restarted"), lambda v, t: True) is False
