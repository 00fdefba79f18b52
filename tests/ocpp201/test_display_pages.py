"""The pure parts of DisplayMessage (O03/O04): which messages a GetDisplayMessages
matches, how they are paged into NotifyDisplayMessages, and how a MessageInfo's times
are read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.ocpp201.display_handlers import NOTIFY_PAGE, matching, message_info, notify_pages, parse_time
from agent.screen import DriverMessage


def test_criteria_must_all_hold() -> None:
    held = [DriverMessage(1, "a", "InFront", state="Idle"), DriverMessage(2, "b", "InFront"),
            DriverMessage(3, "c", "NormalCycle", state="Idle")]
    assert [m.id for m in matching(held, None, None, None)] == [1, 2, 3]
    assert [m.id for m in matching(held, None, "InFront", "Idle")] == [1]
    assert [m.id for m in matching(held, [2, 3], None, "Idle")] == [3]
    assert matching(held, [9], None, None) == []


def test_pages_carry_the_request_id_and_tbc_on_all_but_the_last() -> None:
    held = [DriverMessage(i, f"text {i}") for i in range(2 * NOTIFY_PAGE + 1)]
    pages = notify_pages(held, 7)
    assert [len(p["message_info"]) for p in pages] == [NOTIFY_PAGE, NOTIFY_PAGE, 1]
    assert [p["tbc"] for p in pages] == [True, True, False]
    assert {p["request_id"] for p in pages} == {7}
    assert [i["id"] for p in pages for i in p["message_info"]] == list(range(2 * NOTIFY_PAGE + 1))


def test_a_message_info_says_only_what_was_set() -> None:
    start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert message_info(DriverMessage(1, "hi")) == {"id": 1, "priority": "NormalCycle",
                                                    "message": {"format": "UTF8", "content": "hi"}}
    assert message_info(DriverMessage(2, "x", "AlwaysFront", language="sv", state="Idle", start=start,
                                      transaction="tx", evse=1)) == {
        "id": 2, "priority": "AlwaysFront", "message": {"format": "UTF8", "content": "x", "language": "sv"},
        "state": "Idle", "start_date_time": "2026-12-07T10:00:00.000Z", "transaction_id": "tx"}
    assert message_info(DriverMessage(3, "y", evse=2))["display"] == {"name": "Display", "evse": {"id": 2}}


def test_times_are_read_aware_and_nonsense_is_refused() -> None:
    assert parse_time(None) is None
    assert parse_time("2026-12-07T10:00:00Z") == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert parse_time("2026-12-07T10:00:00") == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # no zone: UTC
    assert parse_time("2026-12-07T11:00:00+01:00") == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("tomorrow")
