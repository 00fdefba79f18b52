"""``ladda demo``: the whole stack on simulated hardware, one scenario, what the backend saw.

Starts the test CSMS, the bench and the agent as separate processes (the agent reads
the bench's meters with its real Modbus driver, over TCP), plays the
scenario through the bench's control channel, waits until every transaction the
agent started has been stopped at the backend, then prints the backend's transaction
ledger and the status sequence of each connector. ``--ocpp 2.0.1`` plays the same
scenario over OCPP 2.0.1: the scenario's statuses are the charger's own words, which a
2.0.1 backend reads from StatusNotification (Available, Occupied, ...) and from each
TransactionEvent's chargingState (Charging, SuspendedEV, ...).

The charger has a local tariff (:data:`TARIFF`) and the bench's 20x4 display, so the demo
also shows what the driver reads: after each step the screen, boxed, when it changed (the
price before the start, the running cost, the final cost); and at the end, beside the
backend's ledger, the charger's own record as ``ladda sessions`` prints it (energy,
charging and idle time, cost under the same tariff).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from agent.screen.texts import say

from .control import ControlError
from .harness import Csms, HarnessError, Stack
from .pcscd import unavailable_reason
from .scenario import Scenario, ScenarioError, Step, load_scenario

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "config" / "demo-scenario.toml"
CP_ID = "LADDA-DEMO"
#: The demo charger's ``[tariff]`` (docs/configuration.md): energy, cheaper at night in the
#: charger's time zone, and a fee for blocking the bay once the car has stood idle past a
#: grace. Amounts as strings: exact decimals, as an operator writes money.
TARIFF: dict[str, Any] = {
    "currency": "EUR", "per_kwh": "0.49", "per_hour_idle": "6.00", "idle_grace": 30,
    "bands": [{"start": "22:00", "end": "06:00", "per_kwh": "0.35"}],
}
#: How long the screen must stand still to be shown as "the screen after a step", and the
#: most a step waits for that (a redraw takes the bench's I2C a moment; the session time
#: and the running cost may move every second).
SCREEN_SETTLE_S = 0.25
SCREEN_SETTLE_MAX_S = 1.5


class Player:
    """Plays scenario steps against a running stack."""

    def __init__(self, stack: Stack, out: Any = sys.stdout, version: str = "1.6") -> None:
        self.stack = stack
        self.out = out
        self.version = version
        self.started = time.monotonic()
        self._expect_seq = 0
        self._remote_starts = 0
        #: 2.0.1: the EVSE of each transaction, from its Started event.
        self._evse_of: dict[str, int] = {}
        #: The display's lines as last printed (None: not yet, or no display on this bench).
        self._screen: list[str] | None = None

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {text}", file=self.out, flush=True)

    async def play(self, scenario: Scenario) -> None:
        for step in scenario.steps:
            if step.after:
                await asyncio.sleep(step.after)
            self.say(step.describe())
            await self.run_step(step)
            await self.show_screen()

    async def show_screen(self) -> None:
        """Print the display as the driver reads it now, boxed, if it changed since last printed."""
        lines = await self.settled_screen()
        if lines is None or lines == self._screen:
            return
        self._screen = lines
        print(box(lines), file=self.out, flush=True)

    async def wait_screen_online(self, timeout: float = 5.0) -> None:
        """After the boot: wait until the screen no longer says it is offline (the screen
        task notices the backend at its next redraw, up to a second later)."""
        offline = say("en", "offline")  # the screen's first language: the demo sets no [screen]
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ControlError):
            while time.monotonic() < deadline:
                lines = (await self.stack.bench_request("screen"))["lines"]
                if offline not in (line.rstrip() for line in lines):
                    return
                await asyncio.sleep(0.1)

    async def settled_screen(self) -> list[str] | None:
        """The display's lines once they stood still for SCREEN_SETTLE_S (at most
        SCREEN_SETTLE_MAX_S: a screen whose clock ticks is taken as it is then); None on a
        bench without a display."""
        deadline = time.monotonic() + SCREEN_SETTLE_MAX_S
        try:
            lines = list((await self.stack.bench_request("screen"))["lines"])
        except ControlError:
            return None
        while time.monotonic() < deadline:
            await asyncio.sleep(SCREEN_SETTLE_S)
            again = list((await self.stack.bench_request("screen"))["lines"])
            if again == lines:
                break
            lines = again
        return lines

    async def run_step(self, step: Step) -> None:
        a = step.args
        csms = self.stack.csms
        if step.do in ("plug", "unplug", "pause", "resume", "tap", "link"):
            await self.stack.bench_request(step.do, **a)
        elif step.do == "wait":
            await asyncio.sleep(a["seconds"])
        elif step.do == "expect":
            await self.expect_status(a["connector"], a["status"], a["timeout"])
        elif step.do == "profile":
            await self.set_profile(a)
        elif step.do == "clear_profiles":
            await self.clear_profiles(a["profile_id"])
        elif step.do == "expect_current":
            await self.expect_current(a["connector"], a["amps"], a["timeout"])
        elif step.do == "remote_start":
            if self.version == "2.0.1":
                self._remote_starts += 1
                action, payload = "RequestStartTransaction", {
                    "idToken": {"idToken": a["id_tag"], "type": "Central"}, "remoteStartId": self._remote_starts,
                    "evseId": a["connector"]}
            else:
                action, payload = "RemoteStartTransaction", {"idTag": a["id_tag"], "connectorId": a["connector"]}
            reply = await csms.request("call", cp=self.stack.cp_id, action=action, payload=payload)
            self.say(f"  backend got {reply.get('result') or reply.get('error')}")
        elif step.do == "remote_stop":
            ledger = await csms.request("ledger", cp=self.stack.cp_id)
            running = [t for t in ledger["transactions"] if t["connector_id"] == a["connector"] and t.get("stop_time") is None]
            if not running:
                raise ControlError(f"remote_stop: no running transaction on connector {a['connector']}")
            action = "RequestStopTransaction" if self.version == "2.0.1" else "RemoteStopTransaction"
            reply = await csms.request(
                "call", cp=self.stack.cp_id, action=action, payload={"transactionId": running[-1]["transaction_id"]},
            )
            self.say(f"  backend got {reply.get('result') or reply.get('error')}")

    async def set_profile(self, a: dict[str, Any]) -> None:
        start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=a["starts_in"])
        profile = {
            "chargingProfileId": a["profile_id"], "stackLevel": a["stack_level"],
            "chargingProfilePurpose": a["purpose"], "chargingProfileKind": "Absolute",
            "chargingSchedule": {"startSchedule": start.isoformat().replace("+00:00", "Z"),
                                 "chargingRateUnit": a["unit"],
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": a["limit"]}]},
        }
        if self.version == "2.0.1":
            schedule = {"id": a["profile_id"], **profile.pop("chargingSchedule")}
            payload = {"evseId": a["connector"], "chargingProfile": {
                "id": profile.pop("chargingProfileId"), **profile, "chargingSchedule": [schedule]}}
        else:
            payload = {"connectorId": a["connector"], "csChargingProfiles": profile}
        reply = await self.stack.csms.request("call", cp=self.stack.cp_id, action="SetChargingProfile", payload=payload)
        self.say(f"  backend got {reply.get('result') or reply.get('error')}")

    async def clear_profiles(self, profile_id: int) -> None:
        key = "chargingProfileId" if self.version == "2.0.1" else "id"
        payload = {key: profile_id} if profile_id else {}
        reply = await self.stack.csms.request("call", cp=self.stack.cp_id, action="ClearChargingProfile",
                                              payload=payload)
        self.say(f"  backend got {reply.get('result') or reply.get('error')}")

    async def expect_current(self, connector: int, amps: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status = await self.stack.bench_request("status")
            row = status["connectors"][connector - 1]
            if abs(row["current_a"] - amps) <= 0.5:
                self.say(f"  the EV draws {row['current_a']:.1f} A per phase; the meter reads {row['power_w'] / 1000:.2f} kW")
                return
            if time.monotonic() > deadline:
                raise ControlError(f"connector {connector}: the EV draws {row['current_a']:.1f} A, not {amps:g} A, "
                                   f"after {timeout:g} s")
            await asyncio.sleep(0.2)

    async def expect_status(self, connector: int, status: str, timeout: float) -> None:
        if self.version == "2.0.1":
            await self._expect_201(connector, status, timeout)
            return
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.stack.csms.request(
                "messages", cp=self.stack.cp_id, action="StatusNotification", since_seq=self._expect_seq
            )
            for message in reply["messages"]:
                p = message["payload"]
                if message["direction"] == "in" and p.get("connectorId") == connector and p.get("status") == status:
                    self._expect_seq = message["seq"]
                    return
            if time.monotonic() > deadline:
                raise ControlError(f"connector {connector} did not report {status} within {timeout:g} s")
            await asyncio.sleep(0.2)


    async def _expect_201(self, connector: int, status: str, timeout: float) -> None:
        """A 1.6-worded status as a 2.0.1 backend sees it: the connector's own status
        (Preparing is Occupied), a running transaction's chargingState (Charging,
        SuspendedEV, SuspendedEVSE), or the transaction's end (Finishing)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.stack.csms.request("messages", cp=self.stack.cp_id, since_seq=self._expect_seq)
            for message in reply["messages"]:
                if message["direction"] != "in" or message.get("type") != "CALL":
                    continue
                if self._shows(message["action"], message["payload"], connector, status):
                    self._expect_seq = message["seq"]
                    return
            if time.monotonic() > deadline:
                raise ControlError(f"connector {connector} did not show {status} within {timeout:g} s")
            await asyncio.sleep(0.2)

    def _shows(self, action: str, p: dict[str, Any], connector: int, status: str) -> bool:
        if action == "StatusNotification":
            wanted = "Occupied" if status == "Preparing" else status
            return p["evseId"] == connector and p["connectorStatus"] == wanted
        if action != "TransactionEvent":
            return False
        tx = p["transactionInfo"]["transactionId"]
        if "evse" in p:
            self._evse_of[tx] = p["evse"]["id"]
        if self._evse_of.get(tx) != connector:
            return False
        if status == "Finishing":
            return bool(p["eventType"] == "Ended")
        return bool(p["transactionInfo"].get("chargingState") == status)


