"""The bench: EV physics as a table, then the real bench process over its sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.settings import load_settings
from drivers.modbus import ModbusBus, ModbusMeter, load_meter_model
from drivers.protocols import DeviceError, PilotState
from simulators.control import ControlClient, ControlError
from simulators.ev import EvConnector
from simulators.harness import Csms, Stack
from tests.conformance.helpers import last_seq, plug_and_charge, wait_energy, wait_for

REPO = Path(__file__).resolve().parents[2]

# -- the bench as a subprocess (also used by tests/drivers) --------------------------------


class BenchProcess:
    """A real ``ladda-sim bench`` process with its sockets in ``directory``."""

    def __init__(self, directory: Path, *args: str) -> None:
        self.directory = directory
        self.hardware = directory / "hw.sock"
        self.control = directory / "ctl.sock"
        self.ready = directory / "ready.json"
        self.log = directory / "bench.log"
        self.args = args
        self.process: asyncio.subprocess.Process | None = None
        self.link_port: int | None = None

    async def start(self, timeout: float = 10.0) -> BenchProcess:
        self.ready.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "simulators.bench_cli",
                "--hardware-socket", str(self.hardware), "--control", str(self.control),
                "--ready-file", str(self.ready), "--reader", "socket", *self.args,
                cwd=REPO, stdout=log, stderr=log,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
        async with asyncio.timeout(timeout):
            while not self.ready.exists():
                if self.process.returncode is not None:
                    raise RuntimeError(f"bench exited {self.process.returncode}: {self.log.read_text()}")
                await asyncio.sleep(0.02)
        ready = json.loads(self.ready.read_text())
        assert ready["pid"] == self.process.pid
        self.link_port = ready["link_port"]
        return self

    async def stop(self) -> int:
        """SIGTERM, then SIGKILL if it lingers; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(5):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        code = self.process.returncode
        assert code is not None
        return code


