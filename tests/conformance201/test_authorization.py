"""OCPP 2.0.1 Authorization (block C) over the real agent and the test CSMS: refused
tokens (C01/C04/C06), GroupId (C09), the authorization cache (C10-C12), offline unknown
ids (C15) and StopTxOnInvalidId.

The backend's answers come from the CSMS's ``set_id_tag`` policy (unknown tokens are
Accepted). Whether the charger decided on its own is seen from the backend: a card taken
from the cache or the local list starts without an Authorize request. Every test ends
with no schema violation in what the charger sent.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta, timezone
from typing import Any

from agent.store import iso
from tests.conformance.helpers import expect_none, new_id_tag, wait_rebooted
from tests.conformance201.helpers import (
    V201,
    call,
    events,
    last_seq,
    messages,
    schema_violations,
    wait_event,
    wait_for,
)
from tests.conformance201.test_local_list import entry, restart, send_list

PRE_AUTHORIZE = {"LocalPreAuthorize": True}
#: Time for a tap to be decided from the cache or list (no backend round trip).
DECIDED_S = 0.6


async def asked(stack: Any, since: int) -> list[str]:
    """The idTokens the charger asked the backend about after ``since``."""
    return [m["payload"]["idToken"]["idToken"] for m in await messages(stack, "Authorize", since)]


async def tap_and_plug(stack: Any, tag: str, evse: int = 1) -> None:
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("plug", connector=evse, max_current=16)


async def start(stack: Any, tag: str, evse: int = 1) -> dict[str, Any]:
    """Tap and plug; return the Started event, once the transaction is charging."""
    since = await last_seq(stack)
    await tap_and_plug(stack, tag, evse)
    started = await wait_event(stack, "Started", since)
    await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    return started


async def end_and_unplug(stack: Any, tag: str) -> None:
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_event(stack, "Ended", since)
    await stack.bench_request("unplug", connector=1)
    await asyncio.sleep(0.3)


async def cache(stack: Any, tag: str) -> None:
    """Tap once without an EV, so the backend's answer is cached, and tap again to let go."""
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since)
    await asyncio.sleep(DECIDED_S)
    await stack.bench_request("tap", uid=tag)
    await asyncio.sleep(DECIDED_S)


