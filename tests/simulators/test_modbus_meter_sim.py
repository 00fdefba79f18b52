"""The meter simulator on its own, seen through a plain pymodbus client (not the driver)."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from simulators.modbus_meter import MeterSimulator


async def _client(port: int) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.2, retries=0, reconnect_delay=0)
    assert await client.connect()
    return client


def _float(words: list[int]) -> float:
    return struct.unpack(">f", struct.pack(">HH", *words))[0]


async def test_serves_values_with_the_models_encoding_for_several_units() -> None:
    async with MeterSimulator({1: "sdm630", 2: "em340"}, seed=1) as sim:
        port = await sim.start_tcp()
        sim[1].values.energy_wh = 4_321_000.0  # SDM630: float32 kWh at 0x0048
        sim[2].values.energy_wh = 4_321_000.0  # EM340: int32 0.1 kWh at 0x0034, low word first
        sim[2].values.currents = [16.0, 0.0, 0.0]
        client = await _client(port)
        try:
            sdm = await client.read_input_registers(0x0048, count=2, device_id=1)
            em = await client.read_input_registers(0x0034, count=2, device_id=2)
            amps = await client.read_input_registers(0x000C, count=2, device_id=2)
        finally:
            client.close()
    assert _float(sdm.registers) == pytest.approx(4321.0)
    assert em.registers == [43210 & 0xFFFF, 43210 >> 16]
    assert amps.registers == [16000, 0]
    assert sim[1].requests == 1 and sim[2].requests == 2


async def test_live_voltages_carry_noise_so_frames_change() -> None:
    async with MeterSimulator("em340", seed=5) as sim:
        port = await sim.start_tcp()
        client = await _client(port)
        try:
            frames = [tuple((await client.read_input_registers(0, count=6, device_id=1)).registers)
                      for _ in range(20)]
        finally:
            client.close()
    assert len(set(frames)) == 20  # never the same frame twice
    volts = [v / 10 for frame in frames for v in frame[0::2]]
    assert all(229.0 <= v <= 231.0 for v in volts)  # within about a volt of 230 V


async def test_silent_unit_does_not_answer_and_others_still_do() -> None:
    async with MeterSimulator("sdm630", units=[1, 2]) as sim:
        port = await sim.start_tcp()
        sim[1].silent = True
        client = await _client(port)
        try:
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0, count=2, device_id=1)
            assert not (await client.read_input_registers(0, count=2, device_id=2)).isError()
            sim[1].silent = False
            assert not (await client.read_input_registers(0, count=2, device_id=1)).isError()
        finally:
            client.close()


async def test_stale_unit_repeats_its_frozen_bytes_until_cleared() -> None:
    async with MeterSimulator("sdm120", seed=2) as sim:
        port = await sim.start_tcp()
        client = await _client(port)
        try:
            await client.read_input_registers(0, count=14, device_id=1)
            sim[1].stale = True
            frozen = (await client.read_input_registers(0, count=14, device_id=1)).registers
            sim[1].values.power_w = 2_300.0
            assert (await client.read_input_registers(0, count=14, device_id=1)).registers == frozen
            sim[1].stale = False
            live = (await client.read_input_registers(0, count=14, device_id=1)).registers
        finally:
            client.close()
    assert live != frozen and _float(live[12:14]) == 2_300.0


async def test_registers_outside_the_map_and_writes_are_refused() -> None:
    async with MeterSimulator("sdm630") as sim:
        port = await sim.start_tcp()
        client = await _client(port)
        try:
            outside = await client.read_input_registers(0x0100, count=2, device_id=1)
            wrong_function = await client.read_holding_registers(0, count=2, device_id=1)
            write = await client.write_register(0, 1, device_id=1)
        finally:
            client.close()
    assert outside.isError() and outside.exception_code == 2
    assert wrong_function.isError() and write.isError()


def test_command_line_serves_tcp_and_reports_the_port() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "simulators.modbus_meter", "--model", "sdm630",
                             "--tcp", "127.0.0.1:0", "--units", "1,2"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert '"units": [1, 2]' in line and '"tcp": "127.0.0.1:' in line
        port = int(line.rsplit(":", 1)[1].rstrip('"}\n'))

        async def read() -> list[int]:
            client = await _client(port)
            try:
                return (await client.read_input_registers(0, count=2, device_id=2)).registers
            finally:
                client.close()

        assert 225 < _float(asyncio.run(read())) < 235
    finally:
        proc.terminate()
        proc.wait(5)