@contextlib.contextmanager
def socket_dir() -> Iterator[Path]:
    """A short directory: Unix socket paths must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def running_bench(*args: str) -> AsyncIterator[BenchProcess]:
    with socket_dir() as directory:
        bench = BenchProcess(directory, *args)
        try:
            yield await bench.start()
        finally:
            await bench.stop()


# -- EV and meter physics -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("plugged", "paused", "offer", "override", "pilot"),
    [
        (False, False, 0, None, PilotState.A),
        (False, False, 16, None, PilotState.A),
        (True, False, 0, None, PilotState.B),
        (True, True, 16, None, PilotState.B),
        (True, False, 16, None, PilotState.C),
        (True, False, 16, PilotState.E, PilotState.E),
        (False, False, 0, PilotState.F, PilotState.F),
    ],
)
def test_pilot_state_follows_ev(
    plugged: bool, paused: bool, offer: float, override: PilotState | None, pilot: PilotState
) -> None:
    ev = EvConnector()
    if plugged:
        ev.plug(32, now=0)
        ev.set_paused(paused, now=0)
    ev.set_offer(offer, now=0)
    ev.set_pilot_error(override, now=0)
    assert ev.pilot is pilot


@pytest.mark.parametrize(
    ("plugged", "offer", "closed", "paused", "current"),
    [
        (True, 16, True, False, 16.0),
        (True, 16, False, False, 0.0),  # contactor open
        (True, 0, True, False, 0.0),  # no PWM: state B
        (True, 16, True, True, 0.0),  # paused: state B
        (False, 16, True, False, 0.0),  # nothing plugged: state A
        (True, 40, True, False, 20.0),  # the EV's own limit
        (True, 10, True, False, 10.0),  # the offer's limit
    ],
)
def test_current_flows_only_when_closed_and_state_c(
    plugged: bool, offer: float, closed: bool, paused: bool, current: float
) -> None:
    ev = EvConnector(phases=3, voltage=230)
    if plugged:
        ev.plug(20, now=0)
        ev.set_paused(paused, now=0)
    ev.set_offer(offer, now=0)
    ev.set_contactor(closed, now=0)
    assert ev.current_a == current
    assert ev.power_w == current * 230 * 3
    assert ev.reading(1000.0).current_a == (current,) * 3


def test_energy_integrates_power_and_never_decreases() -> None:
    ev = EvConnector(phases=3, voltage=230, energy_wh=1000)
    ev.plug(32, now=0)
    ev.set_offer(16, now=0)
    ev.set_contactor(True, now=0)
    ev.advance(1800)
    assert ev.energy_wh == pytest.approx(1000 + 16 * 230 * 3 / 2)
    ev.set_offer(8, now=3600)  # the old 16 A counts up to the change
    assert ev.energy_wh == pytest.approx(1000 + 16 * 230 * 3)
    ev.advance(7200)
    assert ev.energy_wh == pytest.approx(1000 + 16 * 230 * 3 + 8 * 230 * 3)
    before = ev.energy_wh
    ev.advance(100)  # a clock going backwards adds nothing and takes nothing away
    assert ev.energy_wh == before
    ev.set_contactor(False, now=9000)
    ev.advance(20000)
    assert ev.energy_wh == pytest.approx(before + 8 * 230 * 3 * 1800 / 3600)


def test_pause_gives_state_b_and_stops_energy() -> None:
    ev = EvConnector(phases=1, voltage=230)
    ev.plug(32, now=0)
    ev.set_offer(32, now=0)
    ev.set_contactor(True, now=0)
    ev.set_paused(True, now=3600)
    assert (ev.pilot, ev.current_a) == (PilotState.B, 0)
    ev.advance(7200)
    assert ev.energy_wh == pytest.approx(32 * 230)
    ev.set_paused(False, now=7200)
    assert (ev.pilot, ev.current_a) == (PilotState.C, 32)


def test_reading_has_one_value_per_phase_near_nominal_voltage() -> None:
    for phases in (1, 3):
        ev = EvConnector(phases=phases, voltage=230)
        for t in range(0, 100, 7):
            reading = ev.reading(1_700_000_000.0 + t)
            assert len(reading.voltage_v) == len(reading.current_a) == phases
            assert all(228.85 <= v <= 231.15 for v in reading.voltage_v)


def test_ev_model_rejects_nonsense() -> None:
    ev = EvConnector()
    with pytest.raises(ValueError):
        ev.plug(0, now=0)
    with pytest.raises(ValueError):
        ev.set_offer(-1, now=0)
    with pytest.raises(ValueError):
        ev.set_pilot_error(PilotState.C, now=0)
    with pytest.raises(ValueError):
        ev.set_paused(True, now=0)  # nothing plugged
    with pytest.raises(ValueError):
        EvConnector(phases=2)


# -- the bench process: control channel ---------------------------------------------------


async def connector_status(ctl: ControlClient, n: int) -> dict[str, Any]:
    status = await ctl.request("status")
    one: dict[str, Any] = status["connectors"][n - 1]
    return one


async def test_control_commands_change_what_status_shows() -> None:
    async with running_bench("--connectors", "2", "--initial-energy-wh", "500") as bench:
        ctl = ControlClient(bench.control)
        try:
            status = await ctl.request("status")
            assert status["link"] is None and status["agent_connected"] is False
            assert [c["pilot"] for c in status["connectors"]] == ["A", "A"]
            assert status["connectors"][1]["energy_wh"] == 500

            await ctl.request("plug", connector=2, max_current=16)
            two = await connector_status(ctl, 2)
            assert (two["plugged"], two["ev_max_current"], two["pilot"]) == (True, 16, "B")
            assert (await connector_status(ctl, 1))["plugged"] is False

            await ctl.request("pause", connector=2)
            assert (await connector_status(ctl, 2))["paused"] is True
            await ctl.request("resume", connector=2)
            assert (await connector_status(ctl, 2))["paused"] is False

            await ctl.request("pilot_error", connector=2, state="E")
            assert (await connector_status(ctl, 2))["pilot"] == "E"
            await ctl.request("pilot_clear", connector=2)
            assert (await connector_status(ctl, 2))["pilot"] == "B"

            await ctl.request("plug", connector=1)
            assert (await connector_status(ctl, 1))["ev_max_current"] == 32
            await ctl.request("unplug", connector=2)
            await ctl.request("unplug", connector=2)  # already unplugged: nothing happens
            assert (await connector_status(ctl, 2))["pilot"] == "A"

            reply = await ctl.request("wait_for", connector=1, field="plugged", value=True, timeout=1)
            assert reply["value"] is True
        finally:
            await ctl.close()
        assert await bench.stop() == 0
        assert not bench.control.exists() and not bench.hardware.exists()


@pytest.mark.parametrize(
    ("cmd", "args", "message"),
    [
        ("plug", {"connector": 3}, "unknown connector 3"),
        ("plug", {"connector": 1, "max_current": -5}, "max_current must be positive"),
        ("plug", {"connector": 1, "max_current": "lots"}, "max_current must be a number"),
        ("pause", {"connector": 1}, "no EV is plugged into connector 1"),
        ("pilot_error", {"connector": 1, "state": "C"}, "state must be one of E, F"),
        ("tap", {"uid": "not hex"}, "uid must be hexadecimal"),
        ("link", {"state": "cut"}, "no link proxy"),
        ("wait_for", {"connector": 1, "field": "colour", "value": 1}, "unknown field 'colour'"),
        ("wait_for", {"connector": 1, "field": "plugged", "value": True, "timeout": 0.2},
         "plugged eq true; last value false"),
        ("plug", {"connector": 1, "colour": "red"}, "bad arguments"),
        ("fly", {}, "unknown command 'fly'"),
    ],
)  # fmt: skip
async def test_bad_control_requests_are_refused_with_a_reason(
    cmd: str, args: dict[str, Any], message: str
) -> None:
    async with running_bench() as bench:
        ctl = ControlClient(bench.control)
        try:
            with pytest.raises(ControlError, match=message):
                await ctl.request(cmd, **args)
            assert (await connector_status(ctl, 1))["plugged"] is False
        finally:
            await ctl.close()


# -- the link proxy ----------------------------------------------------------------------


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    writer.close()


async def round_trip(port: int, payload: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    async with asyncio.timeout(5):
        assert await reader.readexactly(len(payload)) == payload
    return reader, writer


async def assert_closed(reader: asyncio.StreamReader) -> None:
    """The connection ends (EOF or reset) without delivering anything."""
    async with asyncio.timeout(5):
        with contextlib.suppress(ConnectionResetError):
            assert await reader.read(100) == b""


async def test_link_cut_drops_connections_and_restore_lets_them_through() -> None:
    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    up_port = upstream.sockets[0].getsockname()[1]
    try:
        async with running_bench(
            "--link-listen", "127.0.0.1:0", "--link-upstream", f"127.0.0.1:{up_port}"
        ) as bench:
            assert bench.link_port
            ctl = ControlClient(bench.control)
            try:
                reader, writer = await round_trip(bench.link_port, b"hello backend\n")
                assert (await ctl.request("status"))["link"] == "up"

                assert (await ctl.request("link", state="cut"))["link"] == "cut"
                await assert_closed(reader)
                writer.close()
                late_reader, late_writer = await asyncio.open_connection("127.0.0.1", bench.link_port)
                late_writer.write(b"anyone there?\n")
                await assert_closed(late_reader)
                late_writer.close()
                status = await ctl.request("status")
                assert status["link"] == "cut" and status["link_accepted"] == 2

                await ctl.request("link", state="up")
                reader, writer = await round_trip(bench.link_port, b"back again\n")
                writer.close()
                assert (await ctl.request("status"))["link_accepted"] == 3

                with pytest.raises(ControlError, match='"cut", "stall" or "up"'):
                    await ctl.request("link", state="down")
            finally:
                await ctl.close()
    finally:
        upstream.close()
        await upstream.wait_closed()


# -- the hardware socket, spoken by hand -------------------------------------------------


class RawAgent:
    """A bare client of the hardware socket: requests by id, events kept aside."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.events: list[dict[str, Any]] = []
        self._next = 0

    @classmethod
    async def connect(cls, path: Path) -> RawAgent:
        return cls(*await asyncio.open_unix_connection(str(path)))

    async def _line(self) -> dict[str, Any]:
        async with asyncio.timeout(5):
            line = await self.reader.readline()
        assert line, "bench closed the connection"
        message: dict[str, Any] = json.loads(line)
        return message

    async def send_raw(self, data: bytes) -> dict[str, Any]:
        self.writer.write(data)
        while "event" in (message := await self._line()):
            self.events.append(message)
        return message

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        self._next += 1
        reply = await self.send_raw(json.dumps({"id": self._next, "op": op, **fields}).encode() + b"\n")
        assert reply["id"] == self._next
        return reply

    async def event(self) -> dict[str, Any]:
        if self.events:
            return self.events.pop(0)
        message = await self._line()
        assert "event" in message, message
        return message

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def test_hardware_socket_protocol() -> None:
    async with running_bench("--wiring", "none", "--connectors", "2", "--tick", "0.05") as bench:
        ctl = ControlClient(bench.control)
        agent = await RawAgent.connect(bench.hardware)
        try:
            assert [await agent.event(), await agent.event()] == [
                {"event": "pilot", "connector": 1, "state": "A"},
                {"event": "pilot", "connector": 2, "state": "A"},
            ]
            assert await agent.request("hello") == {"id": 1, "ok": True, "connectors": 2}

            await ctl.request("plug", connector=1, max_current=16)
            assert await agent.event() == {"event": "pilot", "connector": 1, "state": "B"}
            assert (await agent.request("offer", connector=1, current_a=20.0))["ok"] is True
            assert await agent.event() == {"event": "pilot", "connector": 1, "state": "C"}
            assert (await agent.request("contactor", connector=1, closed=True))["feedback"] is True

            await ctl.request("wait_for", connector=1, field="energy_wh", value=0.5, op="ge", timeout=5)
            first = (await agent.request("read_meter", connector=1))["reading"]
            assert first["power_w"] == 16 * 230 * 3
            assert first["current_a"] == [16.0, 16.0, 16.0]
            assert all(228.85 <= v <= 231.15 for v in first["voltage_v"]) and len(first["voltage_v"]) == 3
            assert first["energy_wh"] >= 0.5
            second = (await agent.request("read_meter", connector=1))["reading"]
            assert second["energy_wh"] >= first["energy_wh"]
            assert second["timestamp"] >= first["timestamp"]
            idle = (await agent.request("read_meter", connector=2))["reading"]
            assert (idle["power_w"], idle["energy_wh"]) == (0, 0)

            await ctl.request("pause", connector=1)
            assert await agent.event() == {"event": "pilot", "connector": 1, "state": "B"}
            assert (await agent.request("read_meter", connector=1))["reading"]["power_w"] == 0

            assert (await ctl.request("tap", uid="04a1b2c3"))["delivered"] == 1
            assert await agent.event() == {"event": "card", "uid": "04A1B2C3"}

            refusals: list[tuple[str, dict[str, Any], str]] = [
                ("read_meter", {"connector": 9}, "unknown connector 9"),
                ("offer", {"connector": 1, "current_a": -1}, "current_a must be >= 0"),
                ("contactor", {"connector": 1, "closed": "yes"}, "closed must be true or false"),
                ("explode", {}, "unknown op 'explode'"),
            ]
            for op, fields, message in refusals:
                reply = await agent.request(op, **fields)
                assert reply["ok"] is False and message in reply["error"], reply
            reply = await agent.send_raw(b"{not json\n")
            assert reply["ok"] is False and reply["id"] is None
        finally:
            await agent.close()
            await ctl.close()