async def set_variable(stack: Any, component: str, variable: str, value: str) -> None:
    answer = await call(stack, "SetVariables", {"setVariableData": [{
        "component": {"name": component}, "variable": {"name": variable}, "attributeValue": value}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted", answer


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


# ---------------------------------------------------------------- C01/C04/C06: refused tokens
async def _refused(charger: Any, csms: Any, status: str) -> None:
    stack = await charger(backend=V201)
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status=status)
    since = await last_seq(stack)
    await tap_and_plug(stack, tag)
    await wait_for(stack, "Authorize", since=since)
    assert await asked(stack, since) == [tag]
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    await _clean(stack)


async def test_tc_c_02_cs_authorization_invalid(charger, csms) -> None:  # type: ignore[no-untyped-def]
    await _refused(charger, csms, "Invalid")


async def test_tc_c_56_cs_authorization_unknown(charger, csms) -> None:  # type: ignore[no-untyped-def]
    await _refused(charger, csms, "Unknown")


async def test_tc_c_06_cs_authorization_blocked(charger, csms) -> None:  # type: ignore[no-untyped-def]
    await _refused(charger, csms, "Blocked")


async def test_tc_c_07_cs_authorization_expired(charger, csms) -> None:  # type: ignore[no-untyped-def]
    await _refused(charger, csms, "Expired")


async def test_tc_c_04_cs_local_stop_transaction_different_idtoken(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    owner, other = new_id_tag(), new_id_tag()
    await start(stack, owner)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=other)
    await expect_none(stack, "TransactionEvent", since, within=2.0)  # another card stops nothing
    await stack.bench_request("tap", uid=owner)
    ended = await wait_event(stack, "Ended", since)
    assert ended["triggerReason"] == "StopAuthorized" and ended["idToken"]["idToken"] == owner
    await _clean(stack)


# ---------------------------------------------------------------- C09: GroupId
async def test_tc_c_39_cs_authorization_by_group_id_success(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    owner, member, group = new_id_tag(), new_id_tag(), new_id_tag()
    await csms.request("set_id_tag", id_tag=owner, status="Accepted", group_id_token=group)
    await csms.request("set_id_tag", id_tag=member, status="Accepted", group_id_token=group)
    await start(stack, owner)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    ended = await wait_event(stack, "Ended", since)
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["idToken"]["idToken"] == member
    await _clean(stack)


async def test_tc_c_42_cs_authorization_by_group_id_not_stopped(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    owner, stranger = new_id_tag(), new_id_tag()
    await csms.request("set_id_tag", id_tag=owner, status="Accepted", group_id_token=new_id_tag())
    await csms.request("set_id_tag", id_tag=stranger, status="Accepted", group_id_token=new_id_tag())
    await start(stack, owner)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=stranger)
    await wait_for(stack, "Authorize", since=since)
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    await _clean(stack)


async def test_tc_c_40_cs_group_id_with_local_authorization_list(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    owner, member, group = new_id_tag(), new_id_tag(), new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(owner, group=group), entry(member, group=group)]) == "Accepted"
    # The backend would not stop it: only the list can.
    await csms.request("set_id_tag", id_tag=member, status="Accepted", group_id_token=new_id_tag())
    await start(stack, owner)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    ended = await wait_event(stack, "Ended", since)
    assert ended["idToken"]["idToken"] == member
    assert await asked(stack, 0) == []
    await _clean(stack)


async def test_tc_c_41_cs_group_id_with_authorization_cache(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    owner, member, group = new_id_tag(), new_id_tag(), new_id_tag()
    await csms.request("set_id_tag", id_tag=owner, status="Accepted", group_id_token=group)
    await csms.request("set_id_tag", id_tag=member, status="Accepted", group_id_token=group)
    await cache(stack, member)
    await start(stack, owner)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    ended = await wait_event(stack, "Ended", since)
    assert ended["idToken"]["idToken"] == member
    assert await asked(stack, since) == []  # decided from the cache
    await _clean(stack)


async def test_tc_c_43_cs_group_id_invalid_status_with_local_authorization_list(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    owner, member, group = new_id_tag(), new_id_tag(), new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(owner, group=group), entry(member, "Invalid", group=group)]) \
        == "Accepted"
    await csms.request("set_id_tag", id_tag=member, status="Invalid", group_id_token=group)
    await start(stack, owner)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    await _clean(stack)


# ---------------------------------------------------------------- C10-C12: the cache
async def test_tc_c_08_cs_and_c_33_cs_cache_updated_on_authorize_response_and_used(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await cache(stack, tag)
    since = await last_seq(stack)
    started = await start(stack, tag)
    assert started["idToken"]["idToken"] == tag
    assert await asked(stack, since) == []
    await _clean(stack)


async def test_tc_c_32_cs_cache_persistent_over_reboot(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await cache(stack, tag)
    await restart(stack)
    since = await last_seq(stack)
    await start(stack, tag)
    assert await asked(stack, since) == []
    await _clean(stack)


async def test_tc_c_34_cs_cache_updated_on_transaction_response(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    since = await last_seq(stack)
    answer = await call(stack, "RequestStartTransaction", {
        "idToken": {"idToken": tag, "type": "ISO14443"}, "remoteStartId": 34, "evseId": 1})
    assert answer["status"] == "Accepted"
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_event(stack, "Started", since)
    assert await asked(stack, since) == []  # a remote start is not authorized first here
    await end_and_unplug(stack, tag)
    since = await last_seq(stack)
    await start(stack, tag)  # known from the Started event's answer
    assert await asked(stack, since) == []
    await _clean(stack)


async def test_tc_c_36_cs_local_pre_authorize_false(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"LocalPreAuthorize": False})
    tag = new_id_tag()
    await cache(stack, tag)
    since = await last_seq(stack)
    await start(stack, tag)
    assert await asked(stack, since) == [tag]  # cached, yet the backend is asked first
    await _clean(stack)


async def test_tc_c_37_cs_clear_cache_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await cache(stack, tag)
    assert (await call(stack, "ClearCache", {}))["status"] == "Accepted"
    since = await last_seq(stack)
    await start(stack, tag)
    assert await asked(stack, since) == [tag]
    await _clean(stack)


async def test_tc_c_38_cs_clear_cache_rejected(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    await set_variable(stack, "AuthCacheCtrlr", "Enabled", "false")
    assert (await call(stack, "ClearCache", {}))["status"] == "Rejected"
    await _clean(stack)


async def test_tc_c_46_cs_auth_cache_lifetime(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    await set_variable(stack, "AuthCacheCtrlr", "LifeTime", "3")
    tag = new_id_tag()
    await cache(stack, tag)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)  # within its lifetime: from the cache
    await asyncio.sleep(DECIDED_S)
    await stack.bench_request("tap", uid=tag)
    assert await asked(stack, since) == []
    await asyncio.sleep(3.0)
    since = await last_seq(stack)
    await start(stack, tag)  # aged out: asked again
    assert await asked(stack, since) == [tag]
    await _clean(stack)


async def test_tc_c_09_cs_cache_invalid_and_not_accepted(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since)
    await asyncio.sleep(DECIDED_S)
    since = await last_seq(stack)
    await tap_and_plug(stack, tag)  # cached Invalid: asked again, and refused again
    await wait_for(stack, "Authorize", since=since)
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    await _clean(stack)


async def test_tc_c_12_cs_cache_invalid_and_accepted(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since)
    await asyncio.sleep(DECIDED_S)
    await csms.request("set_id_tag", id_tag=tag, status="Accepted")
    since = await last_seq(stack)
    started = await start(stack, tag)
    assert started["idToken"]["idToken"] == tag
    assert await asked(stack, since) == [tag]
    await _clean(stack)


async def test_tc_c_11_cs_cache_expired(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    past = iso(datetime.now(timezone.utc) - timedelta(minutes=5))
    await csms.request("set_id_tag", id_tag=tag, status="Accepted", cache_expiry_date_time=past)
    await cache(stack, tag)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)  # its cache entry expired: asked again
    await wait_for(stack, "Authorize", since=since)
    assert await asked(stack, since) == [tag]
    await _clean(stack)


async def test_tc_c_13_cs_cache_accepted_cable_not_connected_yet(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await cache(stack, tag)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await expect_none(stack, "TransactionEvent", since, within=1.5)  # authorized, waiting for the EV
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    assert started["idToken"]["idToken"] == tag
    assert await asked(stack, since) == []
    await _clean(stack)


# ---------------------------------------------------------------- StopTxOnInvalidId
async def _invalid_after_start(charger: Any, csms: Any, stop: bool, **options: Any) -> tuple[Any, int]:
    """A card the list accepts but the backend calls Invalid in its answer to the Started
    event; return the stack and the log position before the start. ``options``: more
    ``[ocpp]`` values, and the charger fixture's own (``unfinished_transactions``)."""
    extra = options.pop("ocpp", {})
    stack = await charger(backend=V201, ocpp={**PRE_AUTHORIZE, "StopTransactionOnInvalidId": stop, **extra},
                          **options)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(tag)]) == "Accepted"
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    since = await last_seq(stack)
    await tap_and_plug(stack, tag)
    await wait_event(stack, "Started", since)
    return stack, since


async def test_tc_c_16_cs_stop_tx_on_invalid_id_true(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack, since = await _invalid_after_start(charger, csms, stop=True)
    ended = await wait_event(stack, "Ended", since)
    assert ended["triggerReason"] == "Deauthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    await _clean(stack)


async def test_tc_c_17_cs_stop_tx_on_invalid_id_false(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack, since = await _invalid_after_start(charger, csms, stop=False)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)
    await asyncio.sleep(2.0)
    states = [e["transactionInfo"].get("chargingState") for e in await events(stack, since)]
    assert states[-1] == "SuspendedEVSE", states  # the transaction goes on, without energy
    assert "Ended" not in [e["eventType"] for e in await events(stack, since)]
    await _clean(stack)


# ---------------------------------------------------------------- MaxEnergyOnInvalidId
#: The allowance in the tests: several seconds of charging at 16 A on three phases (about
#: 3 Wh a second), so a refusal acting at once (a few Wh in) cannot pass for it.
BUDGET_WH = 15
#: How far past the allowance the energy may get before the contactor is open: a meter
#: reading a second, the contactor's opening.
OVERSHOOT_WH = 8


def _register(event: dict[str, Any]) -> float:
    """The energy register a TransactionEvent carries (its last value, the end's in Ended)."""
    values = [sv["value"] for mv in event.get("meterValue", []) for sv in mv["sampledValue"]
              if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
              and not sv.get("phase")]
    assert values, event
    return float(values[-1])


async def _meter_wh(stack: Any) -> float:
    return float((await stack.bench_request("status"))["connectors"][0]["energy_wh"])


async def test_tc_c_15_cs_stop_tx_on_invalid_id_false_max_energy_on_invalid_id(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """C15.FR.07/E05.FR.03: refused after the start, the transaction charges on until it
    delivered MaxEnergyOnInvalidId (from its start); then energy stops (SuspendedEVSE, told
    as a charging state change) and the transaction stays open."""
    stack, since = await _invalid_after_start(
        charger, csms, stop=False, ocpp={"TxCtrlr.MaxEnergyOnInvalidId": BUDGET_WH})
    started = await wait_event(stack, "Started", since)
    start_wh = _register(started)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=10)
    await wait_for(stack, "TransactionEvent", since=since)  # answered Invalid by now
    await asyncio.sleep(1.0)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is True  # charging on
    suspended = await _wait_state(stack, since, "SuspendedEVSE", timeout=30)
    assert suspended["triggerReason"] == "ChargingStateChanged"
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)
    delivered = await _meter_wh(stack) - start_wh
    assert BUDGET_WH <= delivered <= BUDGET_WH + OVERSHOOT_WH, delivered
    await asyncio.sleep(1.5)
    assert "Ended" not in [e["eventType"] for e in await events(stack, since)]
    await _clean(stack)


async def test_tc_c_18_cs_stop_tx_on_invalid_id_true_max_energy_on_invalid_id(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """StopTxOnInvalidId true with an allowance: the transaction charges on until it
    delivered MaxEnergyOnInvalidId, then ends deauthorized (TC_C_18_CS)."""
    stack, since = await _invalid_after_start(
        charger, csms, stop=True, ocpp={"TxCtrlr.MaxEnergyOnInvalidId": BUDGET_WH})
    started = await wait_event(stack, "Started", since)
    ended = await wait_event(stack, "Ended", since, timeout=30)
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("Deauthorized", "DeAuthorized")
    delivered = _register(ended) - _register(started)
    assert BUDGET_WH <= delivered <= BUDGET_WH + OVERSHOOT_WH, delivered
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)
    await _clean(stack)


async def test_max_energy_on_invalid_id_is_counted_from_the_start_across_a_restart(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """A kill -9 while a refused transaction charges on its allowance: with
    ``unfinished_transactions = "resume"`` it resumes, and what it delivered before the
    restart counts (the journal has its start value): the allowance is not granted anew."""
    budget = 60
    stack, since = await _invalid_after_start(
        charger, csms, stop=False, ocpp={"TxCtrlr.MaxEnergyOnInvalidId": budget}, unfinished_transactions="resume")
    started = await wait_event(stack, "Started", since)
    start_wh = _register(started)
    await wait_for(stack, "TransactionEvent", since=since)
    await stack.bench_request("wait_for", connector=1, field="energy_wh", value=start_wh + 15, op="ge", timeout=20)
    restart = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)
    await stack.start_agent()
    await wait_rebooted(stack, restart)
    suspended = await _wait_state(stack, restart, "SuspendedEVSE", timeout=40)
    assert suspended["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)
    delivered = await _meter_wh(stack) - start_wh
    assert budget <= delivered <= budget + OVERSHOOT_WH + 2, delivered
    assert "Ended" not in [e["eventType"] for e in await events(stack, since)]
    await _clean(stack)


async def _wait_state(stack: Any, since: int, state: str, timeout: float = 15.0) -> dict[str, Any]:
    """The first TransactionEvent after ``since`` whose chargingState is ``state``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for e in await events(stack, since):
            if e["transactionInfo"].get("chargingState") == state:
                return e
        seen = [e["transactionInfo"].get("chargingState") for e in await events(stack, since)]
        assert asyncio.get_running_loop().time() < deadline, f"never {state}: {seen}\n{stack.agent_log()}"
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- C15: offline
async def test_tc_c_26_cs_offline_authorization_unknown_id(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"AllowOfflineTxForUnknownId": True})
    got = await call(stack, "GetVariables", {"getVariableData": [{
        "component": {"name": "AuthCtrlr"}, "variable": {"name": "OfflineTxForUnknownIdEnabled"}}]})
    assert got["getVariableResult"][0]["attributeValue"] == "true"  # the 1.6 setting, by its 2.0.1 name
    tag = new_id_tag()
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    since = await last_seq(stack)
    await tap_and_plug(stack, tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=20)
    await stack.bench_request("link", state="up")
    started = await wait_event(stack, "Started", since, timeout=30)
    assert started["idToken"]["idToken"] == tag
    assert started["offline"] is True
    await _clean(stack)


async def test_tc_c_26_cs_offline_unknown_id_refused_when_disabled(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"AllowOfflineTxForUnknownId": False})
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    since = await last_seq(stack)
    await tap_and_plug(stack, new_id_tag())
    await asyncio.sleep(12.0)  # past the backend's answer timeout: decided offline
    await stack.bench_request("link", state="up")
    await asyncio.sleep(3.0)
    assert [e for e in await events(stack, since)] == []
    await _clean(stack)


# ---------------------------------------------------------------- C13/C14: through the local list
async def _offline(stack: Any) -> int:
    """Cut the link at the bench; return the CSMS log position at the cut."""
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    return await last_seq(stack)


async def test_tc_c_21_cs_offline_authorization_through_local_list_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": False})
    tag = new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(tag)]) == "Accepted"
    since = await _offline(stack)
    await tap_and_plug(stack, tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=20)
    await stack.bench_request("link", state="up")
    started = await wait_event(stack, "Started", since, timeout=30)
    assert started["idToken"]["idToken"] == tag and started["offline"] is True
    await _clean(stack)


async def test_tc_c_22_cs_offline_authorization_through_local_list_invalid(charger) -> None:  # type: ignore[no-untyped-def]
    # Even with unknown ids allowed offline: a card the list calls Invalid is not unknown.
    stack = await charger(backend=V201, ocpp={"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": True})
    tag = new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(tag, "Invalid")]) == "Accepted"
    since = await _offline(stack)
    await tap_and_plug(stack, tag)
    await asyncio.sleep(12.0)  # past the backend's answer timeout: decided offline
    await stack.bench_request("link", state="up")
    await asyncio.sleep(3.0)
    assert [e for e in await events(stack, since)] == []
    await _clean(stack)


async def test_tc_c_25_cs_local_authorization_list_over_authorization_cache(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await cache(stack, tag)  # cached Accepted
    assert await send_list(stack, "Full", 1, [entry(tag, "Blocked")]) == "Accepted"
    await csms.request("set_id_tag", id_tag=tag, status="Blocked")
    since = await last_seq(stack)
    await tap_and_plug(stack, tag)
    await wait_for(stack, "Authorize", since=since)  # the list's Blocked, not the cache's Accepted
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    await _clean(stack)


# ---------------------------------------------------------------- C16 (and C09, C12): master pass
async def _master(charger: Any, csms: Any, **options: Any) -> tuple[Any, str]:
    """A charger whose master pass group is set, and a card of that group."""
    stack = await charger(backend=V201, **options)
    group, master = new_id_tag(), new_id_tag()
    await set_variable(stack, "AuthCtrlr", "MasterPassGroupId", group)
    await csms.request("set_id_tag", id_tag=master, status="Accepted", group_id_token=group)
    return stack, master


async def test_tc_c_49_cs_stop_transaction_with_master_pass_without_ui(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack, master = await _master(charger, csms, connectors=2)
    first, second = new_id_tag(), new_id_tag()
    one = (await start(stack, first, 1))["transactionInfo"]["transactionId"]
    two = (await start(stack, second, 2))["transactionInfo"]["transactionId"]
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=master)
    await wait_event(stack, "Ended", since)
    ended = await _wait_ended(stack, since, 2)
    assert {e["transactionInfo"]["transactionId"] for e in ended} == {one, two}
    for event in ended:
        assert event["transactionInfo"]["stoppedReason"] == "MasterPass"
        assert event["triggerReason"] == "StopAuthorized"
        assert event["idToken"]["idToken"] == master
    await _clean(stack)


async def _wait_ended(stack: Any, since: int, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        ended = [e for e in await events(stack, since) if e["eventType"] == "Ended"]
        if len(ended) >= count:
            return ended
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} Ended events: {await events(stack, since)}")


async def test_tc_c_45_cs_master_pass_not_able_to_start_transaction(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack, master = await _master(charger, csms)
    since = await last_seq(stack)
    await tap_and_plug(stack, master)
    await wait_for(stack, "Authorize", since=since)
    await expect_none(stack, "TransactionEvent", since, within=2.0)
    await _clean(stack)


async def test_tc_c_14_cs_cached_group_id_equal_to_master_pass_group_id(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack, master = await _master(charger, csms, ocpp=PRE_AUTHORIZE)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=master)  # asked once: cached, and starts nothing
    await wait_for(stack, "Authorize", since=since)
    await asyncio.sleep(DECIDED_S)
    owner = new_id_tag()
    await start(stack, owner)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=master)
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["stoppedReason"] == "MasterPass"
    assert await asked(stack, since) == []  # decided from the cache
    await _clean(stack)
