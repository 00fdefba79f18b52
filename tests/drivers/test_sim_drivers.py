"""The sim drivers against a real bench process, as the agent uses them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.protocols import CardReader, Contactor, DeviceError, EnergyMeter, Pilot, PilotState
from drivers.sim import BenchLink, SimCardReader, SimContactor, SimMeter, SimPilot
from simulators.control import ControlClient
from tests.simulators.test_bench import BenchProcess, running_bench, socket_dir


@contextlib.asynccontextmanager
async def linked(path: Path, timeout: float = 2.0) -> AsyncIterator[BenchLink]:
    """A BenchLink running in a TaskGroup, as in the agent."""
    link = BenchLink(path, timeout=timeout)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(link.run())
        try:
            yield link
        finally:
            task.cancel()


async def next_state(states: AsyncIterator[PilotState]) -> PilotState:
    async with asyncio.timeout(5):
        return await anext(states)


def test_sim_drivers_fill_their_roles() -> None:
    link = BenchLink("/nonexistent")  # constructing does no I/O
    assert isinstance(SimMeter(link, 1), EnergyMeter)
    assert isinstance(SimCardReader(link), CardReader)
    assert isinstance(SimPilot(link, 1), Pilot)
    assert isinstance(SimContactor(link, 1), Contactor)


async def test_meter_reading_follows_plug_offer_and_contactor() -> None:
    async with (
        running_bench("--wiring", "none", "--tick", "0.05", "--initial-energy-wh", "1200") as bench,
        linked(bench.hardware) as link,
    ):
        ctl = ControlClient(bench.control)
        meter, pilot, contactor = SimMeter(link, 1), SimPilot(link, 1), SimContactor(link, 1)
        try:
            for device in (meter, pilot, contactor):
                await device.open()
            idle = await meter.read()
            assert (idle.energy_wh, idle.power_w, idle.current_a) == (1200, 0, (0, 0, 0))

            await ctl.request("plug", connector=1, max_current=10)
            await pilot.offer(16)
            await contactor.switch(True)
            await ctl.request("wait_for", connector=1, field="energy_wh", value=1200.2, op="ge", timeout=5)
            charging = await meter.read()
            assert charging.power_w == 10 * 230 * 3  # the EV takes no more than its 10 A
            assert charging.current_a == (10.0, 10.0, 10.0)
            assert len(charging.voltage_v) == 3 and all(220 < v < 240 for v in charging.voltage_v)
            assert charging.energy_wh >= 1200.2

            await contactor.switch(False)
            stopped = await meter.read()
            assert stopped.power_w == 0
            assert stopped.energy_wh >= charging.energy_wh
            assert stopped.timestamp >= charging.timestamp
            await asyncio.sleep(0.2)
            assert (await meter.read()).energy_wh == stopped.energy_wh
        finally:
            await ctl.close()


async def test_pilot_reports_a_then_b_then_c_when_current_is_offered() -> None:
    async with running_bench("--wiring", "none") as bench, linked(bench.hardware) as link:
        ctl = ControlClient(bench.control)
        pilot = SimPilot(link, 1)
        try:
            await pilot.open()
            states = pilot.states()
            assert await next_state(states) is PilotState.A
            await ctl.request("plug", connector=1, max_current=32)
            assert await next_state(states) is PilotState.B
            await pilot.offer(16)
            assert await next_state(states) is PilotState.C
            await ctl.request("pause", connector=1)
            assert await next_state(states) is PilotState.B
            await ctl.request("pilot_error", connector=1, state="F")
            assert await next_state(states) is PilotState.F
            await pilot.close()
        finally:
            await ctl.close()


async def test_a_late_reader_of_pilot_states_gets_the_latest_state_first() -> None:
    async with running_bench("--wiring", "none") as bench, linked(bench.hardware) as link:
        ctl = ControlClient(bench.control)
        pilot = SimPilot(link, 1)
        try:
            await pilot.open()
            await ctl.request("plug", connector=1, max_current=32)
            await pilot.offer(6)
            await ctl.request("wait_for", connector=1, field="pilot", value="C", timeout=5)
            await asyncio.sleep(0.1)  # let the pushed events arrive before anyone reads
            states = pilot.states()
            assert await next_state(states) is PilotState.C
            await ctl.request("unplug", connector=1)
            assert await next_state(states) is PilotState.A
        finally:
            await ctl.close()


async def test_each_card_tap_arrives_once_in_upper_case() -> None:
    async with running_bench("--wiring", "none") as bench, linked(bench.hardware) as link:
        ctl = ControlClient(bench.control)
        reader = SimCardReader(link)
        try:
            await reader.open()
            await ctl.request("tap", uid="04a1b2c3")
            await ctl.request("tap", uid="04a1b2c3")
            await ctl.request("tap", uid="DEADBEEF01")
            cards = reader.cards()
            async with asyncio.timeout(5):
                assert [await anext(cards) for _ in range(3)] == ["04A1B2C3", "04A1B2C3", "DEADBEEF01"]
            await reader.close()
            await reader.close()  # idempotent
        finally:
            await ctl.close()


async def test_contactor_starts_open_and_follows_commands() -> None:
    async with running_bench("--wiring", "none", "--connectors", "2") as bench, linked(bench.hardware) as link:
        ctl = ControlClient(bench.control)
        contactor = SimContactor(link, 2)
        try:
            await link.wait_connected(5)
            raw = await link.request("contactor", connector=2, closed=True)  # left closed by someone
            assert raw["feedback"] is True
            await contactor.open()
            assert (await ctl.request("status"))["connectors"][1]["contactor_closed"] is False
            await contactor.switch(True)
            assert (await ctl.request("status"))["connectors"][1]["contactor_closed"] is True
            await contactor.close()
            assert (await ctl.request("status"))["connectors"][1]["contactor_closed"] is False
        finally:
            await ctl.close()


async def test_contactor_raises_when_feedback_disagrees() -> None:
    """A bench whose feedback contact reads open whatever is commanded (a broken contactor)."""

    async def broken_bench(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            request = json.loads(line)
            reply = {"id": request["id"], "ok": True, "connectors": 1, "feedback": False}
            writer.write(json.dumps(reply).encode() + b"\n")
        writer.close()

    with socket_dir() as directory:
        server = await asyncio.start_unix_server(broken_bench, str(directory / "hw.sock"))
        try:
            async with linked(directory / "hw.sock") as link:
                contactor = SimContactor(link, 1)
                await contactor.open()  # commanded open, reads open: fine
                with pytest.raises(DeviceError, match="commanded closed but feedback says open") as info:
                    await contactor.switch(True)
                assert info.value.device == "sim contactor 1"
                assert info.value.retry is False
        finally:
            server.close()
            await server.wait_closed()


async def test_unknown_connector_is_a_fatal_device_error() -> None:
    async with running_bench("--wiring", "none", "--connectors", "2") as bench, linked(bench.hardware) as link:
        with pytest.raises(DeviceError, match="no connector 3") as info:
            await SimMeter(link, 3).open()
        assert info.value.device == "sim meter 3" and info.value.retry is False
        with pytest.raises(DeviceError, match="unknown connector 3") as info:
            await link.request("read_meter", connector=3)
        assert info.value.retry is False


async def test_device_error_when_the_bench_is_absent() -> None:
    with socket_dir() as directory:
        link = BenchLink(directory / "nobody.sock", timeout=0.3)
        with pytest.raises(DeviceError, match="not connected") as info:
            await link.request("hello")  # run() was never started
        assert info.value.device == "bench" and info.value.retry is True

        async with linked(directory / "nobody.sock", timeout=0.3) as link:
            with pytest.raises(DeviceError, match="sim meter 1") as info:
                await SimMeter(link, 1).open()
            assert info.value.retry is True
            with pytest.raises(DeviceError, match="sim contactor 1"):
                await SimContactor(link, 1).switch(False)
            with pytest.raises(DeviceError):
                await link.wait_connected(0.1)


async def test_link_reconnects_after_the_bench_restarts_and_gets_a_fresh_pilot_snapshot() -> None:
    with socket_dir() as directory:
        bench = BenchProcess(directory, "--wiring", "none")
        try:
            async with linked(bench.hardware) as link:  # the agent starts before the bench
                pilot, meter = SimPilot(link, 1), SimMeter(link, 1)
                states = pilot.states()
                await bench.start()
                await link.wait_connected(5)
                await meter.open()
                assert await next_state(states) is PilotState.A
                ctl = ControlClient(bench.control)
                await ctl.request("plug", connector=1, max_current=16)
                await ctl.close()
                assert await next_state(states) is PilotState.B

                assert await bench.stop() == 0
                await asyncio.sleep(0.1)
                with pytest.raises(DeviceError) as info:
                    await meter.read()
                assert info.value.retry is True

                await bench.start()  # a fresh bench: nothing plugged
                await link.wait_connected(5)
                assert await next_state(states) is PilotState.A
                assert (await meter.read()).power_w == 0
                ctl = ControlClient(bench.control)
                await ctl.request("plug", connector=1, max_current=16)
                await ctl.close()
                assert await next_state(states) is PilotState.B
        finally:
            await bench.stop()
