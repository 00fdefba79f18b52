"""A charger whose clock nobody vouches for stamps with the backend's time, and corrects
what it stamped before it knew (the backend plays a clock hours or days away from ours);
a backend time that cannot be right is refused, reported once, and changes nothing."""

from __future__ import annotations

import asyncio
import re
import signal
from datetime import datetime, timedelta, timezone

import pytest

from .helpers import last_seq, messages, parse_time, plug_and_charge, security_events, wait_for, wait_security_event


async def test_an_unsynchronised_charger_stamps_transactions_with_the_backends_time(csms, charger):
    ahead = timedelta(hours=3)
    await csms.request("set_clock_offset", seconds=ahead.total_seconds())
    stack = await charger(clock="backend")
    since = await last_seq(stack)
    tapped = datetime.now(timezone.utc)
    await plug_and_charge(stack)
    start = (await wait_for(stack, "StartTransaction", since=since))[0]
    assert abs(parse_time(start["timestamp"]) - (tapped + ahead)) < timedelta(seconds=5)


async def test_an_offline_start_stamped_before_the_backend_answered_is_corrected(csms, charger):
    behind = timedelta(days=-2)
    await csms.request("set_clock_offset", seconds=behind.total_seconds())
    stack = await charger(clock="backend", ocpp={"AllowOfflineTxForUnknownId": True})
    # A restart without the link: this process knows no time but its own, so it stamps provisionally.
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    since = await last_seq(stack)
    await stack.stop_agent(signal.SIGTERM)
    await stack.start_agent()
    for _ in range(100):  # ready offline: no backend to tell us, so its log does
        if stack.agent_log().count('"charger ready"') == 2:
            break
        await asyncio.sleep(0.1)
    await stack.bench_request("plug", connector=1, max_current=32)
    tapped = datetime.now(timezone.utc)
    await stack.bench_request("tap", uid="0ACE0FF1")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=20)
    await stack.bench_request("link", state="up")
    start = (await wait_for(stack, "StartTransaction", since=since, timeout=20))[0]
    # Stamped on the backend's clock, at the moment of the tap, although it was recorded
    # before the charger had heard that clock.
    assert abs(parse_time(start["timestamp"]) - (tapped + behind)) < timedelta(seconds=5)
    statuses = await wait_for(stack, "StatusNotification", since=since)
    for status in statuses:
        assert abs(parse_time(status["timestamp"]) - (tapped + behind)) < timedelta(seconds=30)


# ---------------------------------------------------------------- implausible backend times

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def stamps(payload: object) -> list[str]:
    """Every timestamp in a message (meter values nest theirs)."""
    if isinstance(payload, dict):
        found = [v for k, v in payload.items() if k == "timestamp" and isinstance(v, str)]
        return found + [s for v in payload.values() for s in stamps(v)]
    if isinstance(payload, list):
        return [s for v in payload for s in stamps(v)]
    return []


async def assert_stamps_are_now(stack, since: int, offset: timedelta = timedelta(0)) -> None:
    """Every timestamp the charger sent is RFC 3339 and the charger's (kept) time."""
    sent = [s for m in await messages(stack, since=since) for s in stamps(m["payload"])]
    assert sent
    for stamp in sent:
        assert RFC3339.fullmatch(stamp), f"not RFC 3339: {stamp}"
        assert abs(parse_time(stamp) - (datetime.now(timezone.utc) + offset)) < timedelta(minutes=2), stamp


@pytest.mark.parametrize("offered", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
async def test_an_implausible_backend_time_is_refused_with_one_security_event(csms, charger, offered):
    await csms.request("set_clock", current_time=offered)
    await csms.request("set_heartbeat_interval", interval=1)  # each answer offers the time again
    stack = await charger(clock="backend")
    since = await last_seq(stack)
    event = await wait_security_event(stack, "SettingSystemTimeRefused")
    assert offered in event["techInfo"] and "2046" in event["techInfo"]
    await wait_for(stack, "Heartbeat", count=3, since=since)
    # The charger still works on its own time: a card starts a transaction, statuses go out.
    await plug_and_charge(stack)
    start = (await wait_for(stack, "StartTransaction", since=since))[0]
    assert start["idTag"] == "04A1B2C3"
    await assert_stamps_are_now(stack, 0)
    assert len(await security_events(stack, "SettingSystemTimeRefused")) == 1
    assert await security_events(stack, "SettingSystemTime") == []  # the time never moved
    assert stack.agent_log().count("refused the backend's time") == 1


async def test_a_refused_backend_time_keeps_the_last_good_one(csms, charger):
    ahead = timedelta(hours=3)
    await csms.request("set_clock_offset", seconds=ahead.total_seconds())
    await csms.request("set_heartbeat_interval", interval=1)
    stack = await charger(clock="backend")
    await csms.request("set_clock", current_time="9999-12-31T23:59:59Z")
    since = await last_seq(stack)
    event = await wait_security_event(stack, "SettingSystemTimeRefused", since=since)
    assert abs(parse_time(event["timestamp"]) - (datetime.now(timezone.utc) + ahead)) < timedelta(seconds=30)
    # Taking the backend's time three hours ahead moved the charger's: SettingSystemTime, once.
    (moved,) = await security_events(stack, "SettingSystemTime")
    assert moved["techInfo"].startswith("the charger's time moved by +108")
    await plug_and_charge(stack)
    await wait_for(stack, "StartTransaction", since=since)
    await assert_stamps_are_now(stack, since, ahead)