async def settle(stack: Stack, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until every transaction started at the backend was also stopped there."""
    deadline = time.monotonic() + timeout
    while True:
        ledger = await stack.csms.request("ledger", cp=stack.cp_id)
        open_tx = [t for t in ledger["transactions"] if t.get("stop_time") is None]
        if not open_tx or time.monotonic() > deadline:
            return ledger
        await asyncio.sleep(0.3)


def _short_time(stamp: str | None) -> str:
    if not stamp:
        return "-"
    return stamp.replace("T", " ").rstrip("Z")[:19]


def _duration(start: str | None, stop: str | None) -> str:
    if not start or not stop:
        return "-"
    seconds = (datetime.fromisoformat(stop.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def box(lines: list[str], indent: int = 11) -> str:
    """The display's rows framed as the glass shows them (every cell, blanks too),
    indented under the step it follows."""
    width = max((len(line) for line in lines), default=0)
    pad = " " * indent
    edge = f"{pad}+{'-' * width}+"
    return "\n".join([edge, *(f"{pad}|{line.ljust(width)}|" for line in lines), edge])


def tariff_summary(tariff: dict[str, Any]) -> str:
    """The demo's tariff in one line, as an operator would put it on a sticker."""
    cur = tariff["currency"]
    parts = [f"{tariff['per_kwh']} {cur}/kWh"]
    parts += [f"{b['start']}-{b['end']} {b['per_kwh']} {cur}/kWh" for b in tariff.get("bands", [])]
    if tariff.get("per_hour_idle"):
        parts.append(f"idle {tariff['per_hour_idle']} {cur}/h after {tariff.get('idle_grace', 0)} min")
    return ", ".join(parts)


def print_sessions(config: Path) -> int:
    """``ladda sessions -c CONFIG``: the charger's own record, through the real command."""
    from agent.cli import main as ladda  # the agent's CLI, as an operator runs it

    print(f"\nSessions recorded by the charger (ladda sessions -c {config}):", flush=True)
    return ladda(["sessions", "-c", str(config)])


def format_ledger(transactions: list[dict[str, Any]]) -> str:
    header = ("txId", "conn", "idTag", "start (UTC)", "stop (UTC)", "meterStart Wh", "meterStop Wh", "kWh", "duration", "reason", "samples")
    rows = [header]
    for t in transactions:
        stop = t.get("meter_stop")
        # energy_wh, not meterStop - meterStart: a 2.0.1 transaction may lack a start reading.
        energy = t.get("energy_wh")
        kwh = f"{energy / 1000:.3f}" if energy is not None else "-"
        rows.append((
            str(t["transaction_id"]), str(t["connector_id"]), str(t["id_tag"]), _short_time(t.get("start_time")),
            _short_time(t.get("stop_time")), str(t["meter_start"] if t.get("meter_start") is not None else "-"), str(stop if stop is not None else "-"), kwh,
            _duration(t.get("start_time"), t.get("stop_time")), str(t.get("reason") or "-"), str(len(t.get("meter_values", []))),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def status_sequences(messages: list[dict[str, Any]]) -> dict[int, list[str]]:
    sequences: dict[int, list[str]] = {}
    for m in messages:
        if m["direction"] != "in" or m.get("type") != "CALL":
            continue
        p = m["payload"]
        if "connectorStatus" in p:  # OCPP 2.0.1: one connector per EVSE here
            label, connector = p["connectorStatus"], p["evseId"]
        else:
            label = p["status"] if p.get("errorCode", "NoError") == "NoError" else f"{p['status']}({p['errorCode']})"
            connector = p["connectorId"]
        seq = sequences.setdefault(connector, [])
        if not seq or seq[-1] != label:
            seq.append(label)
    return sequences


async def _demo(scenario: Scenario, workdir: Path, version: str = "1.6") -> int:
    csms = Csms(workdir / "csms")
    no_pcsc = unavailable_reason()
    stack = Stack(workdir / "charger", csms, cp_id=CP_ID, connectors=scenario.connectors,
                  ocpp=scenario.ocpp, max_current=scenario.max_current, reader="socket" if no_pcsc else "pcsc",
                  backend={"ocpp": version}, sections={"tariff": TARIFF})
    print(f"Ladda demo: {scenario.title} (OCPP {version})")
    print(f"  work directory {workdir} (logs: csms/csms.log, charger/bench.log, charger/agent.log)")
    print(f"  the charger's local tariff: {tariff_summary(TARIFF)}; its 20x4 display is shown after each step "
          "that changed it")
    if no_pcsc:
        print(f"  cards go to the sim reader over the bench socket: no PC/SC reader here ({no_pcsc})")
    else:
        print("  cards are read by the PC/SC driver from a virtual card, through pcscd")
    try:
        await csms.start()
        await stack.start()
        player = Player(stack, version=version)
        meter = stack.meter_info
        player.say(f"test CSMS on 127.0.0.1:{csms.port}; bench (Modbus TCP meters, {meter['model']}, on "
                   f"{meter['host']}:{meter['port']}) and agent started; waiting for boot")
        await stack.wait_booted()
        player.say("agent booted (BootNotification Accepted)")
        await player.wait_screen_online()
        await player.show_screen()
        await player.play(scenario)
        ledger = await settle(stack)
        messages = (await csms.request("messages", cp=CP_ID, action="StatusNotification"))["messages"]
    except HarnessError as exc:  # its message carries the log of the process that failed
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    except (ControlError, OSError) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        print(f"agent log tail:\n{stack.agent_log()}", file=sys.stderr)
        return 1
    finally:
        await stack.stop()
        await csms.stop()
    print("\nTransactions received by the backend:")
    print(format_ledger(ledger["transactions"]))
    print("\nStatus sequence per connector (StatusNotification):")
    for connector, seq in sorted(status_sequences(messages).items()):
        print(f"  connector {connector}: {' -> '.join(seq)}")
    if ledger["anomalies"]:
        print("\nAnomalies seen by the backend:")
        for anomaly in ledger["anomalies"]:
            print(f"  {anomaly}")
    if print_sessions(stack.config_path) != 0:
        print("\ndemo incomplete: ladda sessions could not read the charger's record", file=sys.stderr)
        return 1
    complete = ledger["transactions"] and all(t.get("stop_time") for t in ledger["transactions"])
    if not complete or ledger["anomalies"]:
        print("\ndemo incomplete: a transaction was not stopped at the backend, or the backend saw anomalies", file=sys.stderr)
        return 1
    return 0


def run_demo(scenario_path: str | None, workdir: str | None, version: str = "1.6") -> int:
    if scenario_path is None and not DEFAULT_SCENARIO.exists():
        print(f"no default scenario at {DEFAULT_SCENARIO} (it ships with the source tree); "
              "pass one with --scenario FILE", file=sys.stderr)
        return 78
    try:
        scenario = load_scenario(scenario_path or DEFAULT_SCENARIO)
    except ScenarioError as exc:
        print(f"scenario error{'s' if len(exc.errors) > 1 else ''}:\n{exc}", file=sys.stderr)
        return 78
    if workdir:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return asyncio.run(_demo(scenario, Path(workdir), version))
    with tempfile.TemporaryDirectory(prefix="ladda-demo-") as tmp:
        return asyncio.run(_demo(scenario, Path(tmp), version))
