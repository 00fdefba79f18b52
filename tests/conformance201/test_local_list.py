"""OCPP 2.0.1 Local Authorization List Management (block D: D01 SendLocalList, D02
GetLocalListVersion) over the real agent and the test CSMS.

Whether the charger uses the list is seen from the backend: with ``LocalPreAuthorize`` a
card the list accepts starts a transaction without an Authorize request, and a card it
does not know (or no longer knows) is asked about first. Every test ends with no schema
violation in what the charger sent.
"""

from __future__ import annotations

import signal
from typing import Any

from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import (
    V201,
    call,
    last_seq,
    messages,
    schema_violations,
    wait_event,
    wait_for,
)

PRE_AUTHORIZE = {"LocalPreAuthorize": True, "LocalAuthListEnabled": True}


def entry(tag: str, status: str | None = "Accepted", group: str | None = None) -> dict[str, Any]:
    """An AuthorizationData; ``status`` None: without idTokenInfo (a removal in a Differential)."""
    data: dict[str, Any] = {"idToken": {"idToken": tag, "type": "ISO14443"}}
    if status is not None:
        data["idTokenInfo"] = {"status": status}
        if group is not None:
            data["idTokenInfo"]["groupIdToken"] = {"idToken": group, "type": "Central"}
    return data


async def send_list(stack: Any, update_type: str, version: int, entries: list[dict[str, Any]] | None) -> str:
    payload: dict[str, Any] = {"versionNumber": version, "updateType": update_type}
    if entries is not None:
        payload["localAuthorizationList"] = entries
    answer = await call(stack, "SendLocalList", payload)
    assert "error" not in answer, answer
    return str(answer["status"])


async def list_version(stack: Any) -> int:
    answer = await call(stack, "GetLocalListVersion", {})
    assert "error" not in answer, answer
    return int(answer["versionNumber"])


async def started_without_asking(stack: Any, tag: str) -> None:
    """Tap and plug: the transaction starts, and the backend was never asked about ``tag``."""
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("plug", connector=1, max_current=16)
    started = await wait_event(stack, "Started", since)
    assert started["idToken"]["idToken"] == tag
    assert [m for m in await messages(stack, "Authorize", since)] == []


async def asked_about(stack: Any, tag: str) -> None:
    """Tap: the charger asks the backend about ``tag`` (the list did not decide)."""
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    found = await wait_for(stack, "Authorize", since=since)
    assert found[0]["idToken"]["idToken"] == tag


async def restart(stack: Any, sig: int = signal.SIGKILL) -> None:
    """Stop the agent (SIGKILL: a power cut), start it again, wait until it booted."""
    since = await last_seq(stack)
    await stack.stop_agent(sig)
    await stack.start_agent()
    await stack.wait_booted(since_seq=since)


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


async def test_tc_d_01_cs_send_local_list_full(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 3, [entry(tag), entry(new_id_tag(), "Blocked")]) == "Accepted"
    assert await list_version(stack) == 3
    await started_without_asking(stack, tag)
    await _clean(stack)


async def test_tc_d_02_cs_send_local_list_differential_update(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    first, added = new_id_tag(), new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(first)]) == "Accepted"
    assert await send_list(stack, "Differential", 2, [entry(added), entry(first, "Blocked")]) == "Accepted"
    assert await list_version(stack) == 2
    await started_without_asking(stack, added)
    await asked_about(stack, first)  # Blocked now: not accepted from the list
    await _clean(stack)


async def test_tc_d_03_cs_send_local_list_differential_remove(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    kept, removed = new_id_tag(), new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(kept), entry(removed)]) == "Accepted"
    assert await send_list(stack, "Differential", 2, [entry(removed, status=None)]) == "Accepted"
    assert await list_version(stack) == 2
    await asked_about(stack, removed)
    await _clean(stack)


async def test_tc_d_04_cs_send_local_list_full_with_empty_list(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 4, [entry(tag)]) == "Accepted"
    assert await send_list(stack, "Full", 5, None) == "Accepted"
    assert await list_version(stack) == 5  # an emptied list keeps the version it was sent with
    await asked_about(stack, tag)
    await _clean(stack)


async def test_tc_d_05_cs_send_local_list_differential_with_empty_list(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 4, [entry(tag)]) == "Accepted"
    assert await send_list(stack, "Differential", 6, None) == "Accepted"
    assert await list_version(stack) == 6
    await started_without_asking(stack, tag)  # nothing but the version changed
    await _clean(stack)


async def test_tc_d_06_cs_send_local_list_version_mismatch(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 8, [entry(new_id_tag())]) == "Accepted"
    assert await send_list(stack, "Differential", 8, [entry(tag)]) == "VersionMismatch"
    assert await send_list(stack, "Differential", 7, [entry(tag)]) == "VersionMismatch"
    assert await list_version(stack) == 8
    # D01.FR.18: a version number is greater than 0, for either type.
    assert await send_list(stack, "Full", 0, [entry(tag)]) == "Failed"
    assert await send_list(stack, "Differential", 0, None) == "Failed"
    # The same token twice in one request is Failed, and nothing changes.
    assert await send_list(stack, "Full", 9, [entry(tag), entry(tag, "Blocked")]) == "Failed"
    assert await list_version(stack) == 8
    await asked_about(stack, tag)
    await _clean(stack)


async def test_tc_d_07_cs_send_local_list_persistent_over_reboot(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 17, [entry(tag)]) == "Accepted"
    await restart(stack)
    assert await list_version(stack) == 17
    await started_without_asking(stack, tag)
    await _clean(stack)


async def test_tc_d_08_cs_get_local_list_version_success(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    assert await list_version(stack) == 0  # no list yet
    assert await send_list(stack, "Full", 42, [entry(new_id_tag())]) == "Accepted"
    assert await list_version(stack) == 42
    await _clean(stack)


async def test_tc_d_10_cs_get_local_list_version_function_disabled(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 5, [entry(tag)]) == "Accepted"
    answer = await call(stack, "SetVariables", {"setVariableData": [{
        "component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Enabled"}, "attributeValue": "false"}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert await list_version(stack) == 0  # D02.FR.03
    assert await send_list(stack, "Full", 6, [entry(new_id_tag())]) == "Failed"
    await asked_about(stack, tag)  # a disabled list decides nothing
    await _clean(stack)


async def test_a_list_status_2_0_1_adds_is_a_refusal(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=PRE_AUTHORIZE)
    tag = new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(tag, "NoCredit")]) == "Accepted"
    await asked_about(stack, tag)  # NoCredit on the list: not accepted from it
    await _clean(stack)
