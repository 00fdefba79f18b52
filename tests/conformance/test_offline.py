"""Offline operation (module 15: TC_037_x, TC_038, TC_039) and the cache cases that need a
cut link (TC_007_2, TC_061_1).

The link is cut for real at the bench's proxy: nothing the agent sends gets through, and
what it queued must arrive after ``link up``, in order, with the times things happened.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from simulators.harness import Stack

from .helpers import (
    actions,
    anomalies,
    call_checked,
    expect_none,
    last_seq,
    ledger,
    messages,
    new_id_tag,
    parse_time,
    plug_and_charge,
    wait_for,
    wait_status,
)


async def cut_link(stack: Stack) -> int:
    """Cut the link; return the CSMS log position at the cut."""
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    return await last_seq(stack)


async def restore_link(stack: Stack) -> datetime:
    restored = datetime.now(timezone.utc)
    await stack.bench_request("link", state="up")
    return restored


async def bench_connector(stack: Stack, connector: int = 1) -> dict:
    return dict((await stack.bench_request("status"))["connectors"][connector - 1])


async def charge_offline(stack: Stack, id_tag: str, connector: int = 1) -> None:
    """Plug in and tap while the link is cut; wait until the contactor closes."""
    await stack.bench_request("plug", connector=connector, max_current=32)
    await stack.bench_request("tap", uid=id_tag)
    await stack.bench_request("wait_for", connector=connector, field="contactor_closed", value=True, timeout=10)


async def tap_to_stop(stack: Stack, id_tag: str, connector: int = 1) -> None:
    """Tap the session's card (online or not); wait until the contactor opens."""
    await stack.bench_request("tap", uid=id_tag)
    await stack.bench_request("wait_for", connector=connector, field="contactor_closed", value=False, timeout=10)


async def online_session(stack: Stack, id_tag: str) -> None:
    """One whole session while online, so the backend's answer for ``id_tag`` is cached."""
    since = await last_seq(stack)
    await plug_and_charge(stack, id_tag=id_tag)
    await tap_to_stop(stack, id_tag)
    await stack.bench_request("unplug", connector=1)
    await wait_for(stack, "StopTransaction", since=since)
    await wait_status(stack, 1, "Available", since)


async def test_tc_037_1_offline_start_transaction_valid_idtag(csms, charger):
    stack = await charger(ocpp={"LocalAuthorizeOffline": True, "AuthorizationCacheEnabled": True})
    tag = new_id_tag()
    # The card is known (cached Accepted) from an earlier online session.
    await online_session(stack, tag)

    cut = await cut_link(stack)
    tapped_at = datetime.now(timezone.utc)
    await charge_offline(stack, tag)
    await asyncio.sleep(1.0)
    assert await messages(stack, since=cut) == []
    restored_at = await restore_link(stack)

    start = (await wait_for(stack, "StartTransaction", since=cut, timeout=20))[0]
    assert start["idTag"] == tag and start["connectorId"] == 1
    # Stamped when it started offline, not when it was finally sent.
    assert tapped_at <= parse_time(start["timestamp"]) < restored_at
    await wait_status(stack, 1, "Charging", cut)
    # Accepted by the backend: charging simply continues.
    await asyncio.sleep(1.0)
    assert (await bench_connector(stack))["contactor_closed"] is True
    assert [m["action"] for m in await messages(stack, "StopTransaction", cut)] == []
    assert await anomalies(stack) == []


async def _offline_start_refused_later(csms, charger, stop_on_invalid: bool) -> tuple[Stack, int, str]:
    stack = await charger(ocpp={"AllowOfflineTxForUnknownId": True, "StopTransactionOnInvalidId": stop_on_invalid})
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    cut = await cut_link(stack)
    # Unknown to the charger, and offline: AllowOfflineTxForUnknownId lets it charge.
    await charge_offline(stack, tag)
    await restore_link(stack)
    start = (await wait_for(stack, "StartTransaction", since=cut, timeout=20))[0]
    assert start["idTag"] == tag
    return stack, cut, tag


async def test_tc_037_2_offline_start_transaction_invalid_idtag_stop_transaction_on_invalid_id_false(csms, charger):
    stack, cut, tag = await _offline_start_refused_later(csms, charger, stop_on_invalid=False)
    # The backend answered Invalid: energy stops, the transaction does not.
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    await wait_status(stack, 1, "SuspendedEVSE", cut)
    await expect_none(stack, "StopTransaction", cut, within=2.0)
    # It ends when the EV leaves.
    unplug = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    stop = (await wait_for(stack, "StopTransaction", since=unplug))[0]
    assert stop["reason"] == "EVDisconnected"
    (tx,) = await ledger(stack)
    assert tx["stop_time"] is not None and tx["meter_stop"] >= tx["meter_start"]


async def test_tc_037_3_offline_start_transaction_invalid_idtag_stop_transaction_on_invalid_id_true(csms, charger):
    stack, cut, tag = await _offline_start_refused_later(csms, charger, stop_on_invalid=True)
    stop = (await wait_for(stack, "StopTransaction", since=cut, timeout=15))[0]
    assert stop["reason"] == "DeAuthorized"
    assert (await bench_connector(stack))["contactor_closed"] is False
    await wait_status(stack, 1, "Finishing", cut)
    (tx,) = await ledger(stack)
    assert tx["transaction_id"] == stop["transactionId"] and tx["stop_time"] is not None


