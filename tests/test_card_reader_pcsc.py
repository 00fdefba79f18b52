"""Cards end to end through PC/SC: a virtual card on vpcd, a real pcscd, the agent's PC/SC
driver, and the backend that authorises and bills the card.

The bench (``--reader pcsc``) holds the card on the reader until a driver has read its
UID; it pulls the reader out and restarts pcscd from its control channel. pcscd must
be startable here (root, the Debian packages pcscd and vsmartcard-vpcd): otherwise the
bench refuses to start and says what is missing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from simulators.control import ControlError
from tests.conformance.helpers import last_seq, messages, wait_status

CARD = "04A1B2C3D4E5F6"  # a 7-byte ISO 14443-A UID, as on most access badges


async def reader_reports(stack: Any, since: int) -> list[tuple[str, str]]:
    """Connector 0's (status, errorCode) reports since ``since``."""
    return [(m["payload"]["status"], m["payload"]["errorCode"])
            for m in await messages(stack, "StatusNotification", since) if m["payload"]["connectorId"] == 0]


async def wait_reader_report(stack: Any, since: int, error_code: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (reports := await reader_reports(stack, since)) == [] or reports[-1][1] != error_code:
        assert time.monotonic() < deadline, f"connector 0 never reported {error_code}; reported {reports}"
        await asyncio.sleep(0.1)


async def test_a_card_tapped_on_the_pcsc_reader_starts_and_stops_a_transaction(charger):
    stack = await charger(reader="pcsc")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_status(stack, 1, "Preparing", since)
    tapped = await stack.bench_request("tap", uid=CARD)
    assert tapped["delivered"] >= 1  # the agent's driver sent FF CA 00 00 00 to the card
    await wait_status(stack, 1, "Charging", since)
    [start] = await messages(stack, "StartTransaction", since)
    assert start["payload"]["idTag"] == CARD  # [reader] uid_format = "hex": the UID as printed on the badge
    [authorize] = await messages(stack, "Authorize", since)
    assert authorize["payload"]["idTag"] == CARD

    await stack.bench_request("tap", uid=CARD)  # the same badge again, seconds later: the driver stops
    await wait_status(stack, 1, "Finishing", since)
    [stop] = await messages(stack, "StopTransaction", since)
    assert (stop["payload"]["reason"], stop["payload"]["idTag"]) == ("Local", CARD)
    status = await stack.bench_request("status")
    assert (status["reader"], status["card_taps"]) == ("pcsc", 2)


async def test_an_unplugged_reader_is_a_reader_failure_and_its_return_clears_it(charger):
    stack = await charger(reader="pcsc")
    since = await last_seq(stack)
    await stack.bench_request("reader", plugged=False)
    await wait_reader_report(stack, since, "ReaderFailure")
    assert (await reader_reports(stack, since))[-1] == ("Available", "ReaderFailure")  # a warning: remote starts still work
    assert (await stack.bench_request("tap", uid=CARD))["delivered"] == 0  # no reader, no read

    back = await last_seq(stack)
    await stack.bench_request("reader", plugged=True)
    await wait_reader_report(stack, back, "NoError")
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_status(stack, 1, "Preparing", back)
    assert (await stack.bench_request("tap", uid=CARD))["delivered"] >= 1
    await wait_status(stack, 1, "Charging", back)


async def test_the_reader_driver_survives_a_pcscd_restart(charger):
    stack = await charger(reader="pcsc")
    await stack.bench_request("pcscd_restart")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_status(stack, 1, "Preparing", since)
    # The driver's context died with the old pcscd; it must have found the new one.
    assert (await stack.bench_request("tap", uid=CARD))["delivered"] >= 1
    await wait_status(stack, 1, "Charging", since)
    failures = [r for r in await reader_reports(stack, 0) if r[1] == "ReaderFailure"]
    cleared = [r for r in await reader_reports(stack, 0) if r[1] == "NoError"]
    # A restart may be seen as a short ReaderFailure; if so, it was cleared again.
    assert len(cleared) >= len(failures), await reader_reports(stack, 0)


async def test_a_socket_reader_bench_refuses_the_pcsc_faults_with_the_reason(charger):
    stack = await charger()
    for command, args in (("reader", {"plugged": False}), ("pcscd_restart", {})):
        with pytest.raises(ControlError, match="sim reader over its socket.*--reader pcsc"):
            await stack.bench_request(command, **args)
