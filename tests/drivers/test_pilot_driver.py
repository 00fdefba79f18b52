"""AdcPilot, the real driver, against the fake ADS1115 bus and a fake pwmchip tree,
with a simulated EV on the pilot line."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import structlog

from drivers.pilot import AdcPilot, Ads1115, I2cBus, SysfsPwm
from drivers.pilot.schedule import SampleSchedule
from drivers.protocols import DeviceError, Fault, FaultReporter, Pilot, PilotState, ProximityPilot
from simulators.ads1115 import FakeAds1115, FakeSMBus, PilotFrontEnd
from simulators.sysfs_pwm import FakePwmTree

T = TypeVar("T")
BUS = "/dev/i2c-1"
POLL = 0.004
WAIT = 2.0


@dataclass
class Rig:
    tree: FakePwmTree
    ev: PilotFrontEnd
    chip: FakeAds1115
    smbus: FakeSMBus
    pilot: AdcPilot

    async def samples(self, count: int) -> None:
        """Wait until the driver has read the positive input ``count`` more times."""
        start = self.positive_reads()
        async with asyncio.timeout(WAIT):
            while self.positive_reads() < start + count:
                await asyncio.sleep(POLL / 2)

    def positive_reads(self) -> int:
        return sum(1 for t in self.chip.transfers if t.op == "write" and t.register == 1 and t.value >> 12 & 7 == 4)

    def duty_ns(self) -> int:
        return self.tree.channel(0, 0).duty_ns


def build(tmp_path: Path, smbus: FakeSMBus | None = None, address: int = 0x48, channel: int = 0) -> Rig:
    tree = FakePwmTree(tmp_path)
    ev = PilotFrontEnd(duty=lambda: tree.duty_percent(0, channel))
    chip = FakeAds1115(ev.inputs())
    smbus = smbus if smbus is not None else FakeSMBus()
    smbus.devices[address] = chip
    pilot = AdcPilot(
        channel + 1, adc=Ads1115(I2cBus(lambda: smbus, BUS), address), positive_input=0, negative_input=1,
        proximity_input=2, pwm=SysfsPwm(0, channel, root=tmp_path),
        schedule=SampleSchedule(idle_s=POLL, active_s=POLL, confirm=3, confirm_span_s=2 * POLL),
    )
    return Rig(tree, ev, chip, smbus, pilot)


@contextlib.asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[Rig]:
    """Open the pilot and run its poller in a TaskGroup, as the agent does."""
    async with asyncio.TaskGroup() as tg:
        poller = tg.create_task(rig.pilot.run())
        await rig.pilot.open()
        try:
            yield rig
        finally:
            await rig.pilot.close()
            poller.cancel()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running(build(tmp_path)) as started:
        yield started


async def next_item(stream: AsyncIterator[T]) -> T:
    async with asyncio.timeout(WAIT):
        return await anext(stream)


def glitching(source: Callable[[], float], value: float, count: int) -> Callable[[], float]:
    """An input reading ``value`` for its next ``count`` conversions, then ``source`` again."""
    left = [count]

    def read() -> float:
        if left[0] > 0:
            left[0] -= 1
            return value
        return source()

    return read


def test_the_driver_fills_its_roles(tmp_path: Path) -> None:
    pilot = build(tmp_path).pilot  # constructing does no I/O
    assert isinstance(pilot, Pilot) and isinstance(pilot, FaultReporter) and isinstance(pilot, ProximityPilot)


def test_bad_wiring_arguments_are_refused(tmp_path: Path) -> None:
    rig = build(tmp_path)
    with pytest.raises(ValueError, match=r"pilot 1: the pilot inputs must be different ADS1115 inputs"):
        AdcPilot(1, adc=rig.pilot.adc, positive_input=0, negative_input=0, pwm=rig.pilot.pwm)
    with pytest.raises(ValueError, match=r"pilot 1: input 4 is not an ADS1115 input"):
        AdcPilot(1, adc=rig.pilot.adc, positive_input=4, negative_input=None, pwm=rig.pilot.pwm)


async def test_states_follow_the_ev(rig: Rig) -> None:
    states = aiter(rig.pilot.states())
    assert await next_item(states) is PilotState.A
    rig.ev.state = PilotState.B
    assert await next_item(states) is PilotState.B
    await rig.pilot.offer(16)
    rig.ev.state = PilotState.C
    assert await next_item(states) is PilotState.C
    rig.ev.state = PilotState.D
    assert await next_item(states) is PilotState.D
    rig.ev.state = PilotState.E  # pilot shorted to PE
    assert await next_item(states) is PilotState.E
    rig.ev.state = PilotState.F  # line held at -12 V
    assert await next_item(states) is PilotState.F
    rig.ev.state = PilotState.A
    assert await next_item(states) is PilotState.A
    # A second reader gets the present state first.
    assert await next_item(aiter(rig.pilot.states())) is PilotState.A


async def test_glitches_shorter_than_confirm_are_not_reported(rig: Rig) -> None:
    states = aiter(rig.pilot.states())
    assert await next_item(states) is PilotState.A
    pending = asyncio.ensure_future(anext(states))
    c_level = 6.0 / 4.9
    for length in (1, 2):
        rig.chip.inputs[0] = glitching(rig.ev.positive_pin, c_level, length)
        await rig.samples(length + 4)
        assert not pending.done(), f"a {length}-sample glitch was reported"
    rig.chip.inputs[0] = glitching(rig.ev.positive_pin, c_level, 3)  # as long as confirm: a real state
    async with asyncio.timeout(WAIT):
        assert await pending is PilotState.C
    assert await next_item(states) is PilotState.A


async def test_diode_fault_is_state_f_while_pwm_runs(rig: Rig) -> None:
    states = aiter(rig.pilot.states())
    assert await next_item(states) is PilotState.A
    rig.ev.state = PilotState.B
    assert await next_item(states) is PilotState.B
    rig.ev.diode_ok = False
    await rig.samples(6)  # no PWM yet: no negative half-wave to check
    await rig.pilot.offer(32)
    assert await next_item(states) is PilotState.F
    rig.ev.diode_ok = True
    assert await next_item(states) is PilotState.B


@pytest.mark.parametrize(("current_a", "duty_ns"), [(6, 100_000), (16, 266_667), (32, 533_333), (63, 892_000),
                                                    (80, 960_000), (0, 1_000_000)])
async def test_offer_writes_the_iec_duty_cycle(rig: Rig, current_a: float, duty_ns: int) -> None:
    await rig.pilot.offer(current_a)
    assert rig.duty_ns() == duty_ns
    channel = rig.tree.channel(0, 0)
    assert channel.enabled and channel.period_ns == 1_000_000
    assert channel.offered_a == (None if current_a == 0 else pytest.approx(current_a, abs=0.01))


@pytest.mark.parametrize("current_a", [5, 81, -6, 3.5])
async def test_offer_refuses_what_iec_61851_cannot_offer(rig: Rig, current_a: float) -> None:
    await rig.pilot.offer(16)
    with pytest.raises(DeviceError, match=rf"pilot 1: {current_a} A cannot be offered") as caught:
        await rig.pilot.offer(current_a)
    assert not caught.value.retry
    assert rig.duty_ns() == 266_667  # the previous offer stands


async def test_absent_adc_at_open_names_bus_and_address(tmp_path: Path) -> None:
    rig = build(tmp_path)
    rig.smbus.devices.clear()
    with pytest.raises(DeviceError, match=r"ADS1115 at 0x48 on /dev/i2c-1: no answer"):
        await rig.pilot.open()
    assert rig.duty_ns() == 1_000_000 and rig.tree.channel(0, 0).enabled  # pilot driven safe all the same
    await rig.pilot.close()


async def test_adc_failing_raises_a_fault_stops_states_and_recovers(rig: Rig) -> None:
    states, faults = aiter(rig.pilot.states()), aiter(rig.pilot.faults())
    assert await next_item(states) is PilotState.A
    pending = asyncio.ensure_future(anext(states))
    with structlog.testing.capture_logs() as logs:
        rig.smbus.devices.clear()  # the chip stops answering
        fault = await next_item(faults)
        assert fault == Fault(1, "InternalError", True, "pilot ADC not answering", "PilotAdcFailure")
        rig.ev.state = PilotState.B  # unseen while the ADC is gone
        await asyncio.sleep(POLL * 10)
        assert not pending.done()
        # A late reader of faults learns the active fault at once.
        assert (await next_item(aiter(rig.pilot.faults()))).active
        rig.smbus.devices[0x48] = rig.chip
        cleared = await next_item(faults)
        assert (cleared.error_code, cleared.active) == ("InternalError", False)
        async with asyncio.timeout(WAIT):
            assert await pending is PilotState.B
    events = [entry["event"] for entry in logs]
    assert events.count("pilot ADC failing") == 1 and events.count("pilot ADC recovered") == 1


async def test_proximity_ratings_and_open_circuit(rig: Rig) -> None:
    assert await rig.pilot.cable_rating() is None  # nothing plugged in
    for ohms, amperes in ((1500, 13.0), (680, 20.0), (220, 32.0), (100, 63.0)):
        rig.ev.proximity_ohm = ohms
        assert await rig.pilot.cable_rating() == amperes
    rig.ev.proximity_ohm = 400  # a damaged resistor: no guessing
    with pytest.raises(DeviceError, match=r"pilot 1: proximity pilot: proximity resistance 400 Ohm fits no"):
        await rig.pilot.cable_rating()
    rig.ev.proximity_ohm = None
    assert await rig.pilot.cable_rating() is None


async def test_no_proximity_input_means_no_rating(tmp_path: Path) -> None:
    rig = build(tmp_path)
    pilot = AdcPilot(1, adc=rig.pilot.adc, positive_input=0, negative_input=1, pwm=rig.pilot.pwm)
    assert await pilot.cable_rating() is None


async def test_close_leaves_plus_12_volts_and_stops_sampling(tmp_path: Path) -> None:
    rig = build(tmp_path)
    async with asyncio.TaskGroup() as tg:
        poller = tg.create_task(rig.pilot.run())
        await rig.pilot.open()
        await rig.pilot.offer(32)
        await rig.samples(2)
        await rig.pilot.close()
        await rig.pilot.close()
        reads = rig.positive_reads()
        await asyncio.sleep(POLL * 10)
        assert rig.positive_reads() == reads
        assert rig.smbus.closed
        assert rig.duty_ns() == 1_000_000 and rig.tree.channel(0, 0).enabled
        poller.cancel()


async def test_two_connectors_share_one_bus(tmp_path: Path) -> None:
    shared = FakeSMBus()
    one = build(tmp_path, shared, 0x48, channel=0)
    two = build(tmp_path, shared, 0x49, channel=1)
    async with running(one), running(two):
        first, second = aiter(one.pilot.states()), aiter(two.pilot.states())
        assert await next_item(first) is PilotState.A and await next_item(second) is PilotState.A
        two.ev.state = PilotState.B
        assert await next_item(second) is PilotState.B
        await two.pilot.offer(20)
        two.ev.state = PilotState.C
        assert await next_item(second) is PilotState.C
        assert await next_item(aiter(one.pilot.states())) is PilotState.A
        assert one.duty_ns() == 1_000_000 and two.tree.channel(0, 1).offered_a == pytest.approx(20)


async def test_recovery_with_the_ev_unchanged_clears_the_fault_and_repeats_no_state(rig: Rig) -> None:
    states, faults = aiter(rig.pilot.states()), aiter(rig.pilot.faults())
    assert await next_item(states) is PilotState.A
    pending = asyncio.ensure_future(anext(states))
    rig.smbus.devices.clear()
    assert (await next_item(faults)).active
    rig.smbus.devices[0x48] = rig.chip
    assert not (await next_item(faults)).active
    await rig.samples(5)
    assert not pending.done()  # still A: nothing new to say
    pending.cancel()
