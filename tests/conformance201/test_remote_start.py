"""OCPP 2.0.1 remote start (F01/F02) over the real agent and the test CSMS: what the
Started event says of the request that began it, and what a request that never became a
transaction leaves behind.

- The idToken's *type* is the request's (Central, KeyCode, MacAddress, NoAuthorization,
  ...): a CSMS keys tokens by value and type, so a Central token reported as an ISO14443
  card would be another, unknown token. A local tap stays ISO14443 (the reader's type).
- A request's remoteStartId goes with its authorization: one that lapses (no EV within
  ConnectionTimeOut) or is refused leaves nothing for a later local start of the same
  token, and a second request for the same token on another EVSE keeps its own id.
- The CSMS's verdict in the Started answer is kept with the transaction: one it refused
  and that goes on suspended (StopTxOnInvalidId false) is not resumed after a power cut.

The test CSMS answers every token by value (unknown ones Accepted), so these tests look
at what the charger sends. Every test ends with no schema violation.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from tests.conformance.helpers import new_id_tag, wait_rebooted
from tests.conformance201.helpers import V201, call, events, last_seq, messages, schema_violations, wait_event


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


async def _request_start(stack: Any, tag: str, kind: str, remote_start_id: int, evse: int | None = 1) -> str:
    payload: dict[str, Any] = {"idToken": {"idToken": tag, "type": kind}, "remoteStartId": remote_start_id}
    if evse is not None:
        payload["evseId"] = evse
    answer = await call(stack, "RequestStartTransaction", payload)
    return str(answer["status"])


async def _started_on(stack: Any, evse: int, since: int, timeout: float = 15.0) -> dict[str, Any]:
    """The Started event of ``evse`` after ``since``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for e in await events(stack, since):
            if e["eventType"] == "Started" and e["evse"]["id"] == evse:
                return e
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no Started event on EVSE {evse}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)


async def wait_sent(stack: Any, action: str, since: int) -> None:
    """Wait until the charger sent ``action`` after ``since``."""
    await stack.csms.request("wait_for", cp=stack.cp_id, action=action, since_seq=since, timeout=10)


async def wait_charging_state(stack: Any, since: int, state: str, timeout: float = 15.0) -> None:
    """Wait for an event after ``since`` saying the transaction's chargingState is ``state``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        states = [e["transactionInfo"].get("chargingState") for e in await events(stack, since)]
        if state in states:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never {state}: {states}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- the token's type
@pytest.mark.parametrize("kind", ["Central", "KeyCode", "MacAddress", "NoAuthorization"])
async def test_tc_f_03_cs_remote_start_first_keeps_the_token_type(charger, kind: str) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    tag = "" if kind == "NoAuthorization" else new_id_tag()
    assert await _request_start(stack, tag, kind, 7) == "Accepted"
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    assert started["idToken"] == {"idToken": tag, "type": kind}
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 7
    await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    assert "Ended" not in [e["eventType"] for e in await events(stack, since)]  # the CSMS accepted it
    await _clean(stack)


async def test_tc_f_01_cs_cable_plugin_first_keeps_the_token_type(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    await stack.bench_request("plug", connector=1, max_current=16)
    since = await last_seq(stack)
    tag = new_id_tag()
    assert await _request_start(stack, tag, "eMAID", 8) == "Rejected"  # it needs ISO 15118
    assert await _request_start(stack, tag, "ISO15693", 8) == "Accepted"
    started = await wait_event(stack, "Started", since)
    assert started["idToken"] == {"idToken": tag, "type": "ISO15693"}
    assert started["transactionInfo"]["remoteStartId"] == 8
    # A card with the same characters is another token: its tap does not stop the transaction.
    await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    await stack.bench_request("tap", uid=tag)
    await asyncio.sleep(2.0)
    assert "Ended" not in [e["eventType"] for e in await events(stack, since)]
    await _clean(stack)


async def test_tc_f_02_cs_authorize_remote_start_asks_with_the_token_type(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"AuthorizeRemoteTxRequests": True})
    since = await last_seq(stack)
    tag = new_id_tag()
    assert await _request_start(stack, tag, "Central", 9) == "Accepted"
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    authorize = [m["payload"] for m in await messages(stack, "Authorize", since)]
    assert [a["idToken"] for a in authorize] == [{"idToken": tag, "type": "Central"}]
    assert started["idToken"] == {"idToken": tag, "type": "Central"}
    assert started["transactionInfo"]["remoteStartId"] == 9
    await _clean(stack)


async def test_tc_e_03_cs_a_local_tap_stays_iso14443_after_a_remote_start(charger) -> None:  # type: ignore[no-untyped-def]
    """A remote start of another token on EVSE 1 does not change a card's type on EVSE 2."""
    stack = await charger(backend=V201, connectors=2)
    since = await last_seq(stack)
    central, card = new_id_tag(), new_id_tag()
    assert await _request_start(stack, central, "Central", 10) == "Accepted"
    await stack.bench_request("plug", connector=2, max_current=16)
    await stack.bench_request("tap", uid=card)
    local = await _started_on(stack, 2, since)
    assert local["idToken"] == {"idToken": card, "type": "ISO14443"}
    assert local["triggerReason"] == "Authorized" and "remoteStartId" not in local["transactionInfo"]
    await stack.bench_request("plug", connector=1, max_current=16)
    remote = await _started_on(stack, 1, since)
    assert remote["idToken"] == {"idToken": central, "type": "Central"}
    await _clean(stack)


