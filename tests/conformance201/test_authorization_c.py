"""OCPP 2.0.1 Authorization (block C), the cases ``test_authorization.py`` leaves: a
refused card on a socket outlet with a cable lock (C01), a Blocked card in the cache
(C12), the cache updated by an AuthorizeResponse through a whole transaction (C10), a
GroupId member the cache calls Invalid (C09), and the local authorization list offline
(C13: Blocked, Expired) and online (C14: Accepted, Invalid, Blocked, Expired, Invalid
yet Accepted by the backend).

Written from the official case list and the OCTT steps: the EV is connected before the
card is presented (the reusable state EVConnectedPreSession) wherever the case says so.
Whether the charger decided on its own is seen from the backend: a card decided by the
cache or the list needs no Authorize request; a card they do not accept is asked about
(C12.FR.05, C14.FR.02). The backend's answers come from the CSMS's ``set_id_tag``
policy (unknown tokens are Accepted). Every test ends with no schema violation in what
the charger sent.

The case list names TC_C_10, TC_C_23 and TC_C_29 "Restricted"; the final OCTT text
tests them with the status Blocked, which is what these tests use, and two more tests
hold the cache and the offline list to the restricting statuses 2.0.1 adds (NoCredit,
NotAllowedTypeEVSE, NotAtThisLocation, NotAtThisTime).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.conformance.helpers import expect_none, new_id_tag
from tests.conformance201.helpers import (
    V201,
    events,
    last_seq,
    messages,
    schema_violations,
    wait_connector,
    wait_event,
    wait_for,
)
from tests.conformance201.test_authorization import DECIDED_S, asked, cache
from tests.conformance201.test_local_list import entry, send_list

#: The cache and the list decide before the backend is asked (AuthCtrlr.LocalPreAuthorize).
PRE_AUTHORIZE = {"LocalPreAuthorize": True, "LocalAuthListEnabled": True}
#: How long the OCTT waits for a message that must not come (its configured message timeout).
MESSAGE_TIMEOUT_S = 2.5


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


async def ev_connected(stack: Any, evse: int = 1) -> None:
    """The reusable state EVConnectedPreSession: an EV plugged in, seen by the backend."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=evse, max_current=16)
    await wait_connector(stack, evse, "Occupied", since)


async def authorize_asked(stack: Any, tag: str, since: int) -> None:
    """Wait for the Authorize the charger sends about ``tag``; the OCTT checks its idToken."""
    found = await wait_for(stack, "Authorize", since=since)
    assert found[0]["idToken"] == {"idToken": tag, "type": "ISO14443"}, found


async def refused_after_asking(stack: Any, tag: str) -> None:
    """Present ``tag`` with the EV connected: asked about once, and no transaction follows."""
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await authorize_asked(stack, tag, since)
    await expect_none(stack, "TransactionEvent", since, within=MESSAGE_TIMEOUT_S)
    assert await asked(stack, since) == [tag]


async def started_by(stack: Any, tag: str) -> tuple[dict[str, Any], int]:
    """Present ``tag`` with the EV connected; return the Started event (once charging) and
    the log position before the tap."""
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    assert started["triggerReason"] == "Authorized", started
    assert started["idToken"] == {"idToken": tag, "type": "ISO14443"}, started
    charging = await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    assert charging["transactionInfo"]["chargingState"] == "Charging", charging
    return started, since


# ---------------------------------------------------------------- C01: cable lock
async def test_tc_c_05_cs_authorization_invalid_cable_lock(charger, csms) -> None:  # type: ignore[no-untyped-def]
    # A socket outlet whose cable lock the charger drives. The case's lock keeps the
    # cable out until the driver is authorized, so the card comes before any EV (this
    # bench's lock holds a plugged cable; the cable goes in after the refusal here).
    stack = await charger(backend=V201, lock=True)
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await authorize_asked(stack, tag, since)  # step 1
    # C01.FR.02: answered Invalid, so no TransactionEvent after the AuthorizeRequest.
    await expect_none(stack, "TransactionEvent", since, within=MESSAGE_TIMEOUT_S)
    status = await stack.bench_request("status")
    assert status["connectors"][0]["locked"] is False  # nothing locked for a refused card
    # Nor is the refusal forgotten once a cable is in: no transaction for that card.
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await expect_none(stack, "TransactionEvent", since, within=MESSAGE_TIMEOUT_S)
    await _clean(stack)