async def test_power_is_cut_when_the_last_agent_disconnects() -> None:
    async with running_bench("--wiring", "none") as bench:
        ctl = ControlClient(bench.control)
        first = await RawAgent.connect(bench.hardware)
        second = await RawAgent.connect(bench.hardware)
        try:
            await second.request("hello")  # an agent that has spoken is attached at once
            await ctl.request("plug", connector=1, max_current=32)
            await first.request("offer", connector=1, current_a=16)
            await first.request("contactor", connector=1, closed=True)
            await ctl.request("wait_for", field="agent_connected", value=True, timeout=5)
            assert (await connector_status(ctl, 1))["current_a"] == 16

            await first.close()  # another agent still holds the hardware
            await asyncio.sleep(0.2)
            assert (await connector_status(ctl, 1))["contactor_closed"] is True

            await second.close()
            await ctl.request("wait_for", field="agent_connected", value=False, timeout=5)
            one = await connector_status(ctl, 1)
            assert (one["contactor_closed"], one["offer_a"], one["current_a"], one["pilot"]) == (
                False,
                0,
                0,
                "B",
            )
        finally:
            await first.close()
            await second.close()
            await ctl.close()


# -- the meters over real Modbus ---------------------------------------------------------


def meter_info(bench: BenchProcess) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(bench.ready.read_text())["meter"]
    return info


