"""Crash campaign: kill the agent at random instants and prove no transaction data is lost.

Runs the real processes (test CSMS, bench, agent; :mod:`simulators.harness`) and plays
drivers on a two-connector charger: sessions of random length, the backend link cut or
stalled (half-open) under them, and the agent SIGKILLed at chosen kinds of instants
(during boot, mid-session, right after a tap, during a stop, while offline, while the
journal drains after a reconnect), restarted after each kill. At the end the link comes
up, every session ends, the journal drains, and :mod:`simulators.ledger_audit` holds
the backend's ledger against what the bench's meters and EVs really did.

Everything is driven from outside, through the bench's and the CSMS's control
channels; the only inside view is read after the agent stopped: its public session
list (``ladda sessions --json``) and its journal's outbox, to show that every message
it journaled reached the backend.

    python -m simulators.crash_campaign --kills 500 --seed 1 --report docs/reliability.md
    python -m simulators.crash_campaign --ocpp 2.0.1 --kills 500 --seed 1 --report docs/reliability.md

Each round draws its plan from ``Random(f"{seed}:{round}")``, so a seed replays the
same plan; only the OS's timing (where exactly an instant falls) differs between runs.
The same driver runs the link chaos test (:meth:`Campaign.run_link_chaos`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from .control import ControlError, request_sync
from .crash_report import BEGIN_201, END_201, CampaignResult, machine, place_section, render_markdown
from .harness import Csms, HarnessError, Stack
from .ledger_audit201 import audit201
from .ledger_audit import (
    ABANDONED,
    KILLED,
    KILLED_STOPPING,
    STOPPED,
    AuditInput,
    AuditResult,
    DeadLink,
    KillRecord,
    SessionRecord,
    TransactionId,
    Violation,
    audit,
    parse_time,
)

#: The charger's configuration for a campaign: a sample a second (so that a kill has
#: journal traffic to cut into), pings a second (so a half-open link dies quickly), and
#: offline starts for any card (sessions start while the link is down).
CAMPAIGN_OCPP: dict[str, Any] = {
    "MeterValueSampleInterval": 1,
    "WebSocketPingInterval": 1,
    "AllowOfflineTxForUnknownId": True,
    "ConnectionTimeOut": 60,
}
PING_TIMEOUT_S = 2.0
CONNECTORS = 2
PHASES, VOLTAGE = 3, 230.0
CHARGER_MAX_A = 32.0
EV_CURRENTS = (6.0, 10.0, 16.0, 20.0, 32.0)
#: Kill instants the rounds aim at, and how often each kind of round is drawn.
ROUNDS: dict[str, float] = {
    "mid-session": 0.24,
    "after-tap": 0.14,
    "during-stop": 0.14,
    "boot": 0.14,
    "offline": 0.17,
    "draining": 0.17,
}
#: After a kill that cut charging, how often the meter is silent while the agent restarts
#: (the PowerLoss stop must then come from the journal's last checkpoint).
SILENT_METER_P = 0.25
#: What the link chaos run does to the link, cycle after cycle: half-open stalls (only
#: pings can tell), resets by the network, the backend closing abruptly or cleanly.
CHAOS_CYCLE = ("stall", "drop", "stall", "cut", "stall", "drop-clean")
STEP_TIMEOUT_S = 15.0
#: Pilot samples a wired charger gets after a cable moved before the campaign goes on:
#: the agent confirms a pilot state after 3 equal samples (drivers/pilot/pilot.py); two
#: more make sure the confirmed state was handed on before the next step.
PILOT_NOTICE_READS = 5
#: The agent opens the contactor first and journals the stop right after; a kill within
#: this long after the power went off may come before that write (the stop is then a
#: PowerLoss stop made at restart, with the same meter value).
STOP_JOURNAL_GRACE_S = 1.0
DRAIN_TIMEOUT_S = 60.0


def _nominal_power(ev_max_a: float) -> float:
    return min(ev_max_a, CHARGER_MAX_A) * PHASES * VOLTAGE


class Campaign:
    """Plays drivers, the network and power cuts against one running stack, and keeps
    the record the audit needs."""

    def __init__(self, stack: Stack, seed: int, *, progress: Callable[[str], None] | None = None) -> None:
        self.stack = stack
        self.seed = seed
        self.progress = progress or (lambda line: None)
        config = tomllib.loads(stack.config_path.read_text())  # the bounds follow the charger's settings
        backend, ocpp = config["backend"], config.get("ocpp", {})
        #: The OCPP version the charger speaks: what the log is read for and the audit used.
        self.ocpp = str(backend.get("ocpp", "1.6"))
        #: Transactions begin with the EV plugged in (2.0.1 TxStartPoint EVConnected), before
        #: the card: the audit then allows a start from the plug-in on, else from the tap.
        start_points = config.get("ocpp201", {}).get("TxCtrlr", {}).get("TxStartPoint", "")
        self.starts_at_plug_in = "EVConnected" in str(start_points)
        self.interval_s = float(ocpp.get("MeterValueSampleInterval", 0))
        self.ping_interval_s = float(ocpp.get("WebSocketPingInterval", 60))
        self.ping_timeout_s = float(backend["ping_timeout"])
        self.reconnect_max_s = float(backend["reconnect_max"])
        self.connectors = list(range(1, stack.connectors + 1))
        self.sessions: list[SessionRecord] = []
        self.kills: list[KillRecord] = []
        self.dead_links: list[DeadLink] = []
        self.drain_s: list[float] = []
        self.final_drain_s: float | None = None
        self.problems: list[Violation] = []
        self.active: dict[int, SessionRecord] = {}
        self.plugged: set[int] = set()
        self.link = "up"
        self.alive = True
        self.boot_since: int | None = None  # a BootNotification is awaited after this seq
        self.log: list[dict[str, Any]] = []
        self.seq = 0
        self.rounds = 0
        self.cycles = 0
        self.registers_before: dict[int, float] = {}
        self._tag_count = 0

    # -- bounds ---------------------------------------------------------------------
    @property
    def stall_bound_s(self) -> float:
        """A half-open link is given up after a ping interval and its timeout, the close
        wait (``min(5, ping_timeout)``), and the first reconnect's backoff (at most
        ``reconnect_max`` x 1.2); plus 1 s for a busy machine."""
        close = min(5.0, self.ping_timeout_s)
        return self.ping_interval_s + self.ping_timeout_s + close + self.reconnect_max_s * 1.2 + 1.0

    @property
    def drop_bound_s(self) -> float:
        """A connection the backend or the network closed is noticed at once; the agent
        dials again after at most one backoff (``reconnect_max`` x 1.2); plus 1 s."""
        return self.reconnect_max_s * 1.2 + 1.0

    # -- plumbing -------------------------------------------------------------------
    async def bench(self, cmd: str, **args: Any) -> dict[str, Any]:
        return await self.stack.bench_request(cmd, **args)

    async def registers(self) -> dict[int, float]:
        status = await self.bench("status")
        return {c["connector"]: float(c["energy_wh"]) for c in status["connectors"]}

    async def register(self, connector: int) -> float:
        return (await self.registers())[connector]

    async def sync_log(self) -> list[dict[str, Any]]:
        """Fetch the CSMS log entries since the last fetch; return the new ones."""
        reply = await self.stack.csms.request("messages", cp=self.stack.cp_id, since_seq=self.seq)
        new = list(reply["messages"])
        if new:
            self.log.extend(new)
            self.seq = max(self.seq, max(m["seq"] for m in new))
        return new

    async def seen_since(self, since_seq: int, match: Callable[[dict[str, Any]], bool]) -> bool:
        """Whether the CSMS logged an entry after ``since_seq`` that ``match`` accepts."""
        await self.sync_log()
        for m in reversed(self.log):
            if m["seq"] <= since_seq:
                return False
            if match(m):
                return True
        return False

    def problem(self, kind: str, detail: str, tag: str | None = None) -> None:
        self.problems.append(Violation(kind, detail, tag))
        self.progress(f"PROBLEM {kind}: {detail}")

    def new_tag(self) -> str:
        self._tag_count += 1
        return f"C{self.seed % 0xFFF:03X}{self._tag_count:04X}"

    # -- drivers --------------------------------------------------------------------
    async def plug(self, connector: int, current: float) -> None:
        await self.bench("plug", connector=connector, max_current=current)
        self.plugged.add(connector)
        await self.noticed(connector)

    async def unplug(self, connector: int) -> None:
        await self.bench("unplug", connector=connector)
        self.plugged.discard(connector)
        await self.noticed(connector)

    async def noticed(self, connector: int) -> None:
        """Go on at a person's pace: once the charger has had the chance to see the cable
        move. A wired bench's pilot is sampled through the ADC (debounced over several
        samples), so a card tapped the instant after a cable moved could otherwise be
        read before the move; no driver walks from one connector to the next that fast.
        The unwired bench sends the pilot change ahead of any later tap on one link."""
        if self.stack.wired and self.alive:
            await self.bench("wait_for", connector=connector, field="pilot_reads", value=PILOT_NOTICE_READS,
                             op="ge", timeout=STEP_TIMEOUT_S)

    async def start(self, connector: int, rng: random.Random, wait: bool = True) -> SessionRecord:
        """A driver plugs a fresh EV into ``connector`` and taps a new card. Every plugged
        EV that is not charging (left by a kill or a stop) is unplugged first, so the
        card can only mean this connector."""
        assert connector not in self.active, f"connector {connector} already has a session"
        for other in self.connectors:
            if other in self.plugged and other not in self.active:
                await self.unplug(other)
        current = rng.choice(EV_CURRENTS)
        plugged_at = time.time()
        await self.plug(connector, current)
        plugged_wh = await self.register(connector)
        session = SessionRecord(
            tag=self.new_tag(), connector=connector, ev_max_current=current, power_w=_nominal_power(current),
            tapped_at=time.time(), tap_energy_wh=plugged_wh, plug_energy_wh=plugged_wh, link_at_tap=self.link,
            plugged_at=plugged_at if self.starts_at_plug_in else None,
        )
        self.sessions.append(session)
        self.active[connector] = session
        await self.bench("tap", uid=session.tag)
        if wait:
            await self.await_charging(session)
        return session

    async def await_charging(self, session: SessionRecord) -> bool:
        try:
            await self.bench("wait_for", connector=session.connector, field="contactor_closed", value=True,
                             timeout=STEP_TIMEOUT_S)
        except ControlError as exc:
            self.problem("session did not start", f"card {session.tag} on connector {session.connector}, link "
                         f"{self.link}: {exc}", session.tag)
            await self.unplug(session.connector)
            await self.settle(session, ABANDONED)
            return False
        session.charging_seen = True
        return True

    async def stop(self, session: SessionRecord, how: str, wait: bool = True) -> None:
        """The driver ends the session: taps the card again or pulls the cable."""
        session.stop_how = how
        session.stop_requested_at = time.time()
        session.stop_energy_wh = await self.register(session.connector)
        if how == "tap":
            await self.bench("tap", uid=session.tag)
        else:
            await self.unplug(session.connector)
        if wait:
            await self.settle(session, STOPPED)

    async def settle(self, session: SessionRecord, end: str) -> None:
        """Wait until the power is off on the session's connector; note the register."""
        try:
            await self.bench("wait_for", connector=session.connector, field="contactor_closed", value=False,
                             timeout=STEP_TIMEOUT_S)
        except ControlError as exc:
            self.problem("session did not stop", f"card {session.tag} on connector {session.connector}: {exc}",
                         session.tag)
            raise
        session.end_energy_wh = await self.register(session.connector)
        session.ended_at = time.time()
        session.end = end
        self.active.pop(session.connector, None)

    async def charge(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    # -- the agent process ----------------------------------------------------------
    async def kill(self, phase: str, recovery: bool = False) -> KillRecord:
        """SIGKILL the agent (a power cut for the controller); the bench opens the
        contactors when the agent's hardware link goes. Sessions running end here."""
        proc = self.stack.agent_process
        if proc is not None and proc.proc is not None and proc.proc.returncode is not None:
            self.problem("agent exited by itself", f"exit status {proc.proc.returncode}; log:\n"
                         f"{self.stack.agent_log()}")
        at = time.time()
        await self.stack.stop_agent(signal.SIGKILL)
        self.alive = False
        await self.bench("wait_for", field="agent_connected", value=False, timeout=STEP_TIMEOUT_S)
        for connector in self.connectors:
            await self.bench("wait_for", connector=connector, field="contactor_closed", value=False,
                             timeout=STEP_TIMEOUT_S)
        registers = await self.registers()
        record = KillRecord(len(self.kills), phase, at, self.link, [s.tag for s in self.active.values()], recovery)
        for session in self.sessions:
            if session.end == STOPPED and session.ended_at is not None and at - session.ended_at < STOP_JOURNAL_GRACE_S:
                session.end, session.kill = KILLED_STOPPING, record.index
                record.sessions.append(session.tag)
        for connector, session in list(self.active.items()):
            session.end = KILLED_STOPPING if session.stop_requested_at is not None else KILLED
            session.end_energy_wh = registers[connector]
            session.ended_at = at
            session.kill = record.index
        self.active.clear()
        self.kills.append(record)
        return record

    async def restart(self, rng: random.Random | None = None, wait: bool = True) -> None:
        """Start the agent again. With the link up, sometimes with the meters of the
        sessions just cut silent, so the PowerLoss stop must rely on the journal."""
        await self.sync_log()
        since = self.seq
        silent: list[int] = []
        last = self.kills[-1] if self.kills else None
        if rng is not None and last is not None and self.link == "up" and wait:
            cut = [s for s in self.sessions if s.kill == last.index and s.delivered_wh > 0.5]
            if cut and rng.random() < SILENT_METER_P:
                for session in cut:
                    session.meter_silent_on_restart = True
                    silent.append(session.connector)
                    await self.bench("meter_silent", connector=session.connector, silent=True)
        log_offset = self.agent_log_size()
        await self.stack.start_agent()
        self.alive = True
        self.boot_since = since
        if self.link == "up" and wait:
            await self.booted()
        else:
            await self.agent_ready(log_offset)
        for connector in silent:  # the agent is up: its PowerLoss stops are journaled by now
            await self.bench("meter_silent", connector=connector, silent=False)

    def agent_log_size(self) -> int:
        path = self.stack.workdir / "agent.log"
        return path.stat().st_size if path.exists() else 0

    async def agent_ready(self, offset: int) -> None:
        """Wait for the agent's "charger ready" log line after ``offset``: from then on its
        card reader listens, so a tap is not lost to a controller still starting."""
        path = self.stack.workdir / "agent.log"
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(path, "rb") as log:
                log.seek(offset)
                if b'"charger ready"' in log.read():
                    return
            if not self.stack.agent_process or not self.stack.agent_process.running:
                raise HarnessError(f"agent exited while starting:\n{self.stack.agent_log()}")
            await asyncio.sleep(0.05)
        raise HarnessError(f"agent not ready within {STEP_TIMEOUT_S:g} s:\n{self.stack.agent_log()}")

    async def booted(self) -> None:
        if self.boot_since is not None:
            await self.stack.wait_booted(since_seq=self.boot_since, timeout=30)
            self.boot_since = None

    # -- the link -------------------------------------------------------------------
    async def csms_connected(self) -> bool:
        status = await self.stack.csms.request("status")
        return any(cp["id"] == self.stack.cp_id and cp["connected"] for cp in status["charge_points"])

    async def set_link(self, state: str) -> None:
        """Cut or stall the link. If the agent was using it, wait until it notices (it
        dials again: the bench's proxy counts the connection) and record how long that took."""
        assert state in ("cut", "stall")
        watch = self.link == "up" and self.alive and self.boot_since is None and await self.csms_connected()
        accepted = (await self.bench("status"))["link_accepted"]
        await self.bench("link", state=state)
        at, started = time.time(), time.monotonic()
        self.link = state
        if watch:
            try:
                await self.bench("wait_for", field="link_accepted", value=accepted + 1, op="ge", timeout=30)
                noticed: float | None = time.monotonic() - started
            except ControlError:
                noticed = None
            bound = self.stall_bound_s if state == "stall" else self.drop_bound_s
            self.dead_links.append(DeadLink(state, at, noticed, round(bound, 2)))
            if noticed is None or noticed > bound:
                self.problem("dead link noticed late", f"{state}: noticed after {noticed} s, bound {bound:.1f} s")

    async def reconnected(self, since_seq: int, kind: str, at: float, started: float) -> None:
        """Wait for the agent's next websocket connection after ``since_seq``; record how long."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await self.seen_since(since_seq, lambda m: m["type"] == "connected"):
                noticed = time.monotonic() - started
                self.dead_links.append(DeadLink(kind, at, noticed, round(self.drop_bound_s, 2)))
                if noticed > self.drop_bound_s:
                    self.problem("dead link noticed late", f"{kind}: connected again after {noticed:.1f} s, bound "
                                 f"{self.drop_bound_s:.1f} s")
                return
            await asyncio.sleep(0.05)
        self.dead_links.append(DeadLink(kind, at, None, round(self.drop_bound_s, 2)))
        self.problem("link never came back", f"{kind}: no new connection within 30 s")

    async def restore_link(self) -> tuple[float, float]:
        """Bring the link up; boot the agent if it restarted meanwhile. Returns when it
        came up (wall clock, monotonic)."""
        await self.sync_log()
        since = self.seq
        up_at = time.time()
        started = time.monotonic()
        await self.bench("link", state="up")
        self.link = "up"
        if self.alive:
            await self.reconnected(since, "reconnect after restore", up_at, started)
            await self.booted()
        return up_at, started

    def transaction_ids(self) -> dict[str, TransactionId]:
        """Card -> the transaction id, from the log: the StartTransaction answers (1.6), the
        charger's own id in the first event naming the card (2.0.1: the Started event, or
        the Updated one that identified a transaction the EV began)."""
        if self.ocpp == "2.0.1":
            ids: dict[str, TransactionId] = {}
            for e in self.transaction_events():
                if "idToken" in e:
                    ids.setdefault(e["idToken"]["idToken"], e["transactionInfo"]["transactionId"])
            return ids
        calls = {m["unique_id"]: m["payload"]["idTag"] for m in self.log
                 if m["direction"] == "in" and m["type"] == "CALL" and m["action"] == "StartTransaction"}
        return {calls[m["unique_id"]]: int(m["payload"]["transactionId"]) for m in self.log
                if m["direction"] == "out" and m["type"] == "CALLRESULT" and m["unique_id"] in calls}

    def transaction_events(self) -> list[dict[str, Any]]:
        """The payloads of the TransactionEvents (2.0.1) in the log."""
        return [m["payload"] for m in self.log
                if m["direction"] == "in" and m["type"] == "CALL" and m["action"] == "TransactionEvent"]

    def arrived(self, since: float) -> tuple[set[TransactionId], set[TransactionId]]:
        """Transactions whose stop is in the log, and those with a value sampled at or
        after ``since`` (wall clock) in the log."""
        if self.ocpp == "2.0.1":
            events = self.transaction_events()
            stops = {e["transactionInfo"]["transactionId"] for e in events if e["eventType"] == "Ended"}
            fresh = {e["transactionInfo"]["transactionId"] for e in events if e["eventType"] == "Updated"
                     and any(parse_time(mv["timestamp"]) >= since for mv in e.get("meterValue", []))}
            return stops, fresh
        stops = {m["payload"]["transactionId"] for m in self.log
                 if m["direction"] == "in" and m["type"] == "CALL" and m["action"] == "StopTransaction"}
        fresh = {m["payload"].get("transactionId") for m in self.log
                 if m["direction"] == "in" and m["type"] == "CALL" and m["action"] == "MeterValues"
                 and any(parse_time(mv["timestamp"]) >= since for mv in m["payload"]["meterValue"])}
        return stops, fresh

    async def caught_up(self, up: tuple[float, float], sessions: list[SessionRecord]) -> None:
        """Time from the link coming back until the backend has everything that happened
        while it was down: each running session's values from after the reconnect, each
        ended session's stop."""
        up_at, started = up
        watched = [s for s in sessions if s.charging_seen or s.delivered_wh > 0.5]
        while True:
            await self.sync_log()
            ids = self.transaction_ids()
            stops, fresh = self.arrived(up_at)
            pending = [s.tag for s in watched
                       if s.tag not in ids or (ids[s.tag] not in (fresh if s.end == "running" else stops))]
            if not pending:
                self.drain_s.append(round(time.monotonic() - started, 3))
                return
            if time.monotonic() - started > DRAIN_TIMEOUT_S:
                self.problem("journal did not drain", f"{DRAIN_TIMEOUT_S:g} s after the link came back the "
                             f"backend still misses messages of {pending}")
                return
            await asyncio.sleep(0.1)

    # -- rounds ---------------------------------------------------------------------
    def free_connectors(self) -> list[int]:
        return [c for c in self.connectors if c not in self.active]

    async def round_mid_session(self, rng: random.Random) -> None:
        count = rng.choice((1, 2))
        order = rng.sample(self.connectors, len(self.connectors))[:count]
        sessions = [await self.start(c, rng) for c in order]
        await self.charge(rng.uniform(0.5, 3.0))
        if rng.random() < 0.25:  # the link flaps under the running sessions
            await self.set_link("cut")
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            await self.restore_link()
        if len(sessions) == 2 and rng.random() < 0.5:
            running = [s for s in sessions if s.end == "running"]
            if running:
                await self.stop(running[0], rng.choice(("tap", "unplug")))
        await self.charge(rng.uniform(0.0, 1.5))
        await self.kill("mid-session")
        await self.restart(rng)

    async def round_after_tap(self, rng: random.Random) -> None:
        if rng.random() < 0.3:  # another EV already charging on the other connector
            await self.start(self.connectors[-1], rng)
        free = self.free_connectors()
        await self.start(rng.choice(free), rng, wait=False)
        await asyncio.sleep(rng.uniform(0.0, 0.6))
        await self.kill("after-tap")
        await self.restart(rng)

    async def round_during_stop(self, rng: random.Random) -> None:
        session = await self.start(rng.choice(self.connectors), rng)
        await self.charge(rng.uniform(0.5, 2.5))
        if session.end == "running":
            await self.stop(session, rng.choice(("tap", "unplug")), wait=False)
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        await self.kill("during-stop")
        await self.restart(rng)

    async def round_boot(self, rng: random.Random) -> None:
        await self.start(rng.choice(self.connectors), rng)
        await self.charge(rng.uniform(0.5, 2.0))
        await self.kill("mid-session")
        await self.restart(rng, wait=False)  # recovering: closing the cut session, connecting, booting
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        await self.kill("boot")
        await self.restart(rng)

    async def round_offline(self, rng: random.Random) -> None:
        mode = rng.choice(("cut", "stall"))
        if rng.random() < 0.5:  # a session that began online
            await self.start(rng.choice(self.connectors), rng)
        offline_at = time.time()
        await self.set_link(mode)
        free = self.free_connectors()
        if free:
            await self.start(rng.choice(free), rng)
        await self.charge(rng.uniform(1.0, 3.0))
        if rng.random() < 0.4 and self.active:
            await self.stop(rng.choice(list(self.active.values())), rng.choice(("tap", "unplug")))
            await self.charge(rng.uniform(0.0, 1.5))
        await self.kill("offline")
        await self.restart(rng, wait=False)  # still offline: no backend to boot against
        if rng.random() < 0.5:  # a whole session while offline after the restart
            session = await self.start(rng.choice(self.connectors), rng)
            await self.charge(rng.uniform(0.5, 2.0))
            if session.end == "running":
                await self.stop(session, rng.choice(("tap", "unplug")))
        touched = [s for s in self.sessions if s.ended_at is None or s.ended_at >= offline_at]
        await self.caught_up(await self.restore_link(), touched)

    async def round_draining(self, rng: random.Random) -> None:
        session = await self.start(rng.choice(self.connectors), rng)
        await self.charge(1.0)
        await self.set_link(rng.choice(("cut", "stall")))
        await self.charge(rng.uniform(2.0, 6.0))  # values pile up in the journal
        if rng.random() < 0.3 and session.end == "running":
            await self.stop(session, rng.choice(("tap", "unplug")))
        await self.sync_log()
        since = self.seq
        await self.bench("link", state="up")
        self.link = "up"
        # Kill once the agent is back and sending what piled up.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not await self.seen_since(since, lambda m: m["type"] == "connected"):
            await asyncio.sleep(0.02)
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        await self.kill("draining")
        await self.restart(rng)

    ROUND_PLAYS: dict[str, Callable[[Campaign, random.Random], Awaitable[None]]] = {
        "mid-session": round_mid_session,
        "after-tap": round_after_tap,
        "during-stop": round_during_stop,
        "boot": round_boot,
        "offline": round_offline,
        "draining": round_draining,
    }

    async def recover(self, why: str) -> None:
        """After a step that went wrong: link up, a clean slate (kill, restart, unplug)."""
        self.progress(f"recovering: {why}")
        if self.link != "up":
            await self.bench("link", state="up")
            self.link = "up"
        if self.alive:
            await self.kill("recovery", recovery=True)
        await self.restart()
        for connector in list(self.plugged):
            await self.unplug(connector)

    # -- whole runs -----------------------------------------------------------------
    async def run_crash(self, kills: int) -> CampaignResult:
        """Rounds until at least ``kills`` planned kills happened; then finish and audit."""
        began = time.monotonic()
        self.registers_before = await self.registers()
        await self.sync_log()
        while len([k for k in self.kills if not k.recovery]) < kills:
            rng = random.Random(f"{self.seed}:{self.rounds}")
            kind = rng.choices(list(ROUNDS), weights=list(ROUNDS.values()))[0]
            try:
                await self.ROUND_PLAYS[kind](self, rng)
            except (ControlError, HarnessError, TimeoutError, AssertionError) as exc:
                self.problem("round failed", f"round {self.rounds} ({kind}): {exc}")
                try:
                    await self.recover(str(exc))
                except (ControlError, HarnessError, TimeoutError) as failed:
                    # The charger does not come back: that is the finding; audit what there is.
                    self.problem("could not recover", f"after round {self.rounds}: {failed}")
                    break
            self.rounds += 1
            if self.rounds % 10 == 0:
                planned = len([k for k in self.kills if not k.recovery])
                self.progress(f"round {self.rounds}: {planned} kills, {len(self.sessions)} sessions, "
                              f"{len(self.problems)} problems, {time.monotonic() - began:.0f} s")
        return await self.finish(began, kills)

    async def run_link_chaos(self, cycles: int) -> CampaignResult:
        """Sessions on every connector while the link is cut, stalled (half-open) or
        dropped by the backend, ``cycles`` times; no kills. Then finish and audit."""
        began = time.monotonic()
        self.registers_before = await self.registers()
        await self.sync_log()
        rng = random.Random(f"{self.seed}:chaos")
        for connector in self.connectors:
            await self.start(connector, rng)
        for cycle in range(cycles):
            rng = random.Random(f"{self.seed}:chaos:{cycle}")
            kind = CHAOS_CYCLE[cycle % len(CHAOS_CYCLE)]
            self.cycles += 1
            await self.charge(rng.uniform(0.5, 1.5))
            await self.sync_log()
            since, at, started = self.seq, time.time(), time.monotonic()
            if kind in ("drop", "drop-clean"):
                await self.stack.csms.request("disconnect", cp=self.stack.cp_id, abrupt=kind == "drop")
                await self.reconnected(since, kind, at, started)
                continue
            await self.set_link(kind)
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            if rng.random() < 0.5:  # a driver leaves and another arrives while the link is down
                leaving = rng.choice(list(self.active.values()))
                await self.stop(leaving, rng.choice(("tap", "unplug")))
                await self.start(leaving.connector, rng)
            touched = list(self.active.values()) + [s for s in self.sessions if s.ended_at and s.ended_at >= at]
            await self.caught_up(await self.restore_link(), touched)
        return await self.finish(began, 0)

    async def finish(self, began: float, kills: int) -> CampaignResult:
        """Link up, every session ended, the journal drained; then gather and audit."""
        rng = random.Random(f"{self.seed}:finish")
        try:
            if self.link != "up":
                await self.restore_link()
            if not self.alive:
                await self.restart()
            await self.booted()
            for session in list(self.active.values()):
                await self.stop(session, rng.choice(("tap", "unplug")))
            for connector in list(self.plugged):
                await self.unplug(connector)
            self.final_drain_s = await self.drained()
        except (ControlError, HarnessError, TimeoutError) as exc:
            self.problem("could not finish", str(exc))
        await self.sync_log()
        ledger = await asyncio.to_thread(request_sync, self.stack.csms.control.path, "ledger",  # type: ignore[union-attr]
                                         cp=self.stack.cp_id)
        local = await self.local_records()
        await self.stack.stop_agent()
        self.alive = False
        outbox = self.outbox_rows()
        registers_after = await self.registers()
        result = self.judge(AuditInput(
            sessions=self.sessions, kills=self.kills, dead_links=self.dead_links,
            ledger=ledger["transactions"], anomalies=ledger["anomalies"], messages=self.log,
            local_records=local, outbox=outbox, interval_s=self.interval_s,
            registers_before=self.registers_before, registers_after=registers_after,
        ))
        return CampaignResult(
            seed=self.seed, kills_planned=kills, duration_s=time.monotonic() - began, rounds=self.rounds,
            sessions=self.sessions, kills=self.kills, dead_links=self.dead_links, drain_s=self.drain_s,
            final_drain_s=self.final_drain_s, harness_problems=self.problems, audit=result,
            interval_s=self.interval_s, workdir=str(self.stack.workdir), ping_interval_s=self.ping_interval_s,
            ping_timeout_s=self.ping_timeout_s, cycles=self.cycles, machine=machine(), ocpp=self.ocpp,
        )

    def judge(self, data: AuditInput) -> AuditResult:
        """The audit of the run, for the charger's OCPP version (a power-cut campaign holds
        the ledger to its own policy)."""
        return audit201(data) if self.ocpp == "2.0.1" else audit(data)

    async def drained(self) -> float:
        """Wait until the charger's own session list shows nothing open and nothing unsent."""
        started = time.monotonic()
        while time.monotonic() - started < DRAIN_TIMEOUT_S * 2:
            records = await self.local_records()
            if records is not None and all(r["stopped_at"] and not r["pending_messages"] for r in records):
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        self.problem("journal did not drain", f"transactions still open or unsent {DRAIN_TIMEOUT_S * 2:g} s "
                     "after every session ended")
        return time.monotonic() - started

    async def local_records(self) -> list[dict[str, Any]] | None:
        """``ladda sessions --json``: the charger's own record of its transactions."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "sessions", "-c", str(self.stack.config_path), "--json",
            "--limit", "1000000", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            self.problem("ladda sessions failed", err.decode(errors="replace")[-500:])
            return None
        return list(json.loads(out))

    def outbox_rows(self) -> list[dict[str, Any]] | None:
        """The journal's outbox (read-only, after the agent stopped): what it promised to send."""
        path = self.stack.state_dir / "ladda.sqlite3"
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            self.problem("journal unreadable", f"{path}: {exc}")
            return None
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute(
                "SELECT o.seq, o.kind, o.local_tx, o.body, o.done_at, o.outcome, t.backend_id, t.tx_uid "
                "FROM outbox o LEFT JOIN transactions t ON t.local_id = o.local_tx ORDER BY o.seq"
            ).fetchall()
            # A sample the backend answered before the journal's next sync is kept only as
            # its transaction's stop data (agent.journal): that is its record.
            rows += conn.execute(
                "SELECT -v.id AS seq, 'kept_value' AS kind, v.local_tx, "
                "json_object('timestamp', v.timestamp, 'samples', json(v.samples)) AS body, "
                "NULL AS done_at, NULL AS outcome, t.backend_id, t.tx_uid "
                "FROM transaction_values v LEFT JOIN transactions t ON t.local_id = v.local_tx ORDER BY v.id"
            ).fetchall()
        except sqlite3.Error as exc:
            self.problem("journal unreadable", f"{path}: {exc}")
            return None
        finally:
            conn.close()
        return [{**dict(r), "body": json.loads(r["body"])} for r in rows]