# ---------------------------------------------------------------- C12: the cache
async def test_tc_c_10_cs_cache_blocked(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Blocked")
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)  # memory state: IdTokenCached, Blocked
    await authorize_asked(stack, tag, since)
    await asyncio.sleep(DECIDED_S)
    await ev_connected(stack)
    # C12.FR.05: a cached token that is not Accepted is asked about (step 1), and the
    # backend's Blocked (step 2) starts nothing.
    await refused_after_asking(stack, tag)
    await _clean(stack)


#: The refusals 2.0.1 adds to 1.6's, which the case list's "Restricted" also covers.
RESTRICTED = ("NoCredit", "NotAllowedTypeEVSE", "NotAtThisLocation", "NotAtThisTime")


async def test_tc_c_10_cs_cache_restricted_statuses_of_2_0_1(charger, csms) -> None:  # type: ignore[no-untyped-def]
    # TC_C_10 with each other status that restricts a token: cached from the backend's
    # answer, asked about again (C12.FR.05) and refused again.
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tags = {status: new_id_tag() for status in RESTRICTED}
    for status, tag in tags.items():
        await csms.request("set_id_tag", id_tag=tag, status=status)
        since = await last_seq(stack)
        await stack.bench_request("tap", uid=tag)
        await authorize_asked(stack, tag, since)
        await asyncio.sleep(DECIDED_S)
    await ev_connected(stack)
    for tag in tags.values():
        await refused_after_asking(stack, tag)
        await asyncio.sleep(DECIDED_S)
    await _clean(stack)


# ---------------------------------------------------------------- C10: cache updates
async def test_tc_c_33_cs_cache_updated_on_authorize_response_through_a_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    # The OCTT's own sequence (test_authorization.py checks the same rule on a card
    # presented without an EV): an Accepted AuthorizeResponse, a whole transaction, and
    # the card presented again is decided from the cache.
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    await ev_connected(stack)
    started, since = await started_by(stack, tag)  # steps 1-5: asked once, then the transaction
    assert await asked(stack, since) == [tag]
    assert started["transactionInfo"]["chargingState"] in ("EVConnected", "Charging"), started
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)  # StopAuthorized
    ended = await wait_event(stack, "Ended", since)
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    await stack.bench_request("unplug", connector=1)
    await wait_connector(stack, 1, "Available", since)
    await ev_connected(stack)
    again, since = await started_by(stack, tag)
    # C10.FR.04 / C12.FR.06 (with LocalPreAuthorize): no AuthorizeRequest this time.
    assert await asked(stack, since) == []
    assert again["transactionInfo"]["transactionId"] != started["transactionInfo"]["transactionId"]
    await _clean(stack)


