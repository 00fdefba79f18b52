"""OCPP 1.6 California Pricing whitepaper, end to end against the test CSMS: the backend's
DataTransfer messages of vendor ``org.openchargealliance.costmsg`` (SetUserPrice,
RunningCost with its MeterValues triggers, FinalCost), the whitepaper's configuration keys,
and bad payloads. Named after the whitepaper's use cases: user-specific price, running
cost, final cost, default price, multi-language texts and the time offset.

One charger (bench and agent) serves the whole module: each start costs seconds, and
every test leaves it idle again. What reaches the driver is read from the agent's log
(the screen's side has its own tests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from simulators.harness import Stack

from ..shared_stack import shared_stack
from .helpers import (
    all_frames,
    call_checked,
    get_configuration,
    last_seq,
    ledger,
    messages,
    new_id_tag,
    parse_time,
    plug_and_charge,
    restart_agent_and_wait,
    wait_for,
    wait_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

COSTMSG = "org.openchargealliance.costmsg"
CARD = "04CA1F01"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(csms_server: tuple[int, Path]) -> AsyncIterator[Stack]:
    async with shared_stack(csms_server, "CAPRICE", backend={}, connectors=1,
                            ocpp={"SupportedLanguages": "en,de,nl"}) as started:
        yield started


async def transfer(stack: Stack, message_id: str | None, data: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"vendorId": COSTMSG}
    if message_id is not None:
        payload["messageId"] = message_id
    if data is not None:
        payload["data"] = data if isinstance(data, str) else json.dumps(data)
    return await call_checked(stack, "DataTransfer", payload)


def agent_log(stack: Stack) -> list[dict[str, Any]]:
    """Every JSON line of the agent's log (what reached the driver is logged there)."""
    lines = []
    for line in (stack.workdir / "agent.log").read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def logged(stack: Stack, event: str) -> list[dict[str, Any]]:
    return [line for line in agent_log(stack) if line.get("event") == event]


async def last_logged(stack: Stack, event: str, field: str, value: Any, timeout: float = 5.0) -> None:
    """Wait until the latest ``event`` line says ``field`` = ``value`` (for what follows
    the boot's answer, which the backend has seen before the agent read it)."""
    for _ in range(int(timeout / 0.1)):
        lines = logged(stack, event)
        if lines and lines[-1].get(field) == value:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the last {event!r} is {(logged(stack, event) or [None])[-1]}, not {field}={value!r}")


async def change(stack: Stack, key: str, value: str) -> str:
    reply = await call_checked(stack, "ChangeConfiguration", {"key": key, "value": value})
    return str(reply["status"])


async def start_session(stack: Stack) -> int:
    """A charging session on connector 1; its backend transactionId."""
    since = await last_seq(stack)
    await plug_and_charge(stack, 1, CARD)
    await wait_for(stack, "StartTransaction", since=since)
    running = [t for t in await ledger(stack) if not t["stopped"]]
    return int(running[-1]["transaction_id"])


async def end_session(stack: Stack) -> None:
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_for(stack, "StopTransaction", since=since)
    await wait_status(stack, 1, "Available", since)


async def energy_wh(stack: Stack) -> float:
    status = await stack.bench_request("status")
    return float(status["connectors"][0]["energy_wh"])


def only_other(meter_values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in meter_values if all(s["context"] == "Other" for mv in m["meterValue"] for s in mv["sampledValue"])]


# ---------------------------------------------------------------- configuration keys