# ---------------------------------------------------------------- remoteStartId
async def test_tc_f_04_cs_remote_start_cable_plugin_timeout_leaves_no_remote_start_id(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"ConnectionTimeOut": 2})
    tag = new_id_tag()
    assert await _request_start(stack, tag, "ISO14443", 77) == "Accepted"
    await asyncio.sleep(4.0)  # no EV within ConnectionTimeOut: the remote start lapses
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)  # later, the same card, locally
    started = await wait_event(stack, "Started", since)
    assert started["triggerReason"] == "Authorized"
    assert "remoteStartId" not in started["transactionInfo"]
    assert started["idToken"] == {"idToken": tag, "type": "ISO14443"}
    await _clean(stack)


async def test_tc_f_02_cs_refused_remote_start_leaves_no_remote_start_id(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"AuthorizeRemoteTxRequests": True})
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Blocked")
    since = await last_seq(stack)
    assert await _request_start(stack, tag, "ISO14443", 78) == "Accepted"
    await wait_sent(stack, "Authorize", since)
    await asyncio.sleep(1.0)  # the refusal reaches the machine
    await csms.request("set_id_tag", id_tag=tag, status="Accepted")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    assert started["triggerReason"] == "Authorized"
    assert "remoteStartId" not in started["transactionInfo"]
    await _clean(stack)


async def test_tc_f_03_cs_two_remote_starts_of_one_token_keep_their_ids(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, connectors=2)
    tag = new_id_tag()
    since = await last_seq(stack)
    assert await _request_start(stack, tag, "Central", 11, evse=1) == "Accepted"
    assert await _request_start(stack, tag, "Central", 22, evse=2) == "Accepted"
    await stack.bench_request("plug", connector=2, max_current=16)
    second = await _started_on(stack, 2, since)
    await stack.bench_request("plug", connector=1, max_current=16)
    first = await _started_on(stack, 1, since)
    assert (first["triggerReason"], first["transactionInfo"].get("remoteStartId")) == ("RemoteStart", 11)
    assert (second["triggerReason"], second["transactionInfo"].get("remoteStartId")) == ("RemoteStart", 22)
    await _clean(stack)


# ---------------------------------------------------------------- the Started verdict
async def test_tc_c_17_cs_a_refused_transaction_is_not_resumed_after_a_power_cut(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """StopTxOnInvalidId false: the transaction the CSMS refused in its Started answer goes
    on without energy; after a kill -9 with ``recovery = "resume"`` and the EV still
    plugged in, it is ended (PowerLoss), as under 1.6, not resumed."""
    stack = await charger(backend=V201, ocpp={"StopTransactionOnInvalidId": False},
                          unfinished_transactions="resume")
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    since = await last_seq(stack)
    assert await _request_start(stack, tag, "Central", 12) == "Accepted"
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    tx = started["transactionInfo"]["transactionId"]
    await wait_charging_state(stack, since, "SuspendedEVSE")
    restart = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)
    await stack.start_agent()
    await wait_rebooted(stack, restart)
    ended = await wait_event(stack, "Ended", restart)
    assert ended["transactionInfo"]["transactionId"] == tx
    assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss"
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False
    await _clean(stack)
