"""Replay after a day offline: how fast the agent drains its journal on reconnect.

A day of offline activity is written into a fresh state database through the journal
(what the agent itself would have recorded): sessions back to back on one connector,
a MeterValues every 30 s while charging. The agent then starts with the backend
reachable and sends it all. The same messages, in the same order, are then sent by a
bare ``ocpp`` library client to the same backend over the same path (the bench's link
proxy, with the agent up and idle behind it, so the relay works under the same load),
each as soon as the previous one is answered: the fastest a correct in-order sender can
go over one websocket. The ratio
of the two is the cost of the agent's durability (a committed acknowledgement per
message) and bookkeeping. Over OCPP 1.6 (StartTransaction, MeterValues, StopTransaction)
or 2.0.1 (the same journal as TransactionEvents; the library client is then the ``ocpp``
library's 2.0.1 ChargePoint): ``replay(csms, root, ocpp="2.0.1")``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import websockets
from ocpp.v16 import ChargePoint, call
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201

from agent.journal import METER_SAMPLE, TX_STARTED, TX_STOPPED, Entry, Journal, Sample
from agent.ocpp16.outbound import request_for
from agent.ocpp201.outbound import request_for as request_for_201
from agent.store import Database, iso
from simulators.harness import Csms, Stack

ENERGY = "Energy.Active.Import.Register"
SAMPLE_EVERY = timedelta(seconds=30)
SESSION = timedelta(hours=2)
PAUSE = timedelta(minutes=20)


@dataclass(frozen=True)
class ReplayFigures:
    messages: int
    transactions: int
    agent_s: float
    library_s: float

    @property
    def ratio(self) -> float:
        return self.agent_s / self.library_s


def queue_a_day_offline(state_dir: Path, hours: float = 24.0) -> int:
    """Journal ``hours`` of sessions that never reached the backend; return the message count."""
    db = Database(state_dir)
    db.open()
    try:
        journal = Journal(db)
        end = datetime.now(timezone.utc) - timedelta(minutes=5)
        moment = end - timedelta(hours=hours)
        energy = 1_000_000
        while moment + SESSION < end:
            local = journal.begin_transaction(1, "REPLAY01", energy, iso(moment), [Sample(ENERGY, energy, "Wh")])
            stop_at = moment + SESSION
            moment += SAMPLE_EVERY
            while moment < stop_at:
                energy += 92  # 11 kW for 30 s
                journal.record_sample(
                    local, 1, iso(moment), "Sample.Periodic",
                    [Sample(ENERGY, energy, "Wh"), Sample("Power.Active.Import", 11040, "W")], energy,
                )
                moment += SAMPLE_EVERY
            journal.end_transaction(local, energy, iso(stop_at), "Local", "REPLAY01", [Sample(ENERGY, energy, "Wh")])
            moment = stop_at + PAUSE
        return journal.pending_count()
    finally:
        db.close()


def journal_entries(state_dir: Path) -> list[Entry]:
    db = Database(state_dir)
    db.open()
    try:
        return Journal(db).pending(limit=1_000_000)
    finally:
        db.close()


async def agent_drain(stack: Stack) -> tuple[float, int, int, list[Entry]]:
    """Seconds from BootNotification Accepted to the last journal message answered (the
    last StopTransaction in 1.6; in 2.0.1 the last TransactionEvent, every one of them)."""
    csms = stack.csms
    await stack.start_bench()
    stack.write_config()
    queued = queue_a_day_offline(stack.state_dir)
    entries = journal_entries(stack.state_dir)
    stops = sum(1 for e in entries if e.kind == TX_STOPPED)
    await stack.start_agent()
    boot = await csms.request("wait_for", cp=stack.cp_id, action="BootNotification", timeout=30)
    booted = _time(boot["messages"][0]["time"])
    if stack.backend.get("ocpp") == "2.0.1":
        last = await _last_event(csms, stack.cp_id, queued)
    else:
        done = await csms.request("wait_for", cp=stack.cp_id, action="StopTransaction", count=stops, timeout=600)
        last = max(_time(m["time"]) for m in done["messages"])
    # The agent stays up (idle) while the library sends: the bench process that relays
    # both links also serves the agent's simulated hardware, so both senders meet the
    # same relay under the same load.
    return last - booted, queued, stops, entries


async def _last_event(csms: Csms, cp_id: str, count: int, timeout: float = 600.0) -> float:
    """When the ``count``-th TransactionEvent arrived. Read in steps, what is new each time
    (all of them in one answer would exceed the control channel's 1 MiB line)."""
    seen, since, last = 0, 0, 0.0
    deadline = time.monotonic() + timeout
    while seen < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{seen} of {count} TransactionEvents in {timeout:g} s")
        await asyncio.sleep(0.5)
        reply = await csms.request("messages", cp=cp_id, since_seq=since, action="TransactionEvent", direction=["in"])
        for m in reply["messages"]:
            since = max(since, m["seq"])
            if m["type"] == "CALL":
                seen += 1
                last = max(last, _time(m["time"]))
    return last


async def library_send(port: int, entries: list[Entry]) -> float:
    """The same messages from a bare library ChargePoint, back to back, in order, over the
    same path (the bench's link proxy) to the same backend."""
    url = f"ws://127.0.0.1:{port}/ocpp/BENCH-LIBRARY"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        cp = ChargePoint("BENCH-LIBRARY", ws)
        reader = asyncio.create_task(cp.start())
        try:
            await cp.call(call.BootNotification(charge_point_vendor="bench", charge_point_model="library"))
            backend_ids: dict[int, int] = {}
            t0 = time.perf_counter()
            for entry in entries:
                if entry.local_tx is not None and entry.local_tx in backend_ids:
                    entry = replace(entry, backend_tx=backend_ids[entry.local_tx])
                answer = await cp.call(request_for(entry))
                if entry.kind == TX_STARTED:
                    assert entry.local_tx is not None
                    backend_ids[entry.local_tx] = int(answer.transaction_id)
            return time.perf_counter() - t0
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def library_send_201(port: int, entries: list[Entry]) -> float:
    """:func:`library_send` over OCPP 2.0.1: the same journal entries as TransactionEvents
    (each names its transaction by the charger's own id: no answer is waited on for it)."""
    url = f"ws://127.0.0.1:{port}/ocpp/BENCH-LIBRARY-201"
    async with websockets.connect(url, subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        cp = ChargePoint201("BENCH-LIBRARY-201", ws)
        reader = asyncio.create_task(cp.start())
        try:
            await cp.call(call201.BootNotification(charging_station={"vendor_name": "bench", "model": "library"},
                                                   reason="PowerUp"))
            t0 = time.perf_counter()
            for entry in entries:
                await cp.call(request_for_201(entry))
            return time.perf_counter() - t0
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def replay(csms: Csms, root: Path, ocpp: str = "1.6") -> ReplayFigures:
    suffix = "" if ocpp == "1.6" else "-201"
    stack = Stack(root / f"replay{suffix}", csms, cp_id=f"BENCH-REPLAY{suffix}",
                  backend={"ocpp": ocpp} if ocpp != "1.6" else {})
    try:
        agent_s, queued, stops, entries = await agent_drain(stack)
        assert queued == len(entries) and all(e.kind in (TX_STARTED, METER_SAMPLE, TX_STOPPED) for e in entries)
        send = library_send if ocpp == "1.6" else library_send_201
        library_s = await send(stack.link_port, entries)
        await stack.stop_agent()
    finally:
        await stack.stop()
    return ReplayFigures(messages=queued, transactions=stops, agent_s=agent_s, library_s=library_s)


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