async def test_default_price_keys_read_changed_and_validated(stack: Stack) -> None:
    known, unknown = await get_configuration(stack, [
        "CustomDisplayCostAndPrice", "DefaultPrice", "CustomIdleFeeAfterStop", "CustomMultiLanguageMessages",
        "Language", "SupportedLanguages", "TimeOffset", "NextTimeOffsetTransitionDateTime",
        "TimeOffsetNextTransition"])
    assert unknown == []
    assert known["CustomDisplayCostAndPrice"] == {"readonly": True, "value": "true"}
    assert known["SupportedLanguages"] == {"readonly": True, "value": "en,de,nl"}
    assert known["Language"] == {"readonly": False, "value": "en"}
    assert known["DefaultPrice"] == {"readonly": False, "value": ""}
    assert known["TimeOffset"]["value"] == "+00:00"

    price = {"priceText": "0.15 $/kWh, idle fee after charging: 1 $/hr",
             "priceTextOffline": "The station is offline. Charging is possible for 0.15 $/kWh.",
             "chargingPrice": {"kWhPrice": 0.15, "hourPrice": 0.00, "flatFee": 0.00}}
    assert await change(stack, "DefaultPrice", json.dumps(price)) == "Accepted"
    known, _ = await get_configuration(stack, ["DefaultPrice"])
    assert json.loads(known["DefaultPrice"]["value"]) == price
    # Online, the screen is given the default priceText.
    assert logged(stack, "default price text")[-1]["text"] == price["priceText"]

    for bad in ("{not json", json.dumps({"priceTextOffline": "no priceText"}),
                json.dumps({"priceText": "x", "chargingPrice": {"kWhPrice": "cheap"}}),
                json.dumps({"priceText": "x", "chargingPrice": {"kWhPrice": -1}}), "[1, 2]"):
        assert await change(stack, "DefaultPrice", bad) == "Rejected", bad
    known, _ = await get_configuration(stack, ["DefaultPrice"])
    assert json.loads(known["DefaultPrice"]["value"]) == price  # the refused values left it as it was

    assert await change(stack, "TimeOffset", "+01:00") == "Accepted"
    assert await change(stack, "TimeOffset", "one hour") == "Rejected"
    assert await change(stack, "NextTimeOffsetTransitionDateTime", "yesterday") == "Rejected"
    assert await change(stack, "Language", "fr") == "Rejected"  # not among SupportedLanguages
    assert await change(stack, "SupportedLanguages", "en,fr") == "Rejected"  # the charger maker's
    assert await change(stack, "CustomDisplayCostAndPrice", "false") == "Rejected"
    assert await change(stack, "TimeOffset", "+00:00") == "Accepted"


async def test_multi_language_default_price_text_per_language(stack: Stack) -> None:
    known, unknown = await get_configuration(stack, ["DefaultPriceText,de", "DefaultPriceText,fr"])
    assert known == {"DefaultPriceText,de": {"readonly": False, "value": ""}}
    assert unknown == ["DefaultPriceText,fr"]  # fr is not among SupportedLanguages
    german = {"priceText": "0,15 €/kWh, Standgebühr nach dem Laden: 1 €/h",
              "priceTextOffline": "Die Station ist offline. Laden für 0,15 €/kWh möglich."}
    assert await change(stack, "DefaultPriceText,de", json.dumps(german)) == "Accepted"
    assert await change(stack, "DefaultPriceText,fr", json.dumps({"priceText": "0,15 €/kWh"})) == "Rejected"
    assert await change(stack, "DefaultPriceText,nl", "{broken") == "Rejected"
    assert await change(stack, "DefaultPriceText,nl", json.dumps({"text": "no priceText"})) == "Rejected"
    # A GetConfiguration of every key lists each supported language's.
    everything, _ = await get_configuration(stack)
    assert {k for k in everything if k.startswith("DefaultPriceText,")} == {
        "DefaultPriceText,en", "DefaultPriceText,de", "DefaultPriceText,nl"}
    assert json.loads(everything["DefaultPriceText,de"]["value"]) == german
    # In German, the screen is given the German text.
    assert await change(stack, "Language", "de") == "Accepted"
    assert logged(stack, "default price text")[-1]["text"] == german["priceText"]
    # The backend's values outlive a restart.
    await restart_agent_and_wait(stack)
    known, _ = await get_configuration(stack, ["DefaultPriceText,de", "Language"])
    assert json.loads(known["DefaultPriceText,de"]["value"]) == german
    assert known["Language"]["value"] == "de"
    await last_logged(stack, "default price text", "text", german["priceText"])
    assert await change(stack, "Language", "en") == "Accepted"


async def test_time_offset_planned_transition_applies_at_its_time(stack: Stack) -> None:
    at = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await change(stack, "TimeOffset", "-08:00") == "Accepted"
    assert await change(stack, "TimeOffsetNextTransition", "-07:00") == "Accepted"
    assert await change(stack, "NextTimeOffsetTransitionDateTime", at) == "Accepted"
    for _ in range(100):
        known, _ = await get_configuration(stack, ["TimeOffset", "NextTimeOffsetTransitionDateTime"])
        if known["TimeOffset"]["value"] == "-07:00":
            break
        await asyncio.sleep(0.1)
    assert known["TimeOffset"]["value"] == "-07:00"
    assert known["NextTimeOffsetTransitionDateTime"]["value"] == ""  # done: none planned any more
    assert await change(stack, "TimeOffset", "+00:00") == "Accepted"


