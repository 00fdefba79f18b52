"""The security event catalogue and the security log: what is kept, where, and that a
failing log file never costs the journal's record."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import structlog

from agent import security_events as events
from agent.diagnostics import _line_time
from agent.journal import SECURITY_EVENT, Journal
from agent.link.security import security_event_for
from agent.redaction import register_secret
from agent.security_log import SecurityLog, security_log_files, security_log_path
from agent.store import Database, StoreError

from .journal_helpers import db  # noqa: F401 - db is a fixture


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_catalogue_has_every_name_of_both_lists_and_their_spellings():
    assert len(events.CATALOGUE) == 18
    assert events.spelled_16("InvalidCsmsCertificate") == "InvalidCentralSystemCertificate"
    assert events.spelled_16("FailedToAuthenticateAtCsms") == "FailedToAuthenticateAtCentralSystem"
    assert events.spelled_16("CsmsFailedToAuthenticate") == "CentralSystemFailedToAuthenticate"
    assert events.spelled_16("InvalidChargingStationCertificate") == "InvalidChargePointCertificate"
    assert events.spelled_16("StartupOfTheDevice") == "StartupOfTheDevice"
    assert events.canonical("InvalidCentralSystemCertificate") == "InvalidCsmsCertificate"
    assert events.canonical("SettingSystemTimeRefused") == "SettingSystemTimeRefused"  # open list
    sent = {name for name in events.CATALOGUE if events.sent_to_backend(name)}
    assert sent == set(events.CATALOGUE) - {
        "FailedToAuthenticateAtCsms", "CsmsFailedToAuthenticate", "ReconfigurationOfSecurityParameters",
        "InvalidMessages", "AttemptedReplayAttacks"}
    assert events.sent_to_backend("SomethingOnlyThisChargerNames")


def test_each_event_is_a_json_line_with_the_diagnostics_timestamp_and_no_secret(tmp_path):
    register_secret("hunter2-but-longer-0001")
    seclog = SecurityLog(tmp_path, 2**20)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert seclog.append("StartupOfTheDevice", "ladda started", "2026-12-06T10:00:00.000Z")
    assert seclog.append("ReconfigurationOfSecurityParameters", "password hunter2-but-longer-0001 set")
    first, second = lines(security_log_path(tmp_path))
    assert first["type"] == "StartupOfTheDevice" and first["techInfo"] == "ladda started"
    assert first["occurred"] == "2026-12-06T10:00:00.000Z"
    stamp = _line_time(security_log_path(tmp_path).read_bytes().splitlines()[0])
    assert stamp is not None and before <= stamp <= datetime.now(timezone.utc)
    assert "hunter2" not in json.dumps(second) and second["techInfo"] == "password **** set"
    assert security_log_files(tmp_path) == [security_log_path(tmp_path)]


def test_the_log_rotates_by_size_and_lists_its_files_oldest_first(tmp_path):
    seclog = SecurityLog(tmp_path, 4 * 1024)  # 1 KiB a file, 4 files at most
    for n in range(100):
        seclog.append("InvalidMessages", f"event {n:03d} " + "x" * 60)
    files = security_log_files(tmp_path)
    assert [f.name for f in files] == ["security.log.3", "security.log.2", "security.log.1", "security.log"]
    assert all(f.stat().st_size <= 1024 for f in files)
    numbers = [int(str(line["techInfo"]).split()[1]) for f in files for line in lines(f)]
    assert numbers == sorted(numbers) and numbers[-1] == 99  # oldest first, the newest kept


def test_an_unwritable_log_is_reported_once_and_the_journal_keeps_the_event(db, tmp_path, monkeypatch):
    journal = Journal(db)
    blocked = tmp_path / "state"
    blocked.mkdir()
    (blocked / "logs").write_text("a file where the directory should be")  # every write fails
    seclog = SecurityLog(blocked, 2**20)
    journal.security_event_heard = seclog.append
    with structlog.testing.capture_logs() as logged:
        journal.record_security_event("InvalidCsmsCertificate", "first")
        journal.record_security_event("InvalidTLSVersion", "second")
    assert [e.body["type"] for e in journal.pending() if e.kind == SECURITY_EVENT] == [
        "InvalidCsmsCertificate", "InvalidTLSVersion"]
    assert [e["event"] for e in logged if e["log_level"] == "error"] == [
        "cannot write the security log; the event is still journaled and sent"]
    (blocked / "logs").unlink()
    with structlog.testing.capture_logs() as logged:
        journal.record_security_event("InvalidTLSVersion", "third")
    assert [e["event"] for e in logged] == ["security log writable again"]
    assert [line["techInfo"] for line in lines(security_log_path(blocked))] == ["third"]


def test_a_full_journal_still_logs_the_event_then_fails_as_before(db, tmp_path, monkeypatch):
    journal = Journal(db)
    heard: list[tuple[str, str]] = []
    journal.security_event_heard = lambda kind, info, at: heard.append((kind, info))

    def full(*_: object) -> None:
        raise StoreError("database or disk is full")

    monkeypatch.setattr(journal, "_commit", full)
    with pytest.raises(StoreError):
        journal.record_security_event("MemoryExhaustion", "disk full")
    assert heard == [("MemoryExhaustion", "disk full")]


def test_the_journal_queues_only_what_a_backend_is_told_and_logs_everything(db):
    journal = Journal(db)
    heard: list[str] = []
    journal.security_event_heard = lambda kind, info, at: heard.append(kind)
    journal.record_security_event("FailedToAuthenticateAtCentralSystem", "HTTP 401")  # the 1.6 spelling
    journal.record_security_event("InvalidCentralSystemCertificate", "unknown CA")
    assert heard == ["FailedToAuthenticateAtCsms", "InvalidCsmsCertificate"]
    assert [e.body["type"] for e in journal.pending()] == ["InvalidCsmsCertificate"]


def test_the_16_adapter_spells_the_whitepaper_names(db):
    from agent.ocpp16.outbound import request_for

    journal = Journal(db)
    journal.record_security_event("InvalidCsmsCertificate", "unknown CA")
    (entry,) = journal.pending()
    request = request_for(entry)
    assert request.type == "InvalidCentralSystemCertificate" and request.tech_info == "unknown CA"


def test_link_failures_are_the_events_the_specs_name():
    import ssl

    from websockets.datastructures import Headers
    from websockets.exceptions import InvalidStatus
    from websockets.http11 import Response

    refused = InvalidStatus(Response(401, "Unauthorized", Headers()))
    assert security_event_for(refused)[0] == "FailedToAuthenticateAtCsms"  # type: ignore[index]
    assert security_event_for(InvalidStatus(Response(404, "Not Found", Headers()))) is None
    unknown_ca = ssl.SSLCertVerificationError(1, "certificate verify failed")
    unknown_ca.verify_message = "unable to get local issuer certificate"
    assert security_event_for(unknown_ca) == ("InvalidCsmsCertificate", "TLS: unable to get local issuer certificate")
    old = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version")
    old.reason = "TLSV1_ALERT_PROTOCOL_VERSION"
    assert security_event_for(old)[0] == "InvalidTLSVersion"  # type: ignore[index]
    assert security_event_for(ConnectionRefusedError()) is None



async def test_a_full_journal_is_one_memory_exhaustion_event_until_it_has_room_again(db):
    from agent.housekeeping import JournalKeeper

    from .journal_helpers import sample

    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 0, "2026-01-01T10:00:00.000Z", [])
    for n in range(60):
        sample(journal, local, 10 * n, f"2026-01-01T10:{n:02d}:30.000Z")
    cap = journal.undelivered_bytes() // 2
    keeper = JournalKeeper(db, journal, cap, keep_days=7)
    assert await keeper.enforce_cap() > 0
    await keeper.enforce_cap()  # still full: not told again
    (event,) = [e.body for e in journal.pending(limit=500) if e.kind == SECURITY_EVENT]
    assert event["type"] == "MemoryExhaustion" and f"cap of {cap} bytes" in event["tech_info"]


def test_the_clock_says_how_far_the_backends_time_moved_it():
    from agent.clock import TIME_REPORT_S, Clock

    now = [datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()]
    mono = [50.0]
    unsynced = Clock(mode="backend", wall=lambda: now[0], monotonic=lambda: mono[0])
    hour_ahead = datetime.fromtimestamp(now[0] + 3600, timezone.utc).isoformat()
    unsynced.adopt_backend_time(hour_ahead, 50.0, 50.0)
    assert abs(unsynced.last_jump - 3600) < 0.01 and abs(unsynced.last_jump) > TIME_REPORT_S
    mono[0] = 60.0
    unsynced.adopt_backend_time(datetime.fromtimestamp(now[0] + 3610, timezone.utc).isoformat(), 60.0, 60.0)
    assert abs(unsynced.last_jump) < 0.01  # following the backend: no move
    system = Clock(mode="system", wall=lambda: now[0], monotonic=lambda: mono[0])
    system.adopt_backend_time(hour_ahead, 60.0, 60.0)
    assert system.last_jump == 0.0  # the system clock stays in charge