@contextlib.asynccontextmanager
async def modbus_meters(bus: ModbusBus, info: dict[str, Any]) -> AsyncIterator[dict[int, ModbusMeter]]:
    """The agent's Modbus driver, one meter per unit id the bench announced."""
    model = load_meter_model(info["model"])
    meters = {unit: ModbusMeter(bus, unit, model) for unit in info["unit_ids"]}
    try:
        for meter in meters.values():
            await meter.open()
        yield meters
    finally:
        for meter in meters.values():
            await meter.close()


def tcp_bus(info: dict[str, Any]) -> ModbusBus:
    assert (info["transport"], info["host"]) == ("tcp", "127.0.0.1")
    return ModbusBus.tcp(info["host"], info["port"], timeout=0.3)


async def energy(ctl: ControlClient, n: int) -> float:
    return float((await connector_status(ctl, n))["energy_wh"])


async def test_modbus_meters_read_what_the_ev_model_delivers() -> None:
    async with running_bench("--wiring", "none", "--connectors", "2", "--tick", "0.05", "--initial-energy-wh", "1500") as bench:
        info = meter_info(bench)
        assert (info["model"], info["unit_ids"]) == ("sdm630", [1, 2])
        ctl = ControlClient(bench.control)
        agent = await RawAgent.connect(bench.hardware)
        try:
            async with modbus_meters(tcp_bus(info), info) as meters:
                idle = await meters[1].read()
                assert (idle.energy_wh, idle.power_w, idle.current_a) == (1500, 0, (0, 0, 0))
                assert all(228 <= v <= 232 for v in idle.voltage_v) and len(idle.voltage_v) == 3

                await ctl.request("plug", connector=1, max_current=16)
                await agent.request("offer", connector=1, current_a=20.0)
                await agent.request("contactor", connector=1, closed=True)
                await ctl.request("wait_for", connector=1, field="energy_wh", value=1500.5, op="ge", timeout=5)
                before = await energy(ctl, 1)
                charging = await meters[1].read()
                after = await energy(ctl, 1)
                assert charging.power_w == 16 * 230 * 3
                assert charging.current_a == (16.0, 16.0, 16.0)
                # The register the agent reads is the bench's own, to the meter's float32 precision.
                assert before - 0.01 <= charging.energy_wh <= after + 0.01
                other = await meters[2].read()
                assert (other.energy_wh, other.power_w) == (1500, 0)

                await agent.request("contactor", connector=1, closed=False)
                stopped = await meters[1].read()  # an open contactor shows at once, not a tick later
                assert (stopped.power_w, stopped.current_a) == (0, (0, 0, 0))
                assert (await connector_status(ctl, 1))["meter_requests"] >= 4
        finally:
            await agent.close()
            await ctl.close()


