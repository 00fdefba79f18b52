"""The charger's clock: provisional stamps while no source vouches for the time, the
backend's time when the system clock is not synchronised, and the journal corrected."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agent import clock
from agent.clock import BACKEND, SYSTEM, UNSYNCHRONISED, Clock
from agent.journal import Journal, Sample
from agent.store import Database, iso

ENERGY = "Energy.Active.Import.Register"
BOOT_WALL = datetime(1970, 1, 1, 0, 1, tzinfo=timezone.utc).timestamp()  # a Pi without an RTC
TRUE_START = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc).timestamp()


class Time:
    """A fake system: wall clock stuck near 1970, a monotonic clock that advances."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall_offset = BOOT_WALL - self.mono

    def wall(self) -> float:
        return self.mono + self.wall_offset

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def fake() -> Time:
    return Time()


@pytest.fixture
def installed(fake):
    previous = clock.current()
    made = clock.install(Clock("auto", synchronised=lambda: False, wall=fake.wall, monotonic=fake.monotonic))
    yield made
    clock.install(previous)


def backend_time(fake: Time) -> str:
    """What a backend with the right time says at the fake's present moment."""
    return iso(datetime.fromtimestamp(TRUE_START + (fake.mono - 1000.0), timezone.utc))


def test_unsynchronised_clock_stamps_provisionally_then_follows_the_backend(installed, fake):
    assert installed.source == UNSYNCHRONISED and installed.tag.startswith("unsynchronised:")
    fake.mono += 5
    assert installed.now().timestamp() == pytest.approx(BOOT_WALL + 5)
    fake.mono += 5
    shift = installed.adopt_backend_time(backend_time(fake), fake.mono - 0.1, fake.mono + 0.1)
    assert shift == pytest.approx(TRUE_START - BOOT_WALL, abs=0.01)
    assert installed.source == BACKEND
    fake.mono += 60
    # An NTP step of the system clock now (to anything) does not move the charger's time.
    fake.wall_offset += 12345
    assert installed.now().timestamp() == pytest.approx(TRUE_START + 70, abs=0.01)
    # Only the first answer corrects provisional stamps.
    assert installed.adopt_backend_time(backend_time(fake), fake.mono, fake.mono) is None


def test_a_synchronised_system_clock_is_used_as_it_is(fake):
    made = Clock("auto", synchronised=lambda: True, wall=fake.wall, monotonic=fake.monotonic)
    assert made.source == SYSTEM and made.tag == SYSTEM
    assert made.adopt_backend_time(backend_time(fake), fake.mono, fake.mono) is None
    assert made.now().timestamp() == pytest.approx(fake.wall())


def test_a_clock_the_backend_confirms_stays_the_system_clock(fake):
    made = Clock("auto", synchronised=lambda: False, wall=fake.wall, monotonic=fake.monotonic)
    right = iso(datetime.fromtimestamp(fake.wall() + 0.5, timezone.utc))
    assert made.adopt_backend_time(right, fake.mono, fake.mono) == 0.0
    assert made.source == SYSTEM


def test_backend_mode_follows_the_backend_even_when_the_kernel_is_content(fake):
    made = Clock("backend", synchronised=lambda: True, wall=fake.wall, monotonic=fake.monotonic)
    assert made.source == UNSYNCHRONISED
    assert made.adopt_backend_time(backend_time(fake), fake.mono, fake.mono) is not None
    assert made.source == BACKEND


def test_unreadable_backend_time_changes_nothing(installed, fake):
    assert installed.adopt_backend_time("yesterday", fake.mono, fake.mono) is None
    assert installed.source == UNSYNCHRONISED


def test_the_kernel_can_be_asked():
    assert clock.kernel_clock_synchronised() in (True, False, None)


def test_the_journal_corrects_this_process_provisional_stamps(tmp_path, installed, fake):
    db = Database(tmp_path)
    db.open()
    try:
        journal = Journal(db)
        local = journal.begin_transaction(1, "TAG", 100, iso(installed.now()), [Sample(ENERGY, 100, "Wh")])
        fake.mono += 30
        journal.record_sample(local, 1, iso(installed.now()), "Sample.Periodic", [Sample(ENERGY, 150, "Wh")], 150,
                              for_stop=[Sample(ENERGY, 150, "Wh")])
        fake.mono += 30
        shift = installed.adopt_backend_time(backend_time(fake), fake.mono, fake.mono)
        assert shift is not None
        changed = journal.correct_provisional(installed.provisional_tag, shift, installed.tag)
        assert changed == 2
        fake.mono += 30
        journal.end_transaction(local, 200, iso(installed.now()), "Local", "TAG", [])
        start, sample, stop = journal.pending()
        stamps = [
            datetime.fromisoformat(e.body["timestamp"].replace("Z", "+00:00")).timestamp()
            for e in (start, sample, stop)
        ]
        assert stamps == pytest.approx([TRUE_START, TRUE_START + 30, TRUE_START + 90], abs=0.01)
        # The stop's transaction data carries the corrected times too.
        data = [datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00")).timestamp()
                for d in stop.body["transaction_data"]]
        assert data == pytest.approx([TRUE_START, TRUE_START + 30], abs=0.01)
        # How each stamp was obtained is on record.
        sources = {r["clock"] for r in db.read("SELECT clock FROM outbox")}
        assert sources == {BACKEND}
        (record,) = journal.transactions()
        assert record.started_at.startswith("2026-11-22T08:00:00")
    finally:
        db.close()