# ---------------------------------------------------------------- messages


async def test_user_specific_price_set_user_price(stack: Stack) -> None:
    data = {"idToken": CARD, "priceText": "0.12 $/kWh, no idle fee",
            "priceTextExtra": [{"format": "UTF8", "language": "nl", "content": "€0.12/kWh, geen idle fee"},
                               {"format": "UTF8", "language": "de", "content": "0,12 €/kWh, keine Standgebühr"}]}
    assert await transfer(stack, "SetUserPrice", data) == {"status": "Accepted"}
    shown = logged(stack, "driver price")[-1]
    assert shown["text"] == "0.12 $/kWh, no idle fee" and shown["connector"] is None  # no session: the next one
    assert await transfer(stack, "SetUserPrice", {"priceText": "no idToken"}) == {"status": "Rejected"}
    assert await transfer(stack, "SetUserPrice", {"idToken": CARD}) == {"status": "Rejected"}  # no priceText
    # The price of a driver whose session runs goes to that session's connector.
    await start_session(stack)
    try:
        assert await transfer(stack, "SetUserPrice", data) == {"status": "Accepted"}
        assert logged(stack, "driver price")[-1]["connector"] == 1
    finally:
        await end_session(stack)


async def test_running_cost_shown_and_unknown_transaction_rejected(stack: Stack) -> None:
    tx = await start_session(stack)
    try:
        data = {"transactionId": tx, "timestamp": datetime.now(timezone.utc).isoformat(), "meterValue": 1234,
                "cost": 1.345, "state": "Charging", "chargingPrice": {"kWhPrice": 0.123, "hourPrice": 2.00},
                "idlePrice": {"graceMinutes": 30, "hourPrice": 1.00}, "priceText": "1.35 $ so far"}
        assert await transfer(stack, "RunningCost", data) == {"status": "Accepted"}
        shown = logged(stack, "driver cost")[-1]
        # Shown with NumberOfDecimalsForCostValues (2) decimals, rounded half up.
        assert (shown["connector"], shown["cost"], shown["final"], shown["text"]) == (1, "1.35", False, "1.35 $ so far")
        assert shown["backend_cost"] == "1.345"
        assert await transfer(stack, "RunningCost", {**data, "transactionId": tx + 1000}) == {"status": "Rejected"}
        assert await transfer(stack, "RunningCost", {**data, "state": "Parked"}) == {"status": "Rejected"}
        assert await transfer(stack, "RunningCost", {**data, "cost": "1.3"}) == {"status": "Rejected"}
    finally:
        await end_session(stack)


async def test_running_cost_trigger_at_time_sends_meter_values(stack: Stack) -> None:
    tx = await start_session(stack)
    try:
        since = await last_seq(stack)
        at = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
        data = {"transactionId": tx, "cost": 0.5, "state": "Charging", "triggerMeterValue": {"atTime": at}}
        assert await transfer(stack, "RunningCost", data) == {"status": "Accepted"}
        [sent] = only_other(await wait_for(stack, "MeterValues", since=since, timeout=10))
        assert sent["transactionId"] == tx and sent["connectorId"] == 1
        assert sent["meterValue"][0]["sampledValue"][0]["measurand"] == "Energy.Active.Import.Register"
    finally:
        await end_session(stack)


async def test_running_cost_trigger_at_energy_sends_meter_values(stack: Stack) -> None:
    tx = await start_session(stack)
    try:
        target_wh = await energy_wh(stack) + 15
        since = await last_seq(stack)
        data = {"transactionId": tx, "cost": 0.5, "state": "Charging",
                "triggerMeterValue": {"atEnergykWh": round(target_wh / 1000, 3)}}
        assert await transfer(stack, "RunningCost", data) == {"status": "Accepted"}
        [sent] = only_other(await wait_for(stack, "MeterValues", since=since, timeout=15))
        assert sent["transactionId"] == tx
        assert float(sent["meterValue"][0]["sampledValue"][0]["value"]) >= target_wh - 1
    finally:
        await end_session(stack)


