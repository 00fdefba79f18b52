"""The connection profiles alone (agent/link/profiles.py): the rotation the link follows,
fallback after NetworkProfileConnectionAttempts, the security floor, and durability in
a real state database (reopened as a restart or a power cut would)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.link.profiles import ConnectionProfile, ConnectionProfiles, Prerequisites, upgraded_url
from agent.store import ChargerState, Database

FILE = ConnectionProfile(url="ws://csms-a.example/ocpp", security_profile=1, ocpp="2.0.1", message_timeout=30)


def backend(slot: int, url: str, security_profile: int = 1) -> ConnectionProfile:
    return ConnectionProfile(url=url, security_profile=security_profile, ocpp="2.0.1", message_timeout=20,
                             slot=slot, source="backend")


@pytest.fixture
def state(tmp_path: Path):
    db = Database(tmp_path)
    db.open()
    yield ChargerState(db)
    db.close()


def reopen(state: ChargerState, file: ConnectionProfile = FILE, priority=("1",), attempts: int = 3):
    """A new run over the same database file (what a restart sees)."""
    db = Database(state.db.path.parent)
    db.open()
    return ConnectionProfiles(file, ChargerState(db), priority, attempts), db


def test_only_the_file_profile_by_default():
    profiles = ConnectionProfiles(FILE, None)
    assert profiles.rotation == [FILE] and profiles.active is FILE
    assert profiles.set_slots() == (1,)
    for _ in range(10):
        assert profiles.failed() is None  # nothing to move to: the file's profile, retried
    assert profiles.active is FILE


def test_priority_order_then_fallback_after_attempts_and_starting_over(state):
    profiles = ConnectionProfiles(FILE, state)
    profiles.store(backend(2, "ws://csms-b.example/ocpp"))
    profiles.store(backend(3, "ws://csms-c.example/ocpp"))
    profiles, db = reopen(state, priority=("3", "2"), attempts=2)
    try:
        urls = [p.url for p in profiles.rotation]
        # the listed slots, then the file's profile as the last resort (not listed, still there)
        assert urls == ["ws://csms-c.example/ocpp", "ws://csms-b.example/ocpp", "ws://csms-a.example/ocpp"]
        seen = []
        for _ in range(7):
            seen.append(profiles.active.url)
            profiles.failed()
        assert seen == ["ws://csms-c.example/ocpp"] * 2 + ["ws://csms-b.example/ocpp"] * 2 + \
            ["ws://csms-a.example/ocpp"] * 2 + ["ws://csms-c.example/ocpp"]
        assert "starting over" in profiles.reason
        profiles.connected()  # a success forgets the failures
        assert profiles.failed() is None
    finally:
        db.close()


def test_profiles_survive_a_restart_and_the_same_endpoint_is_tried_once(state):
    profiles = ConnectionProfiles(FILE, state)
    profiles.store(backend(2, "ws://csms-b.example/ocpp"))
    profiles.store(backend(3, "ws://csms-a.example/ocpp"))  # the file's endpoint again
    again, db = reopen(state, priority=("2", "3", "1"))
    try:
        assert again.set_slots() == (1, 2, 3)
        assert again.profile(2) == backend(2, "ws://csms-b.example/ocpp")
        assert [p.url for p in again.rotation] == ["ws://csms-b.example/ocpp", "ws://csms-a.example/ocpp"]
    finally:
        db.close()


def test_priority_checks_name_set_slots_once_and_never_lower_security(state):
    profiles = ConnectionProfiles(FILE, state)
    profiles.store(backend(2, "ws://csms-b.example/ocpp", security_profile=0))
    profiles.store(backend(3, "wss://csms-b.example/ocpp", security_profile=2))
    assert profiles.check_priority(("3", "1")) is None
    assert "holds no connection profile" in profiles.check_priority(("4",))
    assert "listed twice" in profiles.check_priority(("1", "1"))
    assert "not a configuration slot" in profiles.check_priority(("999",))
    assert "lower than the current 1" in profiles.check_priority(("2", "1"))
    no_root = Prerequisites(csms_root=False, client_certificate=False, password=True)
    assert "slot 3: security profile 2 needs a CSMS root" in profiles.check_priority(("3", "1"), no_root)


def test_an_upgrade_becomes_final_once_it_connects_and_survives_a_restart(state):
    profiles = ConnectionProfiles(FILE, state)
    upgrade = backend(2, "wss://csms-a.example/ocpp", security_profile=2)
    profiles.store(upgrade)
    on_trial, db = reopen(state, priority=("2", "1"))
    try:
        assert on_trial.active == upgrade and on_trial.on_trial
        assert on_trial.connected() == upgrade  # final now
        assert on_trial.rotation == [upgrade]  # the plain profile is gone at once
    finally:
        db.close()
    after, db = reopen(state, priority=("2", "1"))
    try:
        assert after.floor == 2 and after.rotation == [upgrade]
        assert "lower than the current 2" in after.check_priority(("1",))
        assert after.connected() is None  # not an upgrade any more
    finally:
        db.close()


def test_an_upgrade_that_never_connects_falls_back_and_stays_on_trial(state):
    profiles = ConnectionProfiles(FILE, state)
    upgrade = backend(2, "wss://csms-a.example/ocpp", security_profile=2)
    profiles.store(upgrade)
    trial, db = reopen(state, priority=("2", "1"), attempts=3)
    try:
        assert trial.failed() is None and trial.failed() is None
        left, now = trial.failed()
        assert (left, now) == (upgrade, FILE)
        assert trial.connected() is None  # back on profile 1: no upgrade was made
        assert trial.floor == 1
    finally:
        db.close()


def test_a_changed_file_profile_puts_the_backends_profiles_aside(state):
    profiles = ConnectionProfiles(FILE, state)
    profiles.store(backend(2, "wss://csms-b.example/ocpp", security_profile=2))
    profiles.rotation = [profiles.profile(2)]
    profiles.connected()
    moved = ConnectionProfile(url="ws://csms-new.example/ocpp", security_profile=1, ocpp="2.0.1", message_timeout=30)
    fresh, db = reopen(state, file=moved, priority=("2",))
    try:
        assert fresh.set_slots() == (1,) and fresh.floor == 1 and fresh.rotation == [moved] and fresh.put_aside
        assert ChargerState(db).config_values()["OCPPCommCtrlr.NetworkConfigurationPriority"] == "1"
    finally:
        db.close()


def test_prerequisites_of_each_security_profile():
    nothing = Prerequisites(csms_root=False, client_certificate=False, password=False)
    assert nothing.missing(0) is None
    assert "password" in nothing.missing(1)
    assert "CSMS root" in nothing.missing(2) and "CSMS root" in nothing.missing(3)
    root_only = Prerequisites(csms_root=True, client_certificate=False, password=False)
    assert "client certificate" in root_only.missing(3) and "password" in root_only.missing(2)
    assert Prerequisites(csms_root=True, client_certificate=True, password=False).missing(3) is None


def test_an_upgraded_url_keeps_host_port_and_path():
    assert upgraded_url("ws://10.0.0.5:9000/ocpp/", 2) == "wss://10.0.0.5:9000/ocpp/"
    assert upgraded_url("wss://h/ocpp", 1) == "ws://h/ocpp"