async def test_silent_and_stale_meters_at_the_wire_and_on_the_hardware_socket() -> None:
    async with running_bench("--wiring", "none", "--connectors", "2", "--tick", "0.05") as bench:
        info = meter_info(bench)
        ctl = ControlClient(bench.control)
        agent = await RawAgent.connect(bench.hardware)
        try:
            async with modbus_meters(tcp_bus(info), info) as meters:
                await ctl.request("meter_silent", connector=1, silent=True)
                with pytest.raises(DeviceError, match="unit 1 .*no reply within 0.3 s"):
                    await meters[1].read()
                assert (await meters[2].read()).energy_wh == 0  # the other meter on the line still answers
                assert (await connector_status(ctl, 1))["meter_silent"] is True
                with pytest.raises(TimeoutError):  # the JSON socket's read_meter gets no reply either
                    await asyncio.wait_for(agent.request("read_meter", connector=1), 0.5)
                await agent.close()
                agent = await RawAgent.connect(bench.hardware)
                await ctl.request("meter_silent", connector=1, silent=False)
                assert (await meters[1].read()).energy_wh == 0

                # Stale: the very same frame, whatever the EV does, so the reading's age grows.
                first = await meters[2].read()
                json_first = (await agent.request("read_meter", connector=2))["reading"]
                await ctl.request("meter_stale", connector=2, stale=True)
                frozen = await meters[2].read()
                await ctl.request("plug", connector=2, max_current=16)
                await agent.request("offer", connector=2, current_a=16.0)
                await agent.request("contactor", connector=2, closed=True)
                await ctl.request("wait_for", connector=2, field="energy_wh", value=0.2, op="ge", timeout=5)
                again = await meters[2].read()
                assert again == frozen and again.timestamp == frozen.timestamp and again.power_w == 0
                assert frozen.timestamp >= first.timestamp
                json_frozen = (await agent.request("read_meter", connector=2))["reading"]
                assert json_frozen == (await agent.request("read_meter", connector=2))["reading"]
                assert json_frozen["power_w"] == 0 and json_frozen["timestamp"] >= json_first["timestamp"]
                assert (await connector_status(ctl, 2))["meter_stale"] is True

                await ctl.request("meter_stale", connector=2, stale=False)
                live = await meters[2].read()
                assert live.timestamp > frozen.timestamp and live.power_w == 16 * 230 * 3 and live.energy_wh > 0
                json_live = (await agent.request("read_meter", connector=2))["reading"]
                assert json_live["timestamp"] > json_frozen["timestamp"] and json_live["energy_wh"] > 0
        finally:
            await agent.close()
            await ctl.close()