async def test_running_cost_trigger_at_power_sends_meter_values(stack: Stack) -> None:
    tx = await start_session(stack)
    try:
        # Charging draws far more than 1 kW: the EV pausing crosses the threshold downwards.
        # The backend sends RunningCost on a MeterValues; here, once the agent's meter poll
        # (every second) has seen the charging power.
        await asyncio.sleep(2.0)
        data = {"transactionId": tx, "cost": 0.5, "state": "Charging", "triggerMeterValue": {"atPowerkW": 1.0}}
        assert await transfer(stack, "RunningCost", data) == {"status": "Accepted"}
        since = await last_seq(stack)
        await stack.bench_request("pause", connector=1)
        [sent] = only_other(await wait_for(stack, "MeterValues", since=since, timeout=15))
        assert sent["transactionId"] == tx
        await stack.bench_request("resume", connector=1)
    finally:
        await end_session(stack)


async def test_running_cost_trigger_at_cp_status_sends_meter_values(stack: Stack) -> None:
    tx = await start_session(stack)
    try:
        data = {"transactionId": tx, "cost": 0.5, "state": "Charging",
                "triggerMeterValue": {"atCPStatus": ["SuspendedEV", "SuspendedEVSE"]}}
        assert await transfer(stack, "RunningCost", data) == {"status": "Accepted"}
        since = await last_seq(stack)
        await asyncio.sleep(1.5)  # still Charging: nothing is due
        assert only_other(await messages(stack, "MeterValues", since)) == []
        await stack.bench_request("pause", connector=1)  # the EV stops drawing: SuspendedEV
        await wait_status(stack, 1, "SuspendedEV", since)
        [sent] = only_other(await wait_for(stack, "MeterValues", since=since, timeout=10))
        assert sent["transactionId"] == tx and sent["connectorId"] == 1
        # Back to Charging is no status named: no second one.
        since = await last_seq(stack)
        await stack.bench_request("resume", connector=1)
        await wait_status(stack, 1, "Charging", since)
        await asyncio.sleep(1.5)
        assert only_other(await messages(stack, "MeterValues", since)) == []
    finally:
        await end_session(stack)


