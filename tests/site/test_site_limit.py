"""The site limit's arithmetic: the budget the fuse leaves, and how it is shared.

Tables of hand-worked cases (each row is what a technician would expect on site) and a
Hypothesis property: whatever the budget and the connectors, the shares never add up
to more than the budget, none is between 0 and the 6 A minimum, and none exceeds what
its connector may offer.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.site_limit import (
    MIN_CURRENT_A,
    UNDERUSE_AFTER_S,
    Budget,
    Demand,
    SiteLimit,
    explain,
    fallback_budget,
    house_load,
    metered_budget,
    phase_sum,
    share,
    held_cap,
    raise_spare,
    steady,
    underuse_cap,
    underuse_since,
    unmetered_budget,
)

SITE = SiteLimit(max_current=32, margin=2, fallback_current=10)


@pytest.mark.parametrize(
    ("grid", "chargers", "amperes", "reason"),
    [
        # The house alone draws 18.2 A on its worst phase; the chargers draw nothing yet.
        ((18.2, 10.0, 5.0), (0.0, 0.0, 0.0), 11.8, "site 32 A - house 18.2 A - margin 2 A = 11.8 A"),
        # The grid sees the chargers' 16 A too: the house is 4 A, the chargers may have 26 A.
        ((20.0, 20.0, 20.0), (16.0, 16.0, 16.0), 26.0, "site 32 A - house 4 A - margin 2 A = 26 A"),
        # The worst phase decides (a single-phase cooker on L2).
        ((16.0, 36.0, 16.0), (16.0, 16.0, 16.0), 10.0, "site 32 A - house 20 A - margin 2 A = 10 A"),
        # The house takes it all: nothing left, never negative.
        ((45.0, 45.0, 45.0), (10.0, 10.0, 10.0), 0.0, "site 32 A - house 35 A - margin 2 A = 0 A"),
        # A meter reading a little less than the chargers' (two meters' errors): no negative house.
        ((15.8, 15.8, 15.8), (16.0, 16.0, 16.0), 30.0, "site 32 A - house 0 A - margin 2 A = 30 A"),
        # Single-phase chargers on L1 behind a three-phase grid meter.
        ((30.0, 8.0, 8.0), (24.0,), 22.0, "site 32 A - house 8 A - margin 2 A = 22 A"),
    ],
)
def test_the_budget_is_the_fuse_less_the_house_less_the_margin(grid, chargers, amperes, reason):
    budget = metered_budget(SITE, grid, chargers)
    assert budget.amperes == pytest.approx(amperes)
    assert budget.reason == reason


def test_without_a_grid_meter_the_fuse_alone_is_shared_and_a_silent_one_gives_the_fallback():
    assert unmetered_budget(SITE) == Budget(32.0, "site 32 A, no grid meter")
    assert fallback_budget(SITE) == Budget(10.0, "grid meter silent: fallback 10 A")


def charging(n: int, started: float = 0.0, max_a: float = 32.0, cap: float | None = None) -> Demand:
    return Demand(n, max_a=max_a, started=started, cap_a=cap)


def paused(n: int, started: float = 0.0) -> Demand:
    return Demand(n, max_a=32.0, charging=False, started=started)


def idle(n: int) -> Demand:
    return Demand(n, max_a=32.0, session=False)


@pytest.mark.parametrize(
    ("budget", "demands", "sharing", "expected"),
    [
        # Two EVs share equally.
        (30.0, [charging(1), charging(2)], "equal", {1: 15.0, 2: 15.0}),
        # An odd budget: rounded down to whole amperes, never above the budget.
        (25.0, [charging(1), charging(2), charging(3)], "equal", {1: 8.0, 2: 8.0, 3: 8.0}),
        (29.5, [charging(1), charging(2)], "equal", {1: 14.0, 2: 14.0}),
        # Each connector's own maximum caps its share; the rest is left over.
        (80.0, [charging(1), charging(2)], "equal", {1: 32.0, 2: 32.0}),
        # 10 A cannot give both EVs 6 A: the earlier session keeps charging with all of it.
        (10.0, [charging(1, started=5.0), charging(2, started=1.0)], "equal", {1: 0.0, 2: 10.0}),
        # Below the minimum nobody charges.
        (5.9, [charging(1), charging(2)], "equal", {1: 0.0, 2: 0.0}),
        # An EV capped at 9 A (it draws 6 A of 15) gives the rest to the other.
        (30.0, [charging(1, cap=9.0), charging(2)], "equal", {1: 9.0, 2: 21.0}),
        # A paused EV keeps the minimum so it can resume; the charging one gets the rest.
        (30.0, [paused(1), charging(2)], "equal", {1: 6.0, 2: 24.0}),
        # ... but only after every charging EV got its minimum.
        (12.0, [paused(1, started=0.0), charging(2, started=9.0), charging(3, started=5.0)], "equal",
         {1: 0.0, 2: 6.0, 3: 6.0}),
        # First come: the earlier session is topped up to its maximum first.
        (40.0, [charging(1, started=2.0), charging(2, started=1.0)], "first_come", {1: 8.0, 2: 32.0}),
        # First come still gives the later one the minimum when the budget allows it.
        (32.0, [charging(1, started=2.0), charging(2, started=1.0)], "first_come", {1: 6.0, 2: 26.0}),
        # First come with a capped early session: the later one takes what it leaves.
        (40.0, [charging(1, started=1.0, cap=10.0), charging(2, started=2.0)], "first_come", {1: 10.0, 2: 30.0}),
        # A connector without a session gets what is left over, so a new session starts within the budget.
        (40.0, [charging(1, cap=10.0), idle(2)], "equal", {1: 10.0, 2: 30.0}),
        (20.0, [charging(1), idle(2)], "equal", {1: 20.0, 2: 0.0}),
        # With no session at all, the idle connectors split the budget.
        (30.0, [idle(1), idle(2)], "equal", {1: 15.0, 2: 15.0}),
        (10.0, [idle(1), idle(2)], "equal", {1: 0.0, 2: 0.0}),
    ],
)
def test_sharing(budget, demands, sharing, expected):
    assert share(budget, demands, sharing) == pytest.approx(expected)


def test_the_budget_falls_at_once_and_rises_only_by_a_whole_ampere():
    assert steady(None, 30.0) == 30.0
    assert steady(30.0, 29.7) == 29.7  # the fuse first
    assert steady(29.7, 30.3) == 29.7  # hovering: the shares stay as they are
    assert steady(29.7, 30.7) == 30.7
    # Two EVs at a 12 A step: no suspend-resume flapping while the budget wanders around it.
    two = [charging(1), charging(2)]
    planned = None
    seen = []
    for budget in (12.2, 11.9, 12.4, 12.6, 12.0, 12.9, 13.0):
        planned = steady(planned, budget)
        seen.append(share(planned, two, "equal"))
    assert seen == [{1: 6.0, 2: 6.0}, {1: 11.0, 2: 0.0}, {1: 11.0, 2: 0.0}, {1: 11.0, 2: 0.0},
                    {1: 11.0, 2: 0.0}, {1: 6.0, 2: 6.0}, {1: 6.0, 2: 6.0}]


def test_an_ev_drawing_much_less_than_offered_is_capped_after_a_while_and_uncapped_when_it_draws_again():
    # Offered 16 A, draws 6 A: underusing from t=100.
    since = underuse_since(None, 6.0, 16.0, True, now=100.0)
    assert since == 100.0
    assert underuse_cap(since, 6.0, now=100.0 + UNDERUSE_AFTER_S - 1) is None  # it may still be ramping
    assert underuse_cap(since, 6.0, now=100.0 + UNDERUSE_AFTER_S) == 9.0  # draw + headroom
    # Capped at 9 A it still draws 6 A: the cap holds; it draws 8.5 A twice running: it goes.
    assert held_cap(9.0, 0, 6.0) == (9.0, 0)
    assert held_cap(9.0, held_cap(9.0, 0, 8.5)[1], 8.5) == (None, 0)
    # A paused EV, an unknown draw, or an offer under the minimum is no underuse.
    assert underuse_since(None, 0.0, 16.0, False, now=1.0) is None
    assert underuse_since(None, None, 16.0, True, now=1.0) is None
    assert underuse_since(None, 0.0, 0.0, True, now=1.0) is None
    # A cap is never below the minimum.
    assert underuse_cap(0.0, 0.5, now=UNDERUSE_AFTER_S) == MIN_CURRENT_A


@pytest.mark.parametrize(
    ("history", "planned"),
    [
        # One poll off (an EV's own meter read before it started drawing): outvoted.
        ([(4.0,), (34.0,), (4.0,)], (4.0,)),
        ([(4.0,), (4.0,), (34.0,)], (4.0,)),
        # A real step up shows in two polls running: it counts from the second.
        ([(4.0,), (20.0,), (20.0,)], (20.0,)),
        # Down as well.
        ([(20.0,), (4.0,), (4.0,)], (4.0,)),
        # Phase by phase.
        ([(10.0, 2.0, 2.0), (12.0, 1.0, 3.0), (4.0, 1.0, 1.0)], (10.0, 1.0, 2.0)),
        # With two polls, the lower: a step counts from its second poll, as ever.
        ([(4.0,), (20.0,)], (4.0,)),
        ([(7.0,)], (7.0,)),
        ([], ()),
    ],
)
def test_the_house_load_planned_with_is_the_median_of_the_last_polls(history, planned):
    assert house_load(history) == planned


def test_phase_sum_adds_like_phases():
    assert phase_sum([(16.0, 16.0, 16.0), (10.0,), (-1.0, 0.0, 2.0)]) == (27.0, 16.0, 18.0)


def test_the_technicians_line():
    budget = metered_budget(SITE, (20.2, 3.0, 3.0), (0.0, 0.0, 0.0))
    shares = share(budget.amperes, [charging(1), charging(2)], "equal")
    assert explain(budget, shares, [charging(1), charging(2)], "equal") == (
        "site 32 A - house 20.2 A - margin 2 A = 9.8 A, equal share of 1, 1 suspended (under 6 A)")
    assert explain(unmetered_budget(SITE), {1: 32.0}, [idle(1)], "equal") == "site 32 A, no grid meter, no session"


def test_a_bad_policy_is_refused():
    with pytest.raises(ValueError, match="sharing must be one of equal, first_come"):
        share(10.0, [], "fifo")
    with pytest.raises(ValueError):
        SiteLimit(32, sharing="fifo")


demand = st.builds(
    Demand,
    connector=st.integers(1, 8),
    max_a=st.sampled_from([6.0, 10.0, 16.0, 32.0, 63.0]),
    session=st.booleans(),
    charging=st.booleans(),
    started=st.floats(0, 1000),
    cap_a=st.none() | st.floats(0, 80),
)


@settings(max_examples=300, deadline=None)
@given(budget=st.floats(0, 200), demands=st.lists(demand, max_size=8, unique_by=lambda d: d.connector),
       sharing=st.sampled_from(["equal", "first_come"]))
def test_shares_never_exceed_the_budget_nor_offer_under_the_minimum(budget, demands, sharing):
    shares = share(budget, demands, sharing)
    assert set(shares) == {d.connector for d in demands}
    sessions = {d.connector for d in demands if d.session}
    # The sessions together stay within the budget; so does any one new session added to them.
    in_use = sum(shares[n] for n in sessions)
    assert in_use <= budget + 1e-6
    for d in demands:
        a = shares[d.connector]
        assert a == 0.0 or MIN_CURRENT_A - 1e-9 <= a <= d.max_a + 1e-9
        if not d.session:
            assert in_use + a <= budget + 1e-6
    # Nobody is left suspended while the budget could still give them the minimum.
    unused = budget - in_use
    if any(shares[n] == 0.0 for n in sessions):
        assert unused < MIN_CURRENT_A + 1e-6
    # Equal: a charging EV never gets more than another charging EV that wants more.
    if sharing == "equal":
        charging_ = [d for d in demands if d.session and d.charging and shares[d.connector] > 0]
        for a in charging_:
            for b in charging_:
                if shares[a.connector] > shares[b.connector] + 1.0 + 1e-6:
                    assert shares[b.connector] >= b.wants - 1.0 - 1e-6  # it got what it wants (rounded down)


def test_a_cap_is_rounded_up_and_judged_against_itself_so_a_noisy_draw_does_not_flap_it():
    # Draws 6.4 A after underusing long enough: the cap is 9.4 rounded up, never down.
    assert underuse_cap(0.0, 6.4, now=UNDERUSE_AFTER_S) == 10.0
    # Capped at 13 A, a draw wobbling around 10 A holds it as it is.
    assert [held_cap(13.0, 0, drawn) for drawn in (9.9, 10.1, 9.9, 10.1)] == [(13.0, 0)] * 4
    # Drawing more than cap - 1 once is noise; twice running, the EV wants more: lifted.
    assert held_cap(13.0, 0, 12.2) == (13.0, 1)
    assert held_cap(13.0, 1, 11.8) == (13.0, 0)
    assert held_cap(13.0, 1, 12.2) == (None, 0)
    # The draw falls far enough to free 2 A: the cap comes down; less than that, it holds.
    assert held_cap(13.0, 0, 8.9) == (13.0, 0)  # 12 A would free only 1 A
    assert held_cap(13.0, 0, 7.9) == (11.0, 0)
    # Its meter gives no reading: the cap goes (the share is kept).
    assert held_cap(13.0, 0, None) == (None, 0)


def test_the_raise_spare_grows_with_the_evs_sharing():
    assert [raise_spare(n) for n in (0, 1, 2, 3)] == [1.0, 1.0, 2.0, 3.0]
    assert steady(20.0, 21.5, raise_spare(2)) == 20.0
    assert steady(20.0, 22.0, raise_spare(2)) == 22.0
