"""A charger whose clock nobody vouches for stamps with the backend's time, and corrects
what it stamped before it knew (the backend plays a clock hours or days away from ours)."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta, timezone

from .helpers import last_seq, parse_time, plug_and_charge, wait_for


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
