"""Cutting a stretch of time where the prices change: at the edges of the tariff's
time-of-day bands, read in its local time zone (so a band follows the clock on the
wall across daylight saving changes)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from agent.tariff.model import Prices, Tariff


def band_edges(tariff: Tariff, start: datetime, end: datetime) -> list[datetime]:
    """The instants strictly between ``start`` and ``end`` (aware) where a band begins or
    ends. Both readings of an ambiguous local time (the hour a clock repeats) are edges;
    an extra edge only cuts a stretch in two pieces with the same prices. So is every
    change of the zone's UTC offset: a band that begins or ends at a local time the clock
    skips (spring forward) changes when the wall clock jumps, an instant no local time
    of the band names; in the repeated hour the wall clock leaves and re-enters a band
    at the change."""
    if not tariff.bands or end <= start:
        return []
    zone = tariff.zone
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    edges: set[datetime] = set()
    day = first
    while day <= last:
        for band in tariff.bands:
            for moment in (band.start, band.end):
                for fold in (0, 1):
                    edge = datetime.combine(day, moment, tzinfo=zone).replace(fold=fold).astimezone(timezone.utc)
                    if start < edge < end:
                        edges.add(edge)
        day += timedelta(days=1)
    edges.update(offset_changes(tariff, start, end))
    return sorted(edges)


#: Offset changes are months apart; a step this short never holds two.
_STEP = timedelta(hours=12)


def offset_changes(tariff: Tariff, start: datetime, end: datetime) -> list[datetime]:
    """The instants strictly between ``start`` and ``end`` where the tariff's zone changes
    its UTC offset (to the second: zones change on whole seconds)."""
    zone = tariff.zone

    def offset(moment: datetime) -> timedelta | None:
        return moment.astimezone(zone).utcoffset()

    found: list[datetime] = []
    a = start
    while a < end:
        b = min(a + _STEP, end)
        if offset(a) != offset(b):
            lo, hi = math.floor(a.timestamp()), math.ceil(b.timestamp())  # POSIX seconds
            old = offset(_utc(lo))
            while hi - lo > 1:  # offset(lo) is the old one, offset(hi) the new one
                mid = (lo + hi) // 2
                if offset(_utc(mid)) == old:
                    lo = mid
                else:
                    hi = mid
            if start < _utc(hi) < end:
                found.append(_utc(hi))
        a = b
    return found


def priced_pieces(tariff: Tariff, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, Prices]]:
    """``start`` to ``end`` cut at the band edges, each piece with the prices in force in it
    (those at its middle: a piece lies wholly inside or outside each band)."""
    cuts = [start, *band_edges(tariff, start, end), end]
    zone = tariff.zone
    for a, b in zip(cuts, cuts[1:]):
        middle = a + (b - a) / 2
        yield a, b, tariff.prices_at(middle.astimezone(zone))


def _utc(posix: int) -> datetime:
    return datetime.fromtimestamp(posix, timezone.utc)
