"""OCPP 2.0.1 customer information (N09 Get Customer Information, N10 Clear Customer
Information) over the real agent and the test CSMS.

What the charger holds about a token is put there the ordinary way (a card tapped and
answered by the backend fills the cache, a SendLocalList the list, a session the
journal), then asked for and cleared with CustomerInformation; the backend sees the
answer and the NotifyCustomerInformation messages that follow. Clearing never costs the
backend a transaction message: its ledger still gets a transaction cleared while it ran,
and while its last message waited offline, whole. Every test ends with no schema
violation in what the charger sent.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

from tests.conformance.helpers import expect_none, new_id_tag
from tests.conformance201.helpers import (
    V201,
    call,
    last_seq,
    ledger,
    messages,
    schema_violations,
    wait_event,
    wait_for,
)

CACHE_AND_LIST = {"AuthorizationCacheEnabled": True, "LocalAuthListEnabled": True}
CALL_ERROR = '[4,"$ID","InternalError","not processed",{}]'


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


def _token(tag: str) -> dict[str, str]:
    return {"idToken": tag, "type": "ISO14443"}


async def ask(stack: Any, request_id: int, report: bool, clear: bool, **customer: Any) -> tuple[str, int]:
    """Send CustomerInformation; return its status and the log position before it."""
    since = await last_seq(stack)
    answer = await call(stack, "CustomerInformation", {"requestId": request_id, "report": report, "clear": clear,
                                                       **customer})
    assert "error" not in answer, answer
    return str(answer["status"]), since


async def notified(stack: Any, request_id: int, since: int) -> list[dict[str, Any]]:
    """Every NotifyCustomerInformation of ``request_id`` after ``since``, up to the one
    with tbc not true (each at most 512 characters, numbered from 0)."""
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        pages = [m["payload"] for m in await messages(stack, "NotifyCustomerInformation", since)
                 if m["payload"]["requestId"] == request_id]
        if pages and not pages[-1].get("tbc", False):
            break
        assert asyncio.get_running_loop().time() < deadline, f"no complete report: {pages}\n{stack.agent_log()}"
        await asyncio.sleep(0.1)
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert all(len(p["data"]) <= 512 and p["generatedAt"].endswith("Z") for p in pages)
    return pages


def text(pages: list[dict[str, Any]]) -> str:
    return "\n".join(p["data"] for p in pages)


async def cached(stack: Any, tag: str) -> None:
    """Tap ``tag`` with no EV: the backend's Authorize answer fills the cache."""
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since)
    await asyncio.sleep(0.3)  # the answer is stored right after it arrives


async def session(stack: Any, tag: str) -> str:
    """A whole session of ``tag``, delivered; return its transactionId."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await stack.bench_request("wait_for", connector=1, field="energy_wh", value=1, op="ge", timeout=10)
    await stack.bench_request("tap", uid=tag)
    await wait_event(stack, "Ended", since)
    await stack.bench_request("unplug", connector=1)
    return str(started["transactionInfo"]["transactionId"])


async def booked_whole(stack: Any, tx: str, timeout: float = 15.0) -> dict[str, Any]:
    """The backend's ledger record of ``tx`` once its Ended event was answered (booked)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [t for t in await ledger(stack) if t.get("transaction_id") == tx]
        if found and found[0]["stopped"]:
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.2)