async def test_tc_038_offline_stop_transaction(charger):
    stack = await charger(ocpp={"MeterValueSampleInterval": 1})
    tag = new_id_tag()
    await plug_and_charge(stack, id_tag=tag)
    cut = await cut_link(stack)
    await asyncio.sleep(2.0)
    stopped_at = datetime.now(timezone.utc)
    await tap_to_stop(stack, tag)
    meter_at_stop = (await bench_connector(stack))["energy_wh"]
    await stack.bench_request("unplug", connector=1)
    await asyncio.sleep(1.0)
    restored_at = await restore_link(stack)

    stop = (await wait_for(stack, "StopTransaction", since=cut, timeout=20))[0]
    assert stop["reason"] == "Local" and stop["idTag"] == tag
    assert stopped_at <= parse_time(stop["timestamp"]) < restored_at
    assert abs(stop["meterStop"] - meter_at_stop) <= 1
    # After the reconnect the backend hears the connector's present status, not the history:
    # Finishing happened offline and is not replayed; Available is what is true now.
    await wait_status(stack, 1, "Available", cut)
    assert [s for s in await actions(stack, cut) if s.startswith("StatusNotification:1")] == [
        "StatusNotification:1:Available"
    ]
    (tx,) = await ledger(stack)
    assert tx["meter_stop"] == stop["meterStop"] and await anomalies(stack) == []


async def test_tc_039_offline_transaction(charger):
    stack = await charger(ocpp={"AllowOfflineTxForUnknownId": True, "MeterValueSampleInterval": 1})
    tag = new_id_tag()
    cut = await cut_link(stack)
    started_at = datetime.now(timezone.utc)
    await charge_offline(stack, tag)
    meter_at_start = (await bench_connector(stack))["energy_wh"]
    await asyncio.sleep(2.5)
    await tap_to_stop(stack, tag)
    meter_at_stop = (await bench_connector(stack))["energy_wh"]
    await stack.bench_request("unplug", connector=1)
    await asyncio.sleep(1.0)
    restored_at = await restore_link(stack)

    stop = (await wait_for(stack, "StopTransaction", since=cut, timeout=20))[0]
    stopped_at = parse_time(stop["timestamp"])
    sent = [a for a in await actions(stack, cut) if not a.startswith("StatusNotification")]
    # In the order it happened: the start, the values sampled offline, the stop.
    assert sent[0] == "StartTransaction" and sent[-1] == "StopTransaction"
    assert set(sent[1:-1]) <= {"MeterValues"} and len(sent) - 2 >= 2
    (start,) = [m["payload"] for m in await messages(stack, "StartTransaction", cut)]
    assert started_at <= parse_time(start["timestamp"]) < stopped_at < restored_at
    assert abs(start["meterStart"] - meter_at_start) <= 7  # one meter poll at 22 kW
    assert abs(stop["meterStop"] - meter_at_stop) <= 1
    # The stop and the values carry the id the backend gave the start, learned only now.
    (tx,) = await ledger(stack)
    assert stop["transactionId"] == tx["transaction_id"]
    for message in await messages(stack, "MeterValues", cut):
        assert message["payload"]["transactionId"] == tx["transaction_id"]
    stamps = [parse_time(mv["timestamp"]) for mv in tx["meter_values"]]
    assert stamps == sorted(stamps) and all(started_at <= s <= stopped_at for s in stamps)
    assert await anomalies(stack) == []
    await wait_status(stack, 1, "Available", cut)


async def test_tc_007_2_remote_start_cached_id(charger):
    # AuthorizeRemoteTxRequests with LocalPreAuthorize: a cached, Accepted idTag is not
    # asked about again before a remote start.
    stack = await charger(
        ocpp={"AuthorizeRemoteTxRequests": True, "LocalPreAuthorize": True, "AuthorizationCacheEnabled": True}
    )
    tag = new_id_tag()
    await online_session(stack, tag)  # the backend's Authorize answer is cached

    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    assert await call_checked(stack, "RemoteStartTransaction", {"idTag": tag, "connectorId": 1}) == {
        "status": "Accepted"
    }
    await wait_for(stack, "StartTransaction", since=since)
    await wait_status(stack, 1, "Charging", since)
    assert await messages(stack, "Authorize", since) == []


async def test_tc_061_1_clear_authorization_cache_local(charger):
    # Offline, a cached card is accepted; after ClearCache the same card is unknown and refused.
    stack = await charger(ocpp={"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": False})
    tag = new_id_tag()
    await online_session(stack, tag)

    assert await call_checked(stack, "ClearCache", {}) == {"status": "Accepted"}
    cut = await cut_link(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await stack.bench_request("tap", uid=tag)
    await asyncio.sleep(2.0)
    bench = await bench_connector(stack)
    assert bench["contactor_closed"] is False and bench["offer_a"] == 0
    await stack.bench_request("unplug", connector=1)
    await restore_link(stack)
    await wait_status(stack, 1, "Available", cut)
    assert await messages(stack, "StartTransaction", cut) == []
    assert len(await ledger(stack)) == 1  # only the online session


async def test_offline_cached_card_starts_when_cache_kept(charger):
    # The counterpart of TC_061_1 without ClearCache: the same card is accepted offline.
    stack = await charger(ocpp={"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": False})
    tag = new_id_tag()
    await online_session(stack, tag)
    cut = await cut_link(stack)
    await charge_offline(stack, tag)
    await restore_link(stack)
    start = (await wait_for(stack, "StartTransaction", since=cut, timeout=20))[0]
    assert start["idTag"] == tag