# ---------------------------------------------------------------- C09: GroupId with the cache
async def test_tc_c_44_cs_group_id_invalid_status_with_authorization_cache(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    owner, member, group = new_id_tag(), new_id_tag(), new_id_tag()
    await csms.request("set_id_tag", id_tag=owner, status="Accepted", group_id_token=group)
    await csms.request("set_id_tag", id_tag=member, status="Invalid", group_id_token=group)
    await cache(stack, owner)  # memory state: both cached, the member as Invalid
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    await authorize_asked(stack, member, since)
    await asyncio.sleep(DECIDED_S)
    await ev_connected(stack)
    _, since = await started_by(stack, owner)  # step 1: the owner's transaction, from the cache
    assert await asked(stack, since) == []
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    # The member is not Accepted in the cache: asked about (C12.FR.05), answered Invalid,
    # and its GroupId stops nothing (C09.FR.03 needs an Accepted token; C09.FR.07).
    await authorize_asked(stack, member, since)
    await expect_none(stack, "TransactionEvent", since, within=MESSAGE_TIMEOUT_S)
    assert await asked(stack, since) == [member]
    await _clean(stack)


# ---------------------------------------------------------------- C13: offline, the list
def expired_entry(tag: str) -> dict[str, Any]:
    """A list entry Accepted, but whose cacheExpiryDateTime ("after which the token must be
    considered invalid") has passed."""
    data = entry(tag)
    past = datetime.now(timezone.utc) - timedelta(minutes=5)
    data["idTokenInfo"]["cacheExpiryDateTime"] = past.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return data


async def refused_offline(charger: Any, entries: list[dict[str, Any]]) -> None:
    """Send ``entries`` as the list, go offline, connect the EV and present each token in
    turn: each is refused at once (the refused card's red light), nothing closes, and the
    backend, once back, hears of no transaction.

    Unknown tokens are allowed offline: a token the list knows but does not accept is not
    unknown (C13.FR.02), so that setting must not let it in."""
    stack = await charger(backend=V201, ocpp={**PRE_AUTHORIZE, "LocalAuthorizeOffline": True,
                                              "AllowOfflineTxForUnknownId": True})
    assert await send_list(stack, "Full", 1, entries) == "Accepted"
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    cut = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("wait_for", connector=1, field="pilot_reads", value=5, op="ge", timeout=10)
    for data in entries:
        await stack.bench_request("tap", uid=data["idToken"]["idToken"])
        await stack.bench_request("wait_for", connector=1, field="leds", value=["red"], timeout=15)
        await stack.bench_request("wait_for", connector=1, field="leds", value=["red"], op="ne", timeout=5)
        status = await stack.bench_request("status")
        assert status["connectors"][0]["contactor_closed"] is False, data
    await stack.bench_request("link", state="up")
    await wait_connector(stack, 1, "Occupied", cut, timeout=30)  # back online: the EV is told
    await expect_none(stack, "TransactionEvent", cut, within=MESSAGE_TIMEOUT_S)
    assert await events(stack, cut) == []
    await _clean(stack)


async def test_tc_c_23_cs_and_c_24_cs_offline_local_list_blocked_and_expired(charger) -> None:  # type: ignore[no-untyped-def]
    await refused_offline(charger, [
        entry(new_id_tag(), "Blocked"),  # TC_C_23
        entry(new_id_tag(), "Expired"),  # TC_C_24
        expired_entry(new_id_tag()),  # TC_C_24, expired by its date
    ])


async def test_tc_c_23_cs_offline_local_list_restricted_statuses_of_2_0_1(charger) -> None:  # type: ignore[no-untyped-def]
    # TC_C_23 with each other status that restricts a token on the list.
    await refused_offline(charger, [entry(new_id_tag(), status) for status in RESTRICTED])


# ---------------------------------------------------------------- C14: online, the list
async def test_tc_c_27_cs_online_local_list_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(tag)]) == "Accepted"
    await ev_connected(stack)
    _, since = await started_by(stack, tag)
    assert await asked(stack, since) == []  # C14.FR.01: Accepted on the list, no AuthorizeRequest
    await _clean(stack)


async def test_tc_c_28_cs_to_c_30_cs_online_local_list_not_accepted(charger, csms) -> None:  # type: ignore[no-untyped-def]
    # One EV connected; each token the list does not accept is asked about (C14.FR.02)
    # and the backend's answer, the same status, starts nothing.
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    cases = {"Invalid": new_id_tag(), "Blocked": new_id_tag(), "Expired": new_id_tag()}  # TC_C_28_CS, TC_C_29_CS, TC_C_30_CS
    by_date = new_id_tag()  # TC_C_30: Accepted on the list, but past its cacheExpiryDateTime
    entries = [entry(tag, status) for status, tag in cases.items()] + [expired_entry(by_date)]
    assert await send_list(stack, "Full", 1, entries) == "Accepted"
    for status, tag in [*cases.items(), ("Expired", by_date)]:
        await csms.request("set_id_tag", id_tag=tag, status=status)
    await ev_connected(stack)
    for tag in [*cases.values(), by_date]:
        await refused_after_asking(stack, tag)
        await asyncio.sleep(DECIDED_S)
    await _clean(stack)


async def test_tc_c_31_cs_online_local_list_invalid_and_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()  # the backend knows nothing against it: Accepted
    assert await send_list(stack, "Full", 1, [entry(tag, "Invalid")]) == "Accepted"
    await ev_connected(stack)
    _, since = await started_by(stack, tag)  # the backend's answer is obeyed
    assert await asked(stack, since) == [tag]  # C14.FR.02: Invalid on the list, asked first
    found = await messages(stack, "Authorize", since)
    first_event = min(m["seq"] for m in await messages(stack, "TransactionEvent", since))
    assert found[0]["seq"] < first_event  # asked before the transaction started
    await _clean(stack)