def sessions_json(stack: Any) -> list[dict[str, Any]]:
    """``ladda sessions --json`` on the agent's state directory (read while it runs)."""
    done = subprocess.run([sys.executable, "-m", "agent", "sessions", "--state-dir", str(stack.state_dir), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


async def token_gone(stack: Any, tx: str, timeout: float = 10.0) -> dict[str, Any]:
    """Wait until ``ladda sessions`` shows transaction ``tx`` without its token."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = next(r for r in sessions_json(stack) if r["tx_uid"] == tx)
        if row["id_tag"] == "":
            return row
        assert asyncio.get_running_loop().time() < deadline, row
        await asyncio.sleep(0.3)


async def test_tc_n_27_cs_get_customer_information_accepted_with_data(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    card, listed = new_id_tag(), new_id_tag()
    await cached(stack, card)
    answer = await call(stack, "SendLocalList", {"versionNumber": 2, "updateType": "Full", "localAuthorizationList": [
        {"idToken": _token(listed), "idTokenInfo": {"status": "Accepted"}}]})
    assert answer["status"] == "Accepted"
    status, since = await ask(stack, 27, True, False, idToken=_token(card))
    assert status == "Accepted"
    data = text(await notified(stack, 27, since))
    assert data.startswith(f"idToken {card} (ISO14443):") and "authorization cache: Accepted" in data
    status, since = await ask(stack, 127, True, False, idToken=_token(listed))
    assert status == "Accepted"
    assert "local authorization list (version 2): Accepted" in text(await notified(stack, 127, since))
    await _clean(stack)


async def test_tc_n_28_cs_get_customer_information_accepted_no_data(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    tag = new_id_tag()
    await cached(stack, tag)
    assert (await ask(stack, 1, False, True, idToken=_token(tag)))[0] == "Accepted"  # the case's preparation
    status, since = await ask(stack, 28, True, False, idToken=_token(tag))
    assert status == "Accepted"
    (page,) = await notified(stack, 28, since)
    assert page["tbc"] is False and "no data found" in page["data"]
    await _clean(stack)


async def test_tc_n_29_cs_get_customer_information_not_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    """Rejected: a request asking for neither a report nor a clear (N09.FR.07), which the
    charger is in no state to process; nothing follows."""
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    status, since = await ask(stack, 29, False, False, idToken=_token(new_id_tag()))
    assert status == "Rejected"
    await expect_none(stack, "NotifyCustomerInformation", since, within=2.0)
    await _clean(stack)


async def test_tc_n_30_cs_clear_and_report_with_data(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    tag = new_id_tag()
    tx = await session(stack, tag)  # its Started answer put the card in the cache
    await asyncio.sleep(0.5)
    assert next(r for r in sessions_json(stack) if r["tx_uid"] == tx)["id_tag"] == tag
    status, since = await ask(stack, 30, True, True, idToken=_token(tag))
    assert status == "Accepted"
    data = text(await notified(stack, 30, since))
    assert "authorization cache: Accepted" in data and f"transaction {tx}" in data
    assert f"cleared: the authorization cache entry; the token of transaction {tx}" in data
    # ladda sessions: the session is there, without its token.
    row = await token_gone(stack, tx)
    assert row["stopped_at"] and row["meter_stop_wh"] > row["meter_start_wh"]
    status, since = await ask(stack, 130, True, False, idToken=_token(tag))
    assert "no data found" in text(await notified(stack, 130, since))
    # The backend's record of the transaction is its own: untouched.
    assert (await booked_whole(stack, tx))["id_tag"] == tag
    await _clean(stack)


async def test_tc_n_31_cs_clear_and_report_no_data(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    status, since = await ask(stack, 31, True, True, idToken=_token(new_id_tag()))
    assert status == "Accepted"
    (page,) = await notified(stack, 31, since)
    assert "no data found" in page["data"]
    await _clean(stack)


async def test_tc_n_32_cs_clear_and_no_report(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    tag = new_id_tag()
    await cached(stack, tag)
    status, since = await ask(stack, 32, False, True, idToken=_token(tag))
    assert status == "Accepted"
    (page,) = await notified(stack, 32, since)  # N10.FR.06: one message saying what was cleared
    assert "cleared: the authorization cache entry" in page["data"] and "authorization cache: " not in page["data"]
    status, since = await ask(stack, 132, True, False, idToken=_token(tag))
    assert "no data found" in text(await notified(stack, 132, since))
    await _clean(stack)


async def test_tc_n_33_cs_clear_customer_information_invalid(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    tag = new_id_tag()
    await cached(stack, tag)
    status, since = await ask(stack, 33, True, True)  # no customer named
    assert status == "Invalid"
    status, _ = await ask(stack, 133, True, True, idToken=_token(tag), customerIdentifier=tag)  # two ways at once
    assert status == "Invalid"
    await expect_none(stack, "NotifyCustomerInformation", since, within=2.0)
    # Nothing was cleared.
    status, since = await ask(stack, 233, True, False, idToken=_token(tag))
    assert "authorization cache: Accepted" in text(await notified(stack, 233, since))
    await _clean(stack)


async def test_tc_n_62_cs_clear_and_report_customer_identifier(charger) -> None:  # type: ignore[no-untyped-def]
    """The charger knows customers by their tokens only: a customerIdentifier is matched
    against token values (the tester's "stored identifier" is a card it tapped)."""
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    tag = new_id_tag()
    await cached(stack, tag)
    status, since = await ask(stack, 62, True, True, customerIdentifier=tag)
    assert status == "Accepted"
    data = text(await notified(stack, 62, since))
    assert data.startswith(f"customerIdentifier {tag}") and "authorization cache: Accepted" in data
    status, since = await ask(stack, 162, True, False, customerIdentifier=tag)
    assert status == "Accepted"
    assert "no data found" in text(await notified(stack, 162, since))
    await _clean(stack)


async def test_a_customer_certificate_finds_no_data(charger) -> None:  # type: ignore[no-untyped-def]
    """No ISO 15118 contract certificates on this charger: Accepted, and nothing held."""
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    certificate = {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64,
                   "serialNumber": "1f"}
    status, since = await ask(stack, 63, True, True, customerCertificate=certificate)
    assert status == "Accepted"
    (page,) = await notified(stack, 63, since)
    assert page["data"].startswith("customerCertificate serial 1f:") and "no data found" in page["data"]
    await _clean(stack)


async def test_clearing_while_a_transaction_runs_and_while_its_end_waits_offline_loses_no_message(
        charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={**CACHE_AND_LIST, "TransactionMessageRetryInterval": 4})
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    tx = str(started["transactionInfo"]["transactionId"])
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    # Cleared while it runs: it keeps its token (stopped by the same card below).
    status, since = await ask(stack, 1, True, True, idToken=_token(tag))
    assert status == "Accepted"
    data = text(await notified(stack, 1, since))
    assert f"kept until the backend has it whole: the token of transaction {tx} (running)" in data
    await stack.bench_request("wait_for", connector=1, field="energy_wh", value=1, op="ge", timeout=10)
    # An outage: the card stops it offline, its Ended waits in the journal.
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    cut = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    await stack.bench_request("unplug", connector=1)
    # Back online, the first TransactionEvent is refused: the Ended waits for its retry...
    await csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent", frames=[CALL_ERROR])
    await stack.bench_request("link", state="up")
    await wait_for(stack, "TransactionEvent", since=cut, timeout=30)
    # ... and a second clear comes meanwhile: still kept, the message still to send.
    status, since = await ask(stack, 2, True, True, idToken=_token(tag))
    assert status == "Accepted"
    data = text(await notified(stack, 2, since))
    assert "(messages not yet delivered)" in data or "(running)" in data
    ended = await wait_event(stack, "Ended", cut, timeout=30)
    assert ended["idToken"]["idToken"] == tag and ended["offline"] is True
    # The backend's ledger has the transaction whole: begun, ended, by the card, every seqNo.
    booked = await booked_whole(stack, tx)
    assert booked["id_tag"] == tag and booked["energy_wh"] > 0
    assert sorted(set(booked["seq_nos"])) == list(range(max(booked["seq_nos"]) + 1))
    # Delivered: the token goes from the charger's record (in the commit of that delivery).
    row = await token_gone(stack, tx)
    assert row["pending_messages"] == 0 and row["meter_stop_wh"] == booked["meter_stop"]
    status, since = await ask(stack, 3, True, False, idToken=_token(tag))
    assert "no data found" in text(await notified(stack, 3, since))
    await _clean(stack)


async def test_the_log_names_a_cleared_customer_by_a_salted_hash_never_the_token(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp=CACHE_AND_LIST)
    tag = new_id_tag()
    await cached(stack, tag)
    agent_log = stack.workdir / "agent.log"
    before = agent_log.read_text(errors="replace").count(tag)
    status, since = await ask(stack, 41, False, True, idToken=_token(tag))
    assert status == "Accepted"
    await notified(stack, 41, since)
    log = agent_log.read_text(errors="replace")
    assert log.count(tag) == before  # the erasure itself wrote no new line naming the token
    [line] = [json.loads(x) for x in log.splitlines() if '"customer information"' in x and x.startswith("{")]
    assert line["request_id"] == 41 and line["customer"].startswith("idToken #")
    await _clean(stack)
