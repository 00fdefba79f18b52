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
message) and bookkeeping.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import websockets
from ocpp.v16 import ChargePoint, call

from agent.journal import METER_SAMPLE, TX_STARTED, TX_STOPPED, Entry, Journal, Sample
from agent.ocpp16.outbound import request_for
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
    """Seconds from BootNotification Accepted to the last journal message answered."""
    csms = stack.csms
    await stack.start_bench()
    stack.write_config()
    queued = queue_a_day_offline(stack.state_dir)
    entries = journal_entries(stack.state_dir)
    stops = sum(1 for e in entries if e.kind == TX_STOPPED)
    await stack.start_agent()
    boot = await csms.request("wait_for", cp=stack.cp_id, action="BootNotification", timeout=30)
    booted = _time(boot["messages"][0]["time"])
    done = await csms.request("wait_for", cp=stack.cp_id, action="StopTransaction", count=stops, timeout=600)
    last = max(_time(m["time"]) for m in done["messages"])
    # The agent stays up (idle) while the library sends: the bench process that relays
    # both links also serves the agent's simulated hardware, so both senders meet the
    # same relay under the same load.
    return last - booted, queued, stops, entries


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


async def replay(csms: Csms, root: Path) -> ReplayFigures:
    stack = Stack(root / "replay", csms, cp_id="BENCH-REPLAY")
    try:
        agent_s, queued, stops, entries = await agent_drain(stack)
        assert queued == len(entries) and all(e.kind in (TX_STARTED, METER_SAMPLE, TX_STOPPED) for e in entries)
        library_s = await library_send(stack.link_port, entries)
        await stack.stop_agent()
    finally:
        await stack.stop()
    return ReplayFigures(messages=queued, transactions=stops, agent_s=agent_s, library_s=library_s)


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
