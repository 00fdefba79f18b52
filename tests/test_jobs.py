"""The bounds on jobs the backend asks for (agent.jobs): retries, intervals, dates."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agent.jobs import (
    MAX_RETRIES,
    MAX_RETRY_INTERVAL_S,
    MAX_RETRY_SPAN_S,
    MIN_RETRY_INTERVAL_S,
    JobRefused,
    bounded_retries,
    parse_time,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("asked", "expected"), [
    ((None, None), (2, 60.0)),  # the defaults
    ((3, 120), (3, 120.0)),  # within the caps: as asked
    ((99_999_999, 1), (MAX_RETRIES, float(MIN_RETRY_INTERVAL_S))),
    ((-5, -5), (0, float(MIN_RETRY_INTERVAL_S))),
    ((1, 10**9), (1, float(MAX_RETRY_INTERVAL_S))),
    ((10, 43_200), (MAX_RETRY_SPAN_S // 43_200, 43_200.0)),  # ten half-day waits: two
])
def test_retries_are_bounded(asked: tuple[int | None, int | None], expected: tuple[int, float]) -> None:
    bounded = bounded_retries("test", asked[0], asked[1], 2, 60)
    assert (bounded.count, bounded.interval) == expected
    assert bounded.count * bounded.interval <= MAX_RETRY_SPAN_S


@pytest.mark.parametrize("text", ["2026-12-05T13:00:00Z", "2026-12-05T13:00:00.123Z", "2026-12-05T14:00:00+01:00",
                                  "2026-12-05T13:00:00", "2020-01-01T00:00:00Z"])
def test_plausible_times_are_read_as_utc(text: str) -> None:
    moment = parse_time("retrieveDate", text, NOW)
    assert moment.tzinfo is not None and moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "why"), [
    ("HARD", "not an RFC 3339"), ("", "not an RFC 3339"), ("2026-12-05", "not an RFC 3339"),
    ("2026-13-45T00:00:00Z", "not a valid"), ("9999-12-31T23:59:59Z", "days ahead"),
    ("9999-12-31T23:59:59-01:00", "out of any range"), ("0001-01-01T00:00:00Z", "before 2000"),
    ("0001-01-01T00:00:00+01:00", "out of any range"), ("1970-01-01T00:00:00Z", "before 2000"),
])
def test_unreadable_or_absurd_times_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(JobRefused, match=why) as refused:
        parse_time("retrieveDate", text, NOW)
    assert "retrieveDate" in str(refused.value)
