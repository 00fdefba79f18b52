"""How long the composite schedule takes: a deterministic set of installed profiles over
a day (goal: well under 50 ms for 100 profiles over 24 h on a small board)."""

from __future__ import annotations

import random
import statistics
import time
from datetime import datetime, timedelta, timezone

from agent.charging_profiles import (
    Electrical,
    Kind,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
    composite_schedule,
)

_T0 = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)


def benchmark_profiles(n_profiles: int = 100, seed: int = 7) -> tuple[Profile, ...]:
    """``n_profiles`` profiles of every purpose and kind over two connectors, each with
    up to 12 periods: the same set every run."""
    rng = random.Random(seed)
    out = []
    for i in range(n_profiles):
        purpose = (Purpose.TX_DEFAULT, Purpose.TX, Purpose.CHARGER_MAX, Purpose.EXTERNAL)[i % 4]
        connector = 0 if purpose is Purpose.CHARGER_MAX else rng.choice((0, 1, 2))
        if purpose is Purpose.TX:
            connector = rng.choice((1, 2))
        kind = rng.choice((Kind.ABSOLUTE, Kind.RECURRING, Kind.RELATIVE))
        starts = sorted(rng.sample(range(1, 86_400), rng.randint(0, 11)))
        unit = rng.choice((RateUnit.AMPS, RateUnit.WATTS))
        scale = 1 if unit is RateUnit.AMPS else 690
        periods = tuple(
            Period(s, float(rng.randint(0, 32) * scale), rng.choice((None, 1, 3))) for s in [0, *starts]
        )
        out.append(Profile(
            id=i,
            connector=connector,
            purpose=purpose,
            stack_level=rng.randint(0, 8),
            kind=kind,
            schedule=Schedule(
                unit,
                periods,
                duration_s=rng.choice((None, rng.randint(600, 86_400))),
                start=None if kind is Kind.RELATIVE else _T0 - timedelta(seconds=rng.randint(0, 86_400)),
            ),
            recurrency=Recurrency.DAILY if kind is Kind.RECURRING else None,
            valid_from=rng.choice((None, _T0 + timedelta(seconds=rng.randint(-3_600, 40_000)))),
            transaction_id=(100 + connector) if purpose is Purpose.TX else None,
        ))
    return tuple(out)


def benchmark_composite(n_profiles: int = 100, hours: int = 24) -> float:
    """Seconds (median of 5) to compute connector 0's composite schedule, the costliest
    (it resolves every connector), over ``hours`` with ``n_profiles`` installed."""
    profiles = benchmark_profiles(n_profiles)
    connectors = {1: Electrical(3, 230.0), 2: Electrical(1, 230.0)}
    transactions = {1: (101, _T0 - timedelta(minutes=20)), 2: (102, _T0 + timedelta(hours=2))}
    times = []
    for _ in range(5):
        began = time.perf_counter()
        composite_schedule(
            profiles, 0, _T0, hours * 3_600, RateUnit.WATTS, connectors=connectors, transactions=transactions
        )
        times.append(time.perf_counter() - began)
    return statistics.median(times)


if __name__ == "__main__":
    print(f"composite schedule, 100 profiles over 24 h: {benchmark_composite() * 1000:.1f} ms")
