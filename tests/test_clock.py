"""The charger's clock: provisional stamps while no source vouches for the time, the
backend's time when the system clock is not synchronised, and the journal corrected."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from agent import clock
from agent.clock import BACKEND, SYSTEM, UNSYNCHRONISED, Clock
from agent.journal import Journal, Sample
from agent.store import Database, iso, parse_iso

ENERGY = "Energy.Active.Import.Register"
BOOT_WALL = datetime(1970, 1, 1, 0, 1, tzinfo=timezone.utc).timestamp()  # a Pi without an RTC
TRUE_START = datetime(2026, 12, 22, 8, 0, tzinfo=timezone.utc).timestamp()  # after agent.clock.RELEASED


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
    fake.wall_offset = TRUE_START - fake.mono  # right, but the kernel does not vouch for it
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
        assert record.started_at.startswith("2026-12-22T08:00:00")
    finally:
        db.close()


# ---------------------------------------------------------------- implausible backend times

RFC3339 = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


@pytest.mark.parametrize("offered", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
                                     "2026-11-30T23:59:59Z", "2046-12-01T00:00:01Z", "9999-12-31T23:59:59-05:00"])
def test_an_implausible_backend_time_is_refused_and_changes_nothing(installed, fake, offered):
    before = installed.now()
    with pytest.raises(clock.ImplausibleTime, match="refused: not between 2026-12-01 and 2046-12-01") as refused:
        installed.adopt_backend_time(offered, fake.mono, fake.mono)
    assert refused.value.first
    assert installed.source == UNSYNCHRONISED and installed.now() == before
    # Refused again and again, but reported once.
    with pytest.raises(clock.ImplausibleTime) as again:
        installed.adopt_backend_time(offered, fake.mono, fake.mono)
    assert not again.value.first


def test_the_plausible_range_is_the_release_day_to_twenty_years_on(installed, fake):
    assert clock.EARLIEST == clock.RELEASED and clock.LATEST.year == clock.RELEASED.year + 20
    assert installed.adopt_backend_time(iso(clock.EARLIEST), fake.mono, fake.mono) is not None
    assert installed.adopt_backend_time(iso(clock.LATEST), fake.mono, fake.mono) is None
    assert installed.now() == clock.LATEST


def test_a_refused_time_keeps_the_last_good_one_and_a_good_one_rearms_the_report(installed, fake):
    installed.adopt_backend_time(backend_time(fake), fake.mono, fake.mono)
    fake.mono += 10
    with pytest.raises(clock.ImplausibleTime) as refused:
        installed.adopt_backend_time("9999-12-31T23:59:59Z", fake.mono, fake.mono)
    assert refused.value.first
    fake.mono += 10
    assert installed.source == BACKEND
    assert installed.now().timestamp() == pytest.approx(TRUE_START + 20, abs=0.01)
    installed.adopt_backend_time(backend_time(fake), fake.mono, fake.mono)
    with pytest.raises(clock.ImplausibleTime) as later:
        installed.adopt_backend_time("0001-01-01T00:00:00Z", fake.mono, fake.mono)
    assert later.value.first


@pytest.mark.parametrize("wall", [-1e12, 0.0, 1e13, 2.6e11])
def test_stamps_stay_rfc3339_whatever_the_system_clock_says(wall):
    made = Clock("system", wall=lambda: wall)
    stamp = iso(made.now())  # no "year 10000 is out of range", no 5- or 1-digit years
    assert re.fullmatch(RFC3339, stamp), stamp
    assert re.fullmatch(RFC3339, iso(parse_iso(stamp) + timedelta(days=300)))


@pytest.mark.parametrize("moment, text", [
    (datetime(1, 1, 1, 0, 0, 7, 454000, tzinfo=timezone.utc), "0001-01-01T00:00:07.454Z"),
    (datetime(999, 3, 4, 5, 6, 7, tzinfo=timezone.utc), "0999-03-04T05:06:07.000Z"),
    (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc), "9999-12-31T23:59:59.999Z"),
])
def test_timestamps_have_four_digit_years(moment, text):
    assert iso(moment) == text


def test_the_release_day_is_not_in_the_future():
    # Set ahead of the real date, it would make a charger refuse a backend's true time.
    assert clock.RELEASED <= datetime.now(timezone.utc)
