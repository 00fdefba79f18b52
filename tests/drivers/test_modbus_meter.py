"""The real ModbusMeter against the simulated meter, over Modbus TCP and RTU on a pty pair."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from drivers.modbus import ModbusBus, ModbusMeter, known_models, load_meter_model
from drivers.protocols import DeviceError, EnergyMeter
from simulators.modbus_meter import MeterSimulator, PtyPair

TIMEOUT = 0.3


def _set(sim: MeterSimulator, unit: int, *, energy: float, power: float, amps: float, volts: float) -> None:
    values = sim[unit].values
    phases = sim[unit].model.phases
    values.energy_wh, values.power_w = energy, power
    values.currents = [amps + i for i in range(phases)]
    values.voltages = [volts + i for i in range(phases)]


@pytest.fixture
async def sdm630() -> AsyncIterator[tuple[MeterSimulator, ModbusBus]]:
    sim = MeterSimulator("sdm630", units=[1, 2], seed=3)
    port = await sim.start_tcp()
    yield sim, ModbusBus.tcp("127.0.0.1", port, timeout=TIMEOUT)
    await sim.stop()


@pytest.mark.parametrize("name", known_models())
async def test_every_model_reads_what_the_simulator_serves_over_tcp(name: str) -> None:
    model = load_meter_model(name)
    async with MeterSimulator(model, units=[7], seed=1) as sim:
        port = await sim.start_tcp()
        _set(sim, 7, energy=1_234_567.0, power=11_040.0, amps=16.0, volts=229.0)
        meter = ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=TIMEOUT), 7, model)
        assert isinstance(meter, EnergyMeter)
        await meter.open()
        try:
            reading = await meter.read()
        finally:
            await meter.close()
    # The meter shows values in its own steps: 0.1 kWh on an EM340, a float32 on an SDM630.
    assert reading.energy_wh == pytest.approx(1_234_567.0, abs=model.energy.resolution(1_234_567.0))
    assert reading.power_w == pytest.approx(11_040.0, abs=model.power.resolution(11_040.0))
    assert reading.current_a == pytest.approx([16.0 + i for i in range(model.phases)],
                                              abs=model.current.resolution(20.0))
    # Voltages carry the simulator's noise (within a volt) so that frames change.
    assert reading.voltage_v == pytest.approx([229.0 + i for i in range(model.phases)], abs=1.0 + 0.1)
    assert len(reading.current_a) == len(reading.voltage_v) == model.phases
    assert abs(reading.timestamp - time.time()) < 5
    assert meter.requests == 1 + len(model.blocks)  # the probe at open, then one full reading


@pytest.mark.parametrize("name", ["sdm630", "em340"])  # float registers, integer registers LSW first
async def test_rtu_over_a_pty_pair(name: str) -> None:
    model = load_meter_model(name)
    async with PtyPair() as (server_end, client_end), MeterSimulator(model, units=[1, 2], seed=2) as sim:
        await sim.start_rtu(server_end)
        _set(sim, 2, energy=52_000.0, power=3_680.0, amps=16.0, volts=230.0)
        meter = ModbusMeter(ModbusBus.serial(client_end, timeout=TIMEOUT), 2, model)
        await meter.open()
        try:
            reading = await meter.read()
        finally:
            await meter.close()
    assert reading.energy_wh == pytest.approx(52_000.0, abs=model.energy.resolution(52_000.0))
    assert reading.power_w == pytest.approx(3_680.0, abs=model.power.resolution(3_680.0))
    assert reading.current_a == pytest.approx([16.0, 17.0, 18.0], abs=model.current.resolution(20.0))
    # RTU frames: 8 bytes per request; reply = unit + function + count byte + 2 per register + CRC.
    blocks = model.blocks
    assert meter.requests == 1 + len(blocks) and meter.bytes_sent == 8 * meter.requests  # probe + reading
    assert meter.bytes_received == 5 + 2 * blocks[0].count + sum(5 + 2 * b.count for b in blocks)


async def test_two_meters_on_one_line_read_concurrently_get_their_own_values() -> None:
    model = load_meter_model("em340")  # two requests per reading: interleaving would show
    async with PtyPair() as (server_end, client_end), MeterSimulator(model, units=[1, 2], seed=4) as sim:
        await sim.start_rtu(server_end)
        _set(sim, 1, energy=10_000.0, power=1_000.0, amps=5.0, volts=228.0)
        _set(sim, 2, energy=90_000.0, power=9_000.0, amps=30.0, volts=233.0)
        bus = ModbusBus.serial(client_end, timeout=TIMEOUT)
        meters = [ModbusMeter(bus, 1, model), ModbusMeter(bus, 2, model)]
        in_flight = peak = 0
        await asyncio.gather(*(m.open() for m in meters))
        execute = bus._client.execute

        async def counted(*args: object) -> object:  # watch the line: one request at a time
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await execute(*args)
            finally:
                in_flight -= 1

        bus._client.execute = counted  # type: ignore[method-assign]
        try:
            readings = await asyncio.gather(*(m.read() for m in meters for _ in range(5)))
        finally:
            await asyncio.gather(*(m.close() for m in meters))
        assert not bus.connected  # the last meter to close closed the port
    assert peak == 1
    assert all(r.energy_wh == 10_000.0 and r.current_a == pytest.approx([5, 6, 7]) for r in readings[:5])
    assert all(r.energy_wh == 90_000.0 and r.current_a == pytest.approx([30, 31, 32]) for r in readings[5:])


async def test_silent_meter_at_open_is_a_retryable_error_naming_port_and_unit(sdm630) -> None:
    sim, bus = sdm630
    sim[2].silent = True
    meter = ModbusMeter(bus, 2, sim[2].model)
    started = time.monotonic()
    with pytest.raises(DeviceError) as info:
        await meter.open()
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert info.value.retry
    assert f"unit 2 on tcp 127.0.0.1:{sim.port}" in str(info.value) and "no reply within 0.3 s" in str(info.value)
    sim[2].silent = False  # cleared again: the meter answers
    await meter.open()
    assert (await meter.read()).voltage_v
    sim[2].silent = True
    with pytest.raises(DeviceError, match="no reply"):
        await meter.read()
    await meter.close()


async def test_unknown_unit_id_is_silent_like_an_empty_bus_address(sdm630) -> None:
    sim, bus = sdm630
    with pytest.raises(DeviceError, match="unit 9 .* no reply") as info:
        await ModbusMeter(bus, 9, sim[1].model).open()
    assert info.value.retry


async def test_stale_meter_readings_stop_advancing_in_time(sdm630) -> None:
    sim, bus = sdm630
    meter = ModbusMeter(bus, 1, sim[1].model)
    await meter.open()
    first = await meter.read()
    await asyncio.sleep(0.01)
    live = await meter.read()
    assert live.timestamp > first.timestamp  # voltage noise: a live meter's frame changes
    sim[1].stale = True
    frozen = await meter.read()
    await asyncio.sleep(0.05)
    sim[1].values.power_w = 5_000.0  # the hung meter does not show it
    again = await meter.read()
    assert again == frozen and again.timestamp == frozen.timestamp
    assert time.time() - again.timestamp >= 0.05  # the agent sees the reading age
    sim[1].stale = False
    await asyncio.sleep(0.01)
    fresh = await meter.read()
    assert fresh.timestamp > again.timestamp and fresh.power_w == 5_000.0
    await meter.close()


async def test_energy_going_backwards_is_an_error_naming_both_values(sdm630) -> None:
    sim, bus = sdm630
    meter = ModbusMeter(bus, 1, sim[1].model)
    await meter.open()
    sim[1].values.energy_wh = 50_000.0
    assert (await meter.read()).energy_wh == 50_000.0
    sim[1].values.energy_wh = 20_000.0  # a glitch, or the meter was swapped
    with pytest.raises(DeviceError, match="went backwards from 50000 Wh to 20000 Wh") as info:
        await meter.read()
    assert info.value.retry
    sim[1].values.energy_wh = 50_500.0
    assert (await meter.read()).energy_wh == 50_500.0
    await meter.close()


async def test_implausible_values_are_refused_with_the_reason(sdm630) -> None:
    sim, bus = sdm630
    meter = ModbusMeter(bus, 1, sim[1].model)
    await meter.open()
    sim[1].values.voltages = [230.0, 5_000.0, 230.0]
    with pytest.raises(DeviceError, match="implausible reading: voltage 500.* V is out of range"):
        await meter.read()
    await meter.close()


async def test_wrong_model_answers_with_an_exception_code_and_is_not_retried() -> None:
    async with MeterSimulator("abb-b23", units=[1]) as sim:
        port = await sim.start_tcp()
        meter = ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=TIMEOUT), 1, load_meter_model("sdm630"))
        with pytest.raises(DeviceError, match="exception code 2 .illegal data address.") as info:
            await meter.open()
    assert not info.value.retry and "meter sdm630 unit 1" in str(info.value)


async def test_bus_recovers_on_the_next_read_after_a_tcp_server_restart() -> None:
    model = load_meter_model("sdm630")
    sim = MeterSimulator(model, units=[1])
    port = await sim.start_tcp()
    meter = ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=TIMEOUT), 1, model)
    await meter.open()
    try:
        sim[1].values.energy_wh = 1_000.0
        assert (await meter.read()).energy_wh == pytest.approx(1_000.0)
        await sim.stop()
        await asyncio.sleep(0.05)
        with pytest.raises(DeviceError) as info:  # the gateway is down
            await meter.read()
        assert info.value.retry
        restarted = MeterSimulator(model, units=[1])
        await restarted.start_tcp(port=port)
        restarted[1].values.energy_wh = 1_200.0
        assert (await meter.read()).energy_wh == pytest.approx(1_200.0)
        await restarted.stop()
    finally:
        await meter.close()
        await sim.stop()


async def test_connection_refused_at_open_names_host_and_port() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    meter = ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=TIMEOUT), 1, load_meter_model("sdm120"))
    with pytest.raises(DeviceError, match=f"cannot connect to tcp 127.0.0.1:{port}") as info:
        await meter.open()
    assert info.value.retry
    await meter.close()  # closing a meter that never opened is harmless


async def test_missing_serial_port_is_named() -> None:
    meter = ModbusMeter(ModbusBus.serial("/dev/ttyNOPE0", timeout=TIMEOUT), 1, load_meter_model("sdm120"))
    with pytest.raises(DeviceError, match="cannot connect to serial /dev/ttyNOPE0"):
        await meter.open()


def test_unit_id_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="unit id 0 is not allowed"):
        ModbusMeter(ModbusBus.tcp("127.0.0.1"), 0, load_meter_model("sdm630"))