async def followed(stack: Stack, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The CALLs the CSMS sent after an answer (``follow_with``), once ``count`` were answered."""
    for _ in range(int(timeout / 0.1)):
        done = (await stack.csms.request("followed", cp=stack.cp_id))["followed"]
        if len(done) >= count:
            return list(done)
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} follow-up calls answered")


async def test_whitepaper_session_user_price_after_authorize_cost_after_start_and_final_cost(stack: Stack) -> None:
    """The whitepaper's sequence: Authorize.conf then SetUserPrice (the start waits for it),
    StartTransaction.conf then at once the first RunningCost, StopTransaction then FinalCost."""
    card = new_id_tag()
    assert await change(stack, "WaitForSetUserPriceTimeout", "5000") == "Accepted"
    before = len((await stack.csms.request("followed", cp=stack.cp_id))["followed"])
    user_price = {"idToken": "$ID_TAG", "priceText": "0.25 $/kWh for you, no idle fee"}
    await stack.csms.request("follow_with", cp=stack.cp_id, after="Authorize", action="DataTransfer",
                             payload={"vendorId": COSTMSG, "messageId": "SetUserPrice", "data": json.dumps(user_price)})
    first_cost = ('{"transactionId": $TRANSACTION_ID, "timestamp": "2026-12-07T12:00:00Z", "meterValue": 0, '
                  '"cost": 0.00, "state": "Charging", "chargingPrice": {"kWhPrice": 0.25}, '
                  '"priceText": "0.25 $/kWh", "triggerMeterValue": {"atCPStatus": ["SuspendedEV"]}}')
    await stack.csms.request("follow_with", cp=stack.cp_id, after="StartTransaction", action="DataTransfer",
                             payload={"vendorId": COSTMSG, "messageId": "RunningCost", "data": first_cost})
    try:
        since = await last_seq(stack)
        await plug_and_charge(stack, 1, card)
        [authorize_call] = [m for m in await all_frames(stack, since) if m["action"] == "Authorize"
                            and m["direction"] == "out" and m["type"] == "CALLRESULT"]
        [price_answer] = [m for m in await all_frames(stack, since) if m["action"] == "DataTransfer"
                          and m["direction"] == "in" and m["type"] == "CALLRESULT"][:1]
        [start] = [m for m in await all_frames(stack, since) if m["action"] == "StartTransaction"
                   and m["direction"] == "in" and m["type"] == "CALL"]
        # The session started once the price was taken, well before the 5 s wait was up.
        assert price_answer["received_at"] < start["received_at"]
        assert start["received_at"] - authorize_call["received_at"] < 3.0
        shown = logged(stack, "driver price")[-1]
        assert (shown["text"], shown["connector"]) == (user_price["priceText"], None)
        done = await followed(stack, before + 2)
        assert [(f["after"], f["result"]) for f in done[before:]] == [
            ("Authorize", {"status": "Accepted"}), ("StartTransaction", {"status": "Accepted"})]
        tx = int(json.loads(done[before + 1]["payload"]["data"])["transactionId"])
        assert tx == int([t for t in await ledger(stack) if not t["stopped"]][-1]["transaction_id"])
        cost = logged(stack, "driver cost")[-1]
        assert (cost["connector"], cost["cost"], cost["final"], cost["text"]) == (1, "0.00", False, "0.25 $/kWh")
        assert stack_armed_status(stack) == ["SuspendedEV"]
    finally:
        await change(stack, "WaitForSetUserPriceTimeout", "0")
        await end_session(stack)
    final = {"transactionId": tx, "cost": 1.005, "priceText": "1.01 $ for 4 kWh"}
    assert await transfer(stack, "FinalCost", final) == {"status": "Accepted"}
    shown = logged(stack, "driver cost")[-1]
    assert (shown["connector"], shown["cost"], shown["final"]) == (1, "1.01", True)


def stack_armed_status(stack: Stack) -> list[str] | None:
    """The atCPStatus of the running-cost triggers armed last (from the agent's log)."""
    armed = logged(stack, "running cost triggers armed")
    return armed[-1].get("at_status") if armed else None


async def test_an_accepted_card_waits_for_its_price_no_longer_than_wait_for_set_user_price_timeout(
        stack: Stack) -> None:
    card = new_id_tag()
    assert await change(stack, "WaitForSetUserPriceTimeout", "1500") == "Accepted"
    try:
        since = await last_seq(stack)
        await plug_and_charge(stack, 1, card)  # this backend sends no SetUserPrice
        frames = await all_frames(stack, since)
        [answered] = [m for m in frames if m["action"] == "Authorize" and m["type"] == "CALLRESULT"]
        [start] = [m for m in frames if m["action"] == "StartTransaction" and m["type"] == "CALL"]
        assert start["received_at"] - answered["received_at"] >= 1.4
        assert any(line.get("id_tag") == card for line in logged(
            stack, "no user price from the backend in time; the session goes on"))
    finally:
        await change(stack, "WaitForSetUserPriceTimeout", "0")
        await end_session(stack)


async def test_idle_fee_after_the_stop_ends_with_connector_unplugged(stack: Stack) -> None:
    """CustomIdleFeeAfterStop: the driver stops with the card and leaves the car plugged in;
    the backend bills idle time on (RunningCost Idle for the ended transaction) until the
    charger says ConnectorUnplugged, then sends the FinalCost."""
    assert await change(stack, "CustomIdleFeeAfterStop", "true") == "Accepted"
    try:
        tx = await start_session(stack)
        since = await last_seq(stack)
        await stack.bench_request("tap", uid=CARD)  # stopped by the driver; the cable stays in
        await wait_for(stack, "StopTransaction", since=since)
        await wait_status(stack, 1, "Finishing", since)
        idle = {"transactionId": tx, "timestamp": datetime.now(timezone.utc).isoformat(), "meterValue": 0,
                "cost": 2.5, "state": "Idle", "idlePrice": {"graceMinutes": 0, "hourPrice": 3600.0},
                "priceText": "Idle fee: 1 $/s, please move the car"}
        assert await transfer(stack, "RunningCost", idle) == {"status": "Accepted"}
        shown = logged(stack, "driver cost")[-1]
        assert (shown["cost"], shown["final"], shown["text"]) == ("2.50", False, idle["priceText"])
        assert await messages(stack, "DataTransfer", since) == []  # nothing yet: the car is still there
        since = await last_seq(stack)
        await stack.bench_request("unplug", connector=1)
        available_seq = await wait_status(stack, 1, "Available", since)
        [unplugged] = await wait_for(stack, "DataTransfer", since=since)
        assert (unplugged["vendorId"], unplugged["messageId"]) == (COSTMSG, "ConnectorUnplugged")
        data = json.loads(unplugged["data"])
        assert data["transactionId"] == tx
        [available] = [m for m in await messages(stack, "StatusNotification", since) if m["seq"] == available_seq]
        assert parse_time(data["timestamp"]) == parse_time(available["payload"]["timestamp"])
        # Billed no more: a RunningCost now is refused; the final cost is shown.
        assert await transfer(stack, "RunningCost", idle) == {"status": "Rejected"}
        assert await transfer(stack, "FinalCost", {"transactionId": tx, "cost": 4.0}) == {"status": "Accepted"}
        shown = logged(stack, "driver cost")[-1]
        assert (shown["cost"], shown["final"]) == ("4.00", True)
    finally:
        assert await change(stack, "CustomIdleFeeAfterStop", "false") == "Accepted"


async def test_connector_unplugged_while_offline_is_sent_once_the_link_is_back(stack: Stack) -> None:
    """The reason for ConnectorUnplugged (a StatusNotification need not be queued): an
    unplug while the link is down reaches the backend afterwards, with its own time."""
    assert await change(stack, "CustomIdleFeeAfterStop", "true") == "Accepted"
    try:
        tx = await start_session(stack)
        since = await last_seq(stack)
        await stack.bench_request("tap", uid=CARD)
        await wait_for(stack, "StopTransaction", since=since)
        await wait_status(stack, 1, "Finishing", since)
        await stack.bench_request("link", state="cut")
        await stack.bench_request("wait_for", field="link", value="cut")
        cut = await last_seq(stack)
        unplugged_at = datetime.now(timezone.utc)
        await stack.bench_request("unplug", connector=1)
        await asyncio.sleep(2.5)  # the charger saw it (it looks every second), offline
        assert await messages(stack, "DataTransfer", cut) == []
        await stack.bench_request("link", state="up")
        [sent] = await wait_for(stack, "DataTransfer", since=cut, timeout=30)
        assert sent["messageId"] == "ConnectorUnplugged"
        data = json.loads(sent["data"])
        assert data["transactionId"] == tx
        assert abs((parse_time(data["timestamp"]) - unplugged_at).total_seconds()) < 2.0
        await wait_status(stack, 1, "Available", cut)
    finally:
        await change(stack, "CustomIdleFeeAfterStop", "false")


async def test_final_cost_after_the_stop(stack: Stack) -> None:
    tx = await start_session(stack)
    await end_session(stack)
    final = {"transactionId": tx, "cost": 3.31, "priceText": "3.31 $ for 23.4 kWh. Invoice: www.cpo.com/i/13546",
             "priceTextExtra": [{"format": "UTF8", "language": "de", "content": "3,31 € für 23,4 kWh"}],
             "qrCodeText": "https://www.cpo.com/i/13546"}
    assert await transfer(stack, "FinalCost", final) == {"status": "Accepted"}
    shown = logged(stack, "driver cost")[-1]
    assert (shown["connector"], shown["cost"], shown["final"]) == (1, "3.31", True)
    assert shown["text"].startswith("3.31 $")
    # A running cost of a transaction that ended, and a final cost of one never seen, are refused.
    assert await transfer(stack, "RunningCost", {"transactionId": tx, "cost": 3.0}) == {"status": "Rejected"}
    assert await transfer(stack, "FinalCost", {**final, "transactionId": tx + 1000}) == {"status": "Rejected"}


async def test_bad_payloads_are_rejected_and_unknown_messages_keep_their_answers(stack: Stack) -> None:
    since = await last_seq(stack)
    assert await transfer(stack, "RunningCost", "{this is not json") == {"status": "Rejected"}
    assert await transfer(stack, "FinalCost", None) == {"status": "Rejected"}
    assert await transfer(stack, "FinalCost", "[]") == {"status": "Rejected"}
    assert await transfer(stack, "RunningCost", {"transactionId": "seven", "cost": 1}) == {"status": "Rejected"}
    assert await transfer(stack, "SetUserPrice", {"idToken": CARD, "priceText": 42}) == {"status": "Rejected"}
    assert await transfer(stack, "ConnectorUnplugged", {}) == {"status": "UnknownMessageId"}
    assert await transfer(stack, None, {}) == {"status": "UnknownMessageId"}
    assert await call_checked(stack, "DataTransfer", {"vendorId": "com.example.nobody", "messageId": "RunningCost"}) \
        == {"status": "UnknownVendorId"}
    rejected = [line["reason"] for line in logged(stack, "price message rejected: bad data")]
    assert any("not JSON" in r for r in rejected) and any("transactionId must be an integer" in r for r in rejected)
    # The charger is still there, and it did not restart.
    assert await messages(stack, "BootNotification", since) == []
    known, _ = await get_configuration(stack, ["NumberOfConnectors"])
    assert known["NumberOfConnectors"]["value"] == "1"
