"""The bench's grid meter: a real bench process, read with the agent's Modbus driver over
TCP, its house load set with ``ladda-sim house-load`` as a person would."""

from __future__ import annotations

import subprocess
import sys

from drivers.modbus import ModbusMeter, load_meter_model
from drivers.protocols import DeviceError
from simulators.control import ControlClient
from tests.simulators.test_bench import RawAgent, meter_info, running_bench, tcp_bus

import pytest


def sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulators", *args], capture_output=True, text=True, timeout=30)


async def test_the_grid_meter_reads_the_house_plus_the_evs_and_can_go_silent() -> None:
    async with running_bench("--wiring", "none", "--connectors", "2", "--tick", "0.05") as bench:
        info = meter_info(bench)
        assert (info["unit_ids"], info["grid_unit_id"]) == ([1, 2], 100)
        ctl = ControlClient(bench.control)
        agent = await RawAgent.connect(bench.hardware)
        grid = ModbusMeter(tcp_bus(info), info["grid_unit_id"], load_meter_model(info["model"]))
        try:
            await grid.open()
            idle = await grid.read()
            assert idle.current_a == (0.0, 0.0, 0.0)

            # A person sets the house load from a terminal: 20 A on every phase, then per phase.
            done = sim("house-load", "20", "--socket", str(bench.control))
            assert done.returncode == 0, done.stderr
            assert (await grid.read()).current_a == (20.0, 20.0, 20.0)
            assert sim("house-load", "20", "8", "4", "--socket", str(bench.control)).returncode == 0

            # An EV charging at 16 A on connector 1 adds to every phase.
            await ctl.request("plug", connector=1, max_current=16)
            await agent.request("offer", connector=1, current_a=16.0)
            await agent.request("contactor", connector=1, closed=True)
            reading = await grid.read()
            assert reading.current_a == (36.0, 24.0, 20.0)
            assert reading.power_w == pytest.approx((36 + 24 + 20) * 230.0)
            status = await ctl.request("status")
            assert (status["house_load_a"], status["grid_current_a"], status["grid_max_a"]) == (
                [20.0, 8.0, 4.0], [36.0, 24.0, 20.0], 36.0)

            # The energy register counts the house and the EV, and never goes back.
            await ctl.request("wait_for", connector=1, field="energy_wh", value=1.0, op="ge", timeout=5)
            assert (await grid.read()).energy_wh > reading.energy_wh

            # Silent: no reply at all, as a meter without supply; then it answers again.
            assert sim("grid-meter", "silent", "--socket", str(bench.control)).returncode == 0
            with pytest.raises(DeviceError):
                await grid.read()
            assert (await ctl.request("status"))["grid_silent"] is True
            assert sim("grid-meter", "answer", "--socket", str(bench.control)).returncode == 0
            assert (await grid.read()).current_a == (36.0, 24.0, 20.0)
        finally:
            await grid.close()
            await agent.close()
            await ctl.close()


async def test_a_bench_without_a_grid_meter_says_so() -> None:
    async with running_bench("--wiring", "none", "--grid-unit", "0") as bench:
        assert meter_info(bench)["grid_unit_id"] is None
        refused = sim("house-load", "20", "--socket", str(bench.control))
        assert refused.returncode == 1
        assert "this bench has no grid meter (started with --grid-unit 0)" in refused.stderr
