"""The cost of a session against hand-worked examples: bands (across midnight, across a
daylight saving change), idle grace, fees, tax and rounding as displayed."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal as D

import pytest

from agent.tariff import Band, Point, Tariff, TimelineError, cost_of, money, price_lines, price_text

UTC = timezone.utc


def at(hhmm: str, day: int = 7, month: int = 1) -> datetime:
    """A UTC instant on 2026-<month>-<day> (January: Berlin is UTC+1, Stockholm too)."""
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, month, day, h, m, tzinfo=UTC)


def timeline(*steps: tuple[str, float, str], day: int = 7, month: int = 1) -> list[Point]:
    return [Point(at(hhmm, day, month), wh, state) for hhmm, wh, state in steps]


NIGHT = Band(time(22), time(6), per_kwh=D("0.20"))
BERLIN_NIGHT = Tariff(per_kwh=D("0.40"), bands=(NIGHT,), timezone="Europe/Berlin")
IDLE_FEE = Tariff(per_hour_idle=D("6.00"), idle_grace_minutes=30)

CASES = [
    # (name, tariff, timeline, total, (charging_s, idle_s, idle_billed_s))
    ("energy only: 10 kWh at 0.30",
     Tariff(per_kwh=D("0.30")),
     timeline(("10:00", 0, "Charging"), ("11:00", 10_000, "Ended")),
     "3.00", (3600, 0, 0)),
    ("a band across midnight, entered: 19:30Z = 20:30 Berlin; 4.5 kWh at 0.40, 4.5 kWh at 0.20",
     BERLIN_NIGHT,
     timeline(("19:30", 0, "Charging"), ("22:30", 9_000, "Ended")),
     "2.70", (10800, 0, 0)),
    ("a band across midnight, left: 04:00Z-06:00Z = 05:00-07:00 Berlin; 3 kWh at 0.20, 3 kWh at 0.40",
     BERLIN_NIGHT,
     timeline(("04:00", 100_000, "Charging"), ("06:00", 106_000, "Ended")),
     "1.80", (7200, 0, 0)),
    ("a whole night: 21:00 Berlin to 07:00 Berlin the next day, 1 kWh an hour, 8 h in the band",
     BERLIN_NIGHT,
     [Point(at("20:00"), 0, "Charging"), Point(at("06:00", 8), 10_000, "Ended")],
     "2.40", (36000, 0, 0)),
    ("energy between samples interpolated: 0, 1000, 4000 Wh at 21:00, 21:30, 23:30 Berlin; band from 22:00",
     BERLIN_NIGHT,
     timeline(("20:00", 0, "Charging"), ("20:30", 1_000, "Charging"), ("22:30", 4_000, "Ended")),
     # 1000 Wh, then 21:30-22:00 (0.5 h of 2 h of 3000 Wh) 750 Wh at 0.40 = 0.70; 2250 Wh at 0.20 = 0.45
     "1.15", (9000, 0, 0)),
    ("idle after the grace: 60 min SuspendedEV, the first 30 free, 30 min at 6.00/h",
     IDLE_FEE,
     timeline(("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEV"), ("12:00", 7_000, "Ended")),
     "3.00", (3600, 3600, 1800)),
    ("idle within the grace costs nothing",
     IDLE_FEE,
     timeline(("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEV"), ("11:29", 7_000, "Ended")),
     "0.00", (3600, 1740, 0)),
    ("the charger's own suspension (SuspendedEVSE) is not idle: the grace runs from when it ends",
     IDLE_FEE,
     timeline(("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEVSE"), ("11:20", 7_000, "SuspendedEV"),
              ("12:00", 7_000, "Ended")),
     "1.00", (3600, 2400, 600)),
    ("charging again starts the grace afresh",
     IDLE_FEE,
     timeline(("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEV"), ("11:20", 7_000, "Charging"),
              ("11:30", 7_500, "SuspendedEV"), ("12:10", 7_500, "Ended")),
     "1.00", (4200, 3600, 600)),
    ("samples within an idle stretch do not restart the grace; EVConnected is idle too",
     IDLE_FEE,
     timeline(("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEV"), ("11:20", 7_000, "SuspendedEV"),
              ("11:40", 7_000, "EVConnected"), ("12:00", 7_000, "Ended")),
     "3.00", (3600, 3600, 1800)),
    ("an EV away (Idle) is neither, and its return starts a new grace",
     IDLE_FEE,
     timeline(("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEV"), ("11:20", 7_000, "Idle"),
              ("11:40", 7_000, "EVConnected"), ("12:20", 7_000, "Ended")),
     "1.00", (3600, 3600, 600)),
    ("an EV plugged in that never draws (its own timer) is not idle: the alert does not fire for it",
     IDLE_FEE,
     timeline(("10:00", 0, "EVConnected"), ("11:00", 0, "Ended")),
     "0.00", (0, 0, 0)),
    ("idle counts from the first charge: 20 min waiting, 1 h charging, 60 min full, 30 billed",
     IDLE_FEE,
     timeline(("09:40", 0, "EVConnected"), ("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEV"),
              ("12:00", 7_000, "Ended")),
     "3.00", (3600, 3600, 1800)),
    ("a short SuspendedEVSE (load management) pauses the grace, it does not restart it",
     IDLE_FEE,
     timeline(("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEV"), ("11:20", 7_000, "SuspendedEVSE"),
              ("11:21", 7_000, "SuspendedEV"), ("12:01", 7_000, "Ended")),
     "3.00", (3600, 3600, 1800)),
    ("load management toggling every minute while full: 60 min idle of 2 h, 30 billed",
     IDLE_FEE,
     timeline(("10:00", 0, "Charging"), ("11:00", 7_000, "SuspendedEV"),
              *[(f"{11 + m // 60}:{m % 60:02d}", 7_000, "SuspendedEVSE" if m % 2 else "SuspendedEV")
                for m in range(1, 120)], ("13:00", 7_000, "Ended")),
     "3.00", (3600, 3600, 1800)),
    ("an idle price in a band: 17:30-18:00 Berlin billed, 10 min at 6.00/h, 20 at 12.00/h from 17:40",
     Tariff(per_hour_idle=D("6.00"), idle_grace_minutes=30, timezone="Europe/Berlin",
            bands=(Band(time(17, 40), time(20), per_hour_idle=D("12.00")),)),
     timeline(("15:00", 0, "Charging"), ("16:00", 7_000, "SuspendedEV"), ("17:00", 7_000, "Ended")),
     "5.00", (3600, 3600, 1800)),
    ("time charging: 90 min at 2.40/h",
     Tariff(per_hour_charging=D("2.40")),
     timeline(("10:00", 0, "Charging"), ("11:30", 11_000, "Ended")),
     "3.60", (5400, 0, 0)),
    ("a fee, and tax added: (10 kWh x 0.25 + 1.00) x 1.19 = 4.165, shown 4.17",
     Tariff(per_kwh=D("0.25"), session_fee=D("1.00"), tax_percent=D(19), prices_include_tax=False),
     timeline(("10:00", 0, "Charging"), ("11:00", 10_000, "Ended")),
     "4.17", (3600, 0, 0)),
    ("rounded once: 3 x 1 kWh at 0.333 is 0.999, shown 1.00 (not 3 x 0.33)",
     Tariff(per_kwh=D("0.333")),
     timeline(("10:00", 0, "Charging"), ("10:20", 1_000, "Charging"), ("10:40", 2_000, "Charging"),
              ("11:00", 3_000, "Ended")),
     "1.00", (3600, 0, 0)),
    ("no decimals, half up: 1.5 kWh at 1 is 1.5, shown 2",
     Tariff(currency="JPY", per_kwh=D(1), decimals=0),
     timeline(("10:00", 0, "Charging"), ("11:00", 1_500, "Ended")),
     "2", (3600, 0, 0)),
    ("a register that ran back (a glitch) bills nothing until it passes its top again, as the journal",
     Tariff(per_kwh=D("1")),
     timeline(("10:00", 5_000, "Charging"), ("10:30", 1_000, "Charging"), ("11:00", 6_000, "Ended")),
     "1.00", (3600, 0, 0)),
]


@pytest.mark.parametrize(("name", "tariff", "points", "total", "times"), CASES, ids=[c[0][:40] for c in CASES])
def test_hand_worked_examples(name, tariff, points, total, times):
    cost = cost_of(tariff, points)
    assert cost.total == D(total)
    assert str(cost.total) == total  # shown with the tariff's decimals
    assert (cost.charging_s, cost.idle_s, cost.idle_billed_s) == times


def test_a_band_follows_the_wall_clock_across_a_daylight_saving_change():
    # 2026-03-29 02:00 CET -> 03:00 CEST. 22:00Z (23:00 CET) to 05:00Z (07:00 CEST): 7 real hours,
    # the band (to 06:00 CEST = 04:00Z) covers 6 of them. 7 kWh evenly: 6 at 0.20 + 1 at 0.40.
    points = [Point(datetime(2026, 3, 28, 22, tzinfo=UTC), 0, "Charging"),
              Point(datetime(2026, 3, 29, 5, tzinfo=UTC), 7_000, "Ended")]
    cost = cost_of(BERLIN_NIGHT, points)
    assert cost.total == D("1.60") and cost.charging_s == 7 * 3600


def test_tax_included_in_the_prices_is_shown_as_its_part():
    # 10 kWh at 0.357 incl. 19 %: 3.57 in all, of which 3.57 - 3.57/1.19 = 0.57 tax.
    tariff = Tariff(per_kwh=D("0.357"), tax_percent=D(19))
    cost = cost_of(tariff, timeline(("10:00", 0, "Charging"), ("11:00", 10_000, "Ended")))
    assert (cost.total, cost.tax) == (D("3.57"), D("0.57"))
    added = cost_of(Tariff(per_kwh=D("0.25"), session_fee=D(1), tax_percent=D(19), prices_include_tax=False),
                    timeline(("10:00", 0, "Charging"), ("11:00", 10_000, "Ended")))
    assert (added.total, added.tax) == (D("4.17"), D("0.67"))  # 4.17 - 3.50


def test_the_parts_are_exact_and_the_fee_is_due_once():
    tariff = Tariff(per_kwh=D("0.333"), per_hour_charging=D("1.00"), session_fee=D("0.50"))
    cost = cost_of(tariff, timeline(("10:00", 0, "Charging"), ("10:20", 1_000, "Charging"), ("11:00", 3_000, "Ended")))
    assert cost.energy == D("0.999") and cost.charging_time == D(1) and cost.fee == D("0.50")
    assert cost.total == D("2.50")  # 2.499 rounded once
    assert (cost.energy_wh, cost.plugged_s) == (3000.0, 3600.0)


def test_plugged_time_leaves_out_the_time_without_the_ev():
    cost = cost_of(Tariff(), timeline(("10:00", 0, "Idle"), ("10:10", 0, "Charging"), ("10:40", 500, "Idle"),
                                      ("10:50", 500, "EVConnected"), ("11:00", 500, "Ended")))
    assert (cost.plugged_s, cost.charging_s, cost.idle_s) == (2400, 1800, 600)


def test_a_running_session_costs_what_it_did_up_to_its_latest_reading():
    tariff = Tariff(per_kwh=D("0.50"), session_fee=D(1))
    assert cost_of(tariff, timeline(("10:00", 0, "Charging"), ("10:30", 2_000, "Charging"))).total == D("2.00")
    assert cost_of(tariff, timeline(("10:00", 0, "Charging"))).total == D("1.00")  # the fee from the start
    assert cost_of(tariff, []).total == D("0.00")


def test_a_timeline_that_cannot_be_costed_says_why():
    with pytest.raises(TimelineError, match="point 1: .* is before the point ahead of it"):
        cost_of(Tariff(), timeline(("11:00", 0, "Charging"), ("10:00", 0, "Ended")))
    with pytest.raises(TimelineError, match="point 0: time .* has no time zone"):
        cost_of(Tariff(), [Point(datetime(2026, 1, 1, 10), 0, "Charging")])
    with pytest.raises(TimelineError, match="unknown charging state 'Parked'"):
        cost_of(Tariff(), timeline(("10:00", 0, "Parked")))


def test_price_text_fits_a_16_column_line_and_follows_the_bands():
    assert price_text(BERLIN_NIGHT, at("12:00")) == "0.40 EUR/kWh"
    assert price_text(BERLIN_NIGHT, at("23:30")) == "0.20 EUR/kWh"  # 00:30 in Berlin
    assert price_text(Tariff(per_kwh=D("0.349")), at("12:00")) == "0.349 EUR/kWh"
    assert price_text(Tariff(per_kwh=D("0.25"), tax_percent=D(20), prices_include_tax=False), at("12:00")) == "0.30 EUR/kWh"
    assert price_text(Tariff(per_hour_charging=D(3)), at("12:00")) == "3.00 EUR/h"
    assert price_text(Tariff(), at("12:00")) == "free"
    for text in price_lines(Tariff(per_kwh=D("0.3499"), per_hour_idle=D("12"), idle_grace_minutes=60,
                                   session_fee=D("1.5")), at("12:00")):
        assert len(text) <= 20, text
    assert price_lines(Tariff(per_kwh=D("0.35"), per_hour_idle=D(6), idle_grace_minutes=30, session_fee=D(1)),
                       at("12:00")) == ["0.35 EUR/kWh", "idle 6.00 EUR/h", "after 30 min idle", "+1.00 EUR/session"]


def test_money_is_shown_rounded_half_up_to_the_tariffs_decimals():
    assert money(D("12.4"), Tariff()) == "12.40 EUR"
    assert money(D("0.125"), Tariff()) == "0.13 EUR"
    assert money(D("1234.5"), Tariff(currency="SEK", decimals=0)) == "1235 SEK"


def test_split_at_any_instant_the_interpolated_point_changes_nothing():
    # Splitting a stretch by a point on its line (a sample) changes neither energy nor times.
    base = timeline(("20:00", 0, "Charging"), ("23:00", 9_000, "SuspendedEV"), ("23:50", 9_000, "Ended"))
    tariff = Tariff(per_kwh=D("0.40"), per_hour_charging=D("1.10"), per_hour_idle=D(3), idle_grace_minutes=15,
                    bands=(NIGHT,), timezone="Europe/Berlin")
    whole = cost_of(tariff, base)
    for minutes in range(1, 230, 7):
        moment = at("20:00") + timedelta(minutes=minutes)
        i = sum(1 for p in base if p.at <= moment)
        a, b = base[i - 1], base[i]
        share = (moment - a.at) / (b.at - a.at)
        cut = [*base[:i], Point(moment, a.wh + (b.wh - a.wh) * share, a.state), *base[i:]]
        assert cost_of(tariff, cut).total == whole.total, minutes


# 2.0: the band 02:30-05:00 local at 10/h charging, nothing outside it.
GAP_BAND = Tariff(per_hour_charging=D(0), timezone="Europe/Berlin",
                  bands=(Band(time(2, 30), time(5), per_hour_charging=D(10)),))


def test_a_band_starting_in_the_skipped_hour_begins_when_the_wall_clock_jumps():
    # 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z; 02:30 never shows on the wall. Charging
    # 00:00 CET (23:00Z) to 05:00 CEST (03:00Z): the clock reads inside the band from 03:00 CEST
    # (01:00Z) to 05:00 CEST, 2 h at 10/h = 20.00 (not 2.5 h).
    points = [Point(datetime(2026, 3, 28, 23, tzinfo=UTC), 0, "Charging"),
              Point(datetime(2026, 3, 29, 3, tzinfo=UTC), 0, "Ended")]
    assert cost_of(GAP_BAND, points).total == D("20.00")


def test_a_band_ending_in_the_skipped_hour_ends_when_the_wall_clock_jumps():
    # The band 00:30-02:30 at 10/h: on the spring day it runs 00:30 CET (23:30Z) to the jump (01:00Z).
    tariff = Tariff(per_hour_charging=D(0), timezone="Europe/Berlin",
                    bands=(Band(time(0, 30), time(2, 30), per_hour_charging=D(10)),))
    points = [Point(datetime(2026, 3, 28, 22, tzinfo=UTC), 0, "Charging"),
              Point(datetime(2026, 3, 29, 4, tzinfo=UTC), 0, "Ended")]
    assert cost_of(tariff, points).total == D("15.00")


def test_a_band_starting_in_the_repeated_hour_follows_the_wall_clock_both_times():
    # 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z. The wall clock reads 02:30 at 00:30Z
    # (CEST; in the band until the jump at 01:00Z back to 02:00), then again at 01:30Z (CET) and
    # stays in the band to 05:00 CET (04:00Z): 0.5 h + 2.5 h = 3 h at 10/h = 30.00.
    points = [Point(datetime(2026, 10, 24, 22, tzinfo=UTC), 0, "Charging"),
              Point(datetime(2026, 10, 25, 6, tzinfo=UTC), 0, "Ended")]
    assert cost_of(GAP_BAND, points).total == D("30.00")


def test_a_span_of_unknown_length_counts_its_energy_and_no_time_and_is_marked():
    """A provisional stamp of a process that died before it learnt the time, then real time:
    the span between them is not 56 years of charging."""
    tariff = Tariff(per_kwh=D("0.50"), per_hour_charging=D(2), per_hour_idle=D(6), idle_grace_minutes=0)
    points = [Point(datetime(1970, 1, 1, 0, tzinfo=UTC), 0, "Charging"),
              Point(datetime(1970, 1, 1, 1, tzinfo=UTC), 5_000, "SuspendedEV"),
              Point(datetime(2026, 1, 7, 10, tzinfo=UTC), 6_000, "SuspendedEV", unsure=True),
              Point(datetime(2026, 1, 7, 10, 30, tzinfo=UTC), 6_000, "Ended")]
    cost = cost_of(tariff, points)
    # 6 kWh at 0.50 = 3.00; 1 h charging at 2 = 2.00; 30 min idle at 6 = 3.00.
    assert cost.total == D("8.00") and cost.uncertain
    assert (cost.charging_s, cost.idle_s, cost.plugged_s) == (3600, 1800, 5400)
    assert not cost_of(tariff, [p for p in points if not p.unsure]).uncertain


def test_the_running_count_counts_only_the_new_tail(monkeypatch):
    from agent.tariff import running

    counted: list[int] = []
    real = running.exact_amounts

    def spy(tariff, points, after=None):
        counted.append(len(points))
        return real(tariff, points, after=after)

    monkeypatch.setattr(running, "exact_amounts", spy)
    start = at("00:00")
    points = [Point(start + timedelta(seconds=10 * i), 10 * i, "Charging") for i in range(4000)]
    counter = running.RunningCount()
    first = counter.cost(BERLIN_NIGHT, points)
    counted.clear()
    points.append(Point(start + timedelta(seconds=40_000), 40_000, "Charging"))
    assert counter.cost(BERLIN_NIGHT, points) == cost_of(BERLIN_NIGHT, points) != first
    assert max(counted) <= running.TAIL + 2  # a 12 h session: a few points counted, not 4000