async def test_rtu_meters_on_a_pty_with_a_single_phase_supply() -> None:
    with socket_dir() as directory:
        tty = directory / "meter-line"
        bench = BenchProcess(directory, "--wiring", "none", "--meter-transport", "rtu", "--meter-pty", str(tty), "--phases", "1",
                             "--initial-energy-wh", "42000")
        await bench.start()
        try:
            info = meter_info(bench)
            assert info == {"transport": "rtu", "port": str(tty), "baudrate": 9600, "parity": "N", "stopbits": 1,
                            "model": "sdm630", "unit_ids": [1], "grid_unit_id": 100}
            bus = ModbusBus.serial(info["port"], baudrate=info["baudrate"], parity=info["parity"],
                                   stopbits=info["stopbits"], timeout=0.3)
            agent = await RawAgent.connect(bench.hardware)
            ctl = ControlClient(bench.control)
            try:
                async with modbus_meters(bus, info) as meters:
                    idle = await meters[1].read()
                    await ctl.request("plug", connector=1, max_current=16)
                    await agent.request("offer", connector=1, current_a=32.0)
                    await agent.request("contactor", connector=1, closed=True)
                    charging = await meters[1].read()
            finally:
                await agent.close()
                await ctl.close()
            assert (idle.energy_wh, idle.current_a) == (42000, (0, 0, 0))
            # A single-phase EV behind a three-phase meter: current on L1 only, the supply on all three.
            assert (charging.current_a, charging.power_w) == ((16, 0, 0), 16 * 230)
            assert len(charging.voltage_v) == 3 and all(228 <= v <= 232 for v in charging.voltage_v)
        finally:
            assert await bench.stop() == 0
        assert not tty.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--meter-model", "nosuch"], "--meter-model: .*unknown meter model 'nosuch'"),
        (["--meter-model", "sdm120"], "sdm120 measures 1 phase.*3-phase meter"),
        (["--meter-transport", "modbus"], "invalid choice: 'modbus'"),
    ],
)
def test_bad_meter_flags_exit_2_with_a_reason(args: list[str], message: str) -> None:
    with socket_dir() as directory:
        done = subprocess.run(
            [sys.executable, "-m", "simulators.bench_cli", "--hardware-socket", str(directory / "hw.sock"),
             "--control", str(directory / "ctl.sock"), *args],
            cwd=REPO, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert done.returncode == 2
    assert re.search(message, done.stderr), done.stderr


# -- the harness's agent configuration ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "ready", "expected"),
    [
        ("tcp", {"transport": "tcp", "host": "127.0.0.1", "port": 40123, "model": "sdm630", "unit_ids": [1, 2]},
         {"driver": "modbus", "transport": "tcp", "host": "127.0.0.1", "tcp_port": 40123, "unit_ids": (1, 2),
          "model": "sdm630", "timeout": 0.3}),
        ("rtu", {"transport": "rtu", "port": "/tmp/w/meter-tty", "baudrate": 9600, "parity": "N", "stopbits": 1,
                 "model": "em340", "unit_ids": [1, 2]},
         {"driver": "modbus", "transport": "rtu", "port": "/tmp/w/meter-tty", "baudrate": 9600, "parity": "N",
          "model": "em340", "unit_ids": (1, 2)}),
        ("sim", {"transport": "tcp", "host": "127.0.0.1", "port": 40123, "model": "sdm630", "unit_ids": [1, 2]},
         {"driver": "sim"}),
    ],
)  # fmt: skip
def test_harness_writes_a_meter_section_the_agent_accepts(
    tmp_path: Path, kind: str, ready: dict[str, Any], expected: dict[str, Any]
) -> None:
    stack = Stack(tmp_path, Csms(tmp_path, port=9000), connectors=2, meter=kind,
                  meter_settings={"fault_after": 3.0}, link_port=40000, meter_info=ready)
    stack.write_config()
    meter = load_settings(stack.config_path).meter
    assert {key: getattr(meter, key) for key in expected} == expected
    assert (meter.poll_interval, meter.fault_after) == (1.0, 3.0)