# -- command line -------------------------------------------------------------------


async def run_campaign(kills: int, seed: int, workdir: Path, progress: Callable[[str], None],
                       wired: bool = True, ocpp: str = "1.6", settings: Mapping[str, str] | None = None) -> CampaignResult:
    """A CSMS and a two-connector charger of their own (speaking ``ocpp``), and a
    campaign against them. ``settings``: initial values besides the campaign's own (e.g.
    ``TxCtrlr.TxStartPoint = EVConnected``), so the kills hit the paths they choose."""
    csms = Csms(workdir / "csms")
    await csms.start()
    backend = {"ocpp": ocpp} if ocpp != "1.6" else {}
    cp_id = f"CRASH-{seed}" if ocpp == "1.6" else f"CRASH201-{seed}"
    stack = Stack(workdir / "charger", csms, cp_id=cp_id, connectors=CONNECTORS, ocpp={**CAMPAIGN_OCPP, **(settings or {})},
                  wired=wired, backend=backend,
                  ping_timeout=PING_TIMEOUT_S)
    try:
        await stack.start()
        await stack.wait_booted()
        return await Campaign(stack, seed, progress=progress).run_crash(kills)
    finally:
        await stack.stop()
        await csms.stop()


def report_text(path: Path, result: CampaignResult, command: str, ocpp: str) -> str:
    """The report file's new text: JSON, or a Markdown page whose other sections stay (a
    1.6 run rewrites the page's top, a 2.0.1 run only its own section)."""
    if path.suffix != ".md":
        return json.dumps(result.summary(), indent=2) + "\n"
    old = path.read_text() if path.exists() else ""
    text = render_markdown(result, command, ocpp)
    if ocpp == "2.0.1":
        return place_section(old, text)
    if "\n## The OCPP frame fuzzer" in old:  # make fuzz's section of the same file stays
        text = text.rstrip("\n") + "\n" + old[old.index("\n## The OCPP frame fuzzer"):]
    if BEGIN_201 in old and END_201 in old:  # and the 2.0.1 run's
        text = place_section(text, BEGIN_201 + old.split(BEGIN_201, 1)[1].split(END_201, 1)[0] + END_201 + "\n")
    return text if text.endswith("\n") else text + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.crash_campaign", description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=25, help="planned SIGKILLs of the agent (default 25)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, help="write the summary here: Markdown for .md, else JSON")
    parser.add_argument("--json", type=Path, help="also write everything recorded, as JSON")
    parser.add_argument("--workdir", type=Path, help="where the processes run (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, state)")
    parser.add_argument("--wiring", choices=("gpio", "none"), default="gpio",
                        help="the bench's wiring: gpio (default) runs the agent's real GPIO and pilot drivers, "
                             "none its sim contactor and pilot")
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6",
                        help="the OCPP version the agent speaks (default 1.6); 2.0.1 audits TransactionEvents "
                             "(simulators/ledger_audit201.py) and reports into its own section of a .md report")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                        help="an initial setting of the charger (a 1.6 key, or Component.Variable under 2.0.1), "
                             "e.g. --set TxCtrlr.TxStartPoint=EVConnected; may be repeated")
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    settings: dict[str, str] = {}
    for item in args.settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--set {item!r}: expected NAME=VALUE")
        settings[name] = value
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ladda-crash-"))
    began = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - began:7.1f} s] {line}", file=sys.stderr, flush=True)

    result = asyncio.run(run_campaign(args.kills, args.seed, workdir, progress,
                                      wired=args.wiring == "gpio", ocpp=args.ocpp, settings=settings))
    command = "python -m simulators.crash_campaign " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report_text(args.report, result, command, args.ocpp))
    if args.json:
        args.json.write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n")
    print(json.dumps(result.summary(), indent=2))
    for v in result.violations:
        print(f"VIOLATION {v.kind}: {v.detail}" + (f" [card {v.tag}]" if v.tag else ""), file=sys.stderr)
    if result.violations or args.keep:
        print(f"logs and state kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if result.violations else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
