"""The screen's words at each step on the 1.6 bench, with the runtime's real hooks, for a
charger without a display (``[display] driver = "none"``; the bench's display stays
unused): the agent logs each change of a connector's text (and the same words go to the
systemd status line, see tests/test_systemd_notify.py). One stack walks through a refused
card, a session, a fault and the offline mode. The same steps on the bench's real display
are tests/conformance/test_screen16.py."""

from __future__ import annotations

import asyncio
import json
import time

from tests.conformance.helpers import last_seq, new_id_tag, plug_and_charge, wait_status
from simulators.harness import Stack


def screen_texts(stack: Stack) -> list[str]:
    texts = []
    for line in stack.agent_log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "screen":
            texts.append(str(entry["text"]))
    return texts


async def wait_screen(stack: Stack, text: str, timeout: float = 10.0, since: int = 0) -> None:
    """Wait until the screen says ``text`` (after its first ``since`` texts)."""
    deadline = time.monotonic() + timeout
    while text not in screen_texts(stack)[since:]:
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen never said {text!r}; it said {screen_texts(stack)}")
        await asyncio.sleep(0.1)


async def test_the_screen_at_each_step_of_a_session(csms, charger) -> None:
    stack = await charger(sections={"operator": {"name": "Ladda", "phone": "+46 8 123 45"},
                                    "screen": {"finished_seconds": 2}, "display": {"driver": "none"}},
                          ocpp={"LocalAuthorizeOffline": False, "AllowOfflineTxForUnknownId": False})
    await wait_screen(stack, "Ready to use | Tap your card")

    refused = new_id_tag()
    await csms.request("set_id_tag", id_tag=refused, status="Invalid")
    await stack.bench_request("tap", uid=refused)
    await wait_screen(stack, "Card refused | Unknown card")

    await plug_and_charge(stack, id_tag=new_id_tag())
    await wait_screen(stack, "Charging")  # (the log leaves the moving values out)
    said = screen_texts(stack)
    between = said[said.index("Card accepted | Please wait"):said.index("Charging")]
    assert "Tap your card" not in between, said  # once accepted, never asked for a card again

    since = await last_seq(stack)
    await stack.bench_request("rcd", connector=1, tripped=True)
    await wait_status(stack, 1, "Faulted", since)
    await wait_screen(stack, "Out of order | Earth fault | Ladda | Call +46 8 123 45")
    await stack.bench_request("rcd", connector=1, tripped=False)
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "Available", since)
    await wait_screen(stack, "Finished")  # the ended session's energy, cost and time stay a while
    mark = len(screen_texts(stack))
    await wait_screen(stack, "Ready to use | Tap your card", since=mark)

    mark = len(screen_texts(stack))
    await stack.bench_request("link", state="cut")
    await wait_screen(stack, "Ready to use | Tap your card | Offline mode", timeout=30, since=mark)
    await stack.bench_request("tap", uid=new_id_tag())
    await wait_screen(stack, "Card refused | Not when offline", since=mark)