def test_a_section_the_test_gives_replaces_the_bench_wiring_s(tmp_path: Path) -> None:
    """A charger without the display the wired bench fits: ``[display] driver = "none"``."""
    meter = {"transport": "tcp", "host": "127.0.0.1", "port": 40123, "model": "sdm630", "unit_ids": [1]}
    wiring = {"connectors": 1, "pwm_root": str(tmp_path / "pwm")}
    fitted = Stack(tmp_path, Csms(tmp_path, port=9000), link_port=40000, meter_info=meter, wiring_info=wiring)
    fitted.write_config()
    assert load_settings(fitted.config_path).display.driver == "hd44780"
    bare = Stack(tmp_path, Csms(tmp_path, port=9000), link_port=40000, meter_info=meter, wiring_info=wiring,
                 sections={"display": {"driver": "none"}})
    bare.write_config()
    assert load_settings(bare.config_path).display.driver == "none"
    assert bare.config_path.read_text().count("[display]") == 1


def test_harness_refuses_an_unknown_meter_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="meter must be one of tcp, rtu, sim, not 'modbus'"):
        Stack(tmp_path, Csms(tmp_path), meter="modbus")


async def test_an_agent_bills_what_it_read_over_an_rtu_meter_line(charger: Any) -> None:
    stack = await charger(meter="rtu")
    assert stack.meter_info["transport"] == "rtu"
    await plug_and_charge(stack)
    delivered = await wait_energy(stack, 1, 5.0)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid="04A1B2C3")
    stop = (await wait_for(stack, "StopTransaction", since=since))[0]
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)
    status = (await stack.bench_request("status"))["connectors"][0]
    assert status["meter_requests"] >= 3  # the agent read the meter over the serial line
    # Billed from the register read at the stop: what was delivered by then (the bench's
    # units follow the EV model a tick behind at most), never more than the bench counted.
    tick_wh = 32 * 230 * 3 * 0.2 / 3600
    assert delivered - tick_wh - 1 <= stop["meterStop"] <= status["energy_wh"] + 1, (stop, status)
