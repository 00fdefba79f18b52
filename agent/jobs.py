"""Bounds on the jobs the backend asks for: diagnostics uploads and firmware updates.

A backend (or an attacker holding its credentials) may ask for 99,999,999 retries one
second apart, or for a download in the year 9999. A charger must not spend its SD card,
its link and its log on that, nor keep a job open forever: every job the backend starts
is bounded in retries, in the wait between them, in the time one attempt may take and
in how far ahead it may be scheduled, and every time it names is checked. The caps are
documented in docs/ocpp16.md ("Jobs the backend asks for"); a request beyond them is
carried out within them, and the log says so once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog

log = structlog.get_logger(__name__)

#: At most this many attempts after the first.
MAX_RETRIES = 10
#: The wait between two attempts: never shorter (a server that is down is not up a
#: second later) nor longer (a job is not left hanging for days).
MIN_RETRY_INTERVAL_S = 30
MAX_RETRY_INTERVAL_S = 86_400
#: All the waiting between the attempts of one job, together: fewer retries are made when
#: the interval asked for would exceed it.
MAX_RETRY_SPAN_S = 86_400
#: A date more than this far ahead (a download scheduled, a diagnostics window's end) is
#: not a plan but a mistake: the request is refused.
MAX_AHEAD = timedelta(days=31)
#: A date before this is not a date a backend means (year 1, a clock at 1970).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)

# RFC 3339 date-time; a missing offset is read as UTC (as OCPP 1.6 backends often send it).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?")


class JobRefused(ValueError):
    """A request names a time the charger cannot act on; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Retries:
    """How often, and how far apart, a job tries again once bounded."""

    count: int
    interval: float


def bounded_retries(what: str, retries: int | None, interval: float | None, default_retries: int,
                    default_interval: float) -> Retries:
    """The backend's ``retries`` and ``retryInterval`` (defaults when absent) within the
    caps; a value changed is logged once, naming what was asked and what is done."""
    asked_count = default_retries if retries is None else retries
    asked_interval = default_interval if interval is None else interval
    count = min(max(0, asked_count), MAX_RETRIES)
    wait = float(min(max(MIN_RETRY_INTERVAL_S, asked_interval), MAX_RETRY_INTERVAL_S))
    if count and count * wait > MAX_RETRY_SPAN_S:
        count = max(1, int(MAX_RETRY_SPAN_S // wait))
    if count != asked_count or (count and wait != asked_interval):
        log.warning(f"{what}: retries bounded", retries_asked=asked_count, retry_interval_asked=asked_interval,
                    retries=count, retry_interval=wait)
    return Retries(count, wait)


def parse_time(name: str, text: str, now: datetime, *, ahead: timedelta = MAX_AHEAD) -> datetime:
    """``text`` (the field ``name`` of a request) as an aware UTC datetime; JobRefused
    unless it is an RFC 3339 date-time between 2000 and ``ahead`` from ``now``."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text.strip()):
        raise JobRefused(f"{name} {text!r} is not an RFC 3339 date-time (e.g. 2026-05-01T12:00:00Z)")
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise JobRefused(f"{name} {text!r} is not a valid date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        moment = moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # year 1 less an hour, year 9999 plus one
        raise JobRefused(f"{name} {text!r} is out of any range this charger acts on") from None
    if moment < EARLIEST:
        raise JobRefused(f"{name} {text!r} is before {EARLIEST:%Y}: not a date this charger acts on")
    if moment > now + ahead:
        raise JobRefused(f"{name} {text!r} is more than {ahead.days} days ahead: not a date this charger acts on")
    return moment
