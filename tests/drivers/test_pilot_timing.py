"""The pilot's debounce and sampling pace at the shipped timings: the real AdcPilot and
Ads1115 drivers against the register-level ADS1115, with pilot levels that change in time.

What the debounce protects against (docs/hardware.md): a glitch, or a level the peak
detector only passes through on its way down (up to 33 ms in a band), must never
become a state; a real change is confirmed by 3 equal samples spanning at least 40 ms.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from drivers.pilot import AdcPilot, Ads1115, I2cBus, SampleSchedule, SysfsPwm, circuit
from drivers.pilot.debounce import Debouncer
from drivers.protocols import PilotState
from simulators.ads1115 import FakeAds1115, FakeSMBus, PilotFrontEnd
from simulators.sysfs_pwm import FakePwmTree

from .test_pilot_driver import Rig, next_item, running

SPAN_S = SampleSchedule().confirm_span_s
#: The hold capacitor and bleed resistor of the peak detectors (docs/hardware.md).
TAU_S = 0.047


def shipped(tmp_path: Path, schedule: SampleSchedule = SampleSchedule()) -> Rig:
    """One connector wired as documented, with the driver's default schedule."""
    tree = FakePwmTree(tmp_path)
    ev = PilotFrontEnd(duty=lambda: tree.duty_percent(0, 0))
    chip = FakeAds1115(ev.inputs())
    smbus = FakeSMBus({0x48: chip})
    pilot = AdcPilot(1, adc=Ads1115(I2cBus(lambda: smbus, "/dev/i2c-1"), 0x48), positive_input=0,
                     negative_input=1, proximity_input=2, pwm=SysfsPwm(0, 0, root=tmp_path), schedule=schedule)
    return Rig(tree, ev, chip, smbus, pilot)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running(shipped(tmp_path)) as started:
        yield started


#: The shipped debounce (3 samples over 40 ms), sampled every 5 ms whatever happens:
#: the protection must hold however fast the samples come.
FAST = SampleSchedule(idle_s=0.005, active_s=0.005, watch_every_s=0.005)


@pytest.fixture
async def fast(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running(shipped(tmp_path, FAST)) as started:
        yield started


@pytest.fixture(params=["shipped pace", "every 5 ms"])
async def either(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    schedule = SampleSchedule() if request.param == "shipped pace" else FAST
    async with running(shipped(tmp_path, schedule)) as started:
        yield started


def for_a_while(normal: Callable[[], float], level: float, seconds: float) -> Callable[[], float]:
    """A pin reading ``level`` for ``seconds`` from now, then ``normal`` again."""
    until = time.monotonic() + seconds
    return lambda: level if time.monotonic() < until else normal()


def decaying(from_pilot_v: float) -> Callable[[], float]:
    """The positive peak detector after the pilot fell from ``from_pilot_v`` to 0 V: its
    hold capacitor bleeds with tau = 47 ms, passing every band below on the way."""
    start = time.monotonic()
    return lambda: from_pilot_v / circuit.CP_DIVIDER * math.exp(-(time.monotonic() - start) / TAU_S)


async def plugged_and_offered(rig: Rig) -> AsyncIterator[PilotState]:
    states = aiter(rig.pilot.states())
    assert await next_item(states) is PilotState.A
    rig.ev.state = PilotState.B
    assert await next_item(states) is PilotState.B
    await rig.pilot.offer(16)
    return states


# -- the rule itself ----------------------------------------------------------------------------


def test_equal_samples_closer_together_than_the_span_confirm_nothing() -> None:
    debounce: Debouncer[str] = Debouncer(3, 0.04)
    # Ten agreeing samples, 3 ms each, back to back: 30 ms in all.
    assert [debounce.feed("C", t / 1000, t / 1000 + 0.003) for t in range(0, 30, 3)] == [None] * 10
    # The sample that starts 40 ms after the first one finished confirms, once.
    assert debounce.feed("C", 0.044, 0.047) == "C"
    assert debounce.feed("C", 0.050, 0.053) is None  # once per run


def test_fewer_samples_than_confirm_confirm_nothing_however_long() -> None:
    debounce: Debouncer[str] = Debouncer(3, 0.04)
    assert debounce.feed("C", 0.0, 0.003) is None
    assert debounce.feed("C", 5.0, 5.003) is None  # two samples, 5 s apart
    assert debounce.feed("B", 5.1, 5.103) is None  # a disagreeing sample starts a new run
    assert debounce.feed("C", 5.2, 5.203) is None
    assert debounce.feed("C", 5.3, 5.303) is None
    assert debounce.feed("C", 5.4, 5.403) == "C"


# -- through the driver --------------------------------------------------------------------------


async def test_a_glitch_shorter_than_the_span_never_changes_the_state(either: Rig) -> None:
    """While an offer is out (B, PWM running), the pilot reads C for 35 ms, five times."""
    rig = either
    states = await plugged_and_offered(rig)
    pending = asyncio.ensure_future(anext(states))
    c_level = circuit.detector_pins(6.0, -12.0)[0]
    before = rig.chip.conversions_of[0]
    for _ in range(5):
        rig.chip.inputs[0] = for_a_while(rig.ev.positive_pin, c_level, SPAN_S - 0.005)
        await asyncio.sleep(SPAN_S + 0.04)
        assert not pending.done(), "a glitch shorter than the debounce span was reported"
    assert rig.chip.conversions_of[0] - before >= 10  # it was looked at, often
    pending.cancel()


async def test_a_falling_level_is_never_taken_for_the_bands_it_passes(fast: Rig) -> None:
    """A to E (the pilot shorted to PE): the detector needs about 120 ms to fall from
    12 V to under 1 V, through B, C, D and the gaps between them (F), up to 33 ms in
    each; sampled every 5 ms, each of them is read several times."""
    states = aiter(fast.pilot.states())
    assert await next_item(states) is PilotState.A
    for _ in range(3):
        fast.chip.inputs[0] = decaying(12.0)
        assert await next_item(states) is PilotState.E
        fast.chip.inputs[0] = fast.ev.positive_pin  # the short is gone: the detector charges at once
        assert await next_item(states) is PilotState.A


async def test_the_evs_answer_to_an_offer_is_confirmed_within_the_span_and_no_sooner(rig: Rig) -> None:
    states = await plugged_and_offered(rig)
    delays = []
    for _ in range(5):
        await asyncio.sleep(0.1)
        rig.ev.state = PilotState.C
        changed = time.monotonic()
        assert await next_item(states) is PilotState.C
        delays.append(time.monotonic() - changed)
        await rig.pilot.offer(0)  # the session ends: the EV goes back to B
        rig.ev.state = PilotState.B
        assert await next_item(states) is PilotState.B
        await rig.pilot.offer(16)
    assert min(delays) >= SPAN_S  # never faster than the debounce allows
    # Before: 3 samples 50 ms apart, 100-150 ms. Now the span and a sample or two.
    assert statistics.median(delays) < 0.075, delays


async def test_nothing_offered_and_nothing_plugged_is_sampled_slowly_and_on_one_input(rig: Rig) -> None:
    states = aiter(rig.pilot.states())
    assert await next_item(states) is PilotState.A
    await asyncio.sleep(0.1)
    before = dict(rig.chip.conversions_of)
    await asyncio.sleep(3.1)
    positive = rig.chip.conversions_of.get(0, 0) - before.get(0, 0)
    assert 2 <= positive <= 4  # once a second
    assert rig.chip.conversions_of.get(1, 0) == before.get(1, 0)  # the negative peak cannot matter at 12 V
    # Plugged in: noticed within a pause and the span.
    rig.ev.state = PilotState.B
    changed = time.monotonic()
    assert await next_item(states) is PilotState.B
    assert time.monotonic() - changed < SampleSchedule().idle_s + SPAN_S + 0.1


async def test_while_charging_the_pilot_is_sampled_every_100_ms_with_both_inputs(rig: Rig) -> None:
    states = await plugged_and_offered(rig)
    rig.ev.state = PilotState.C
    assert await next_item(states) is PilotState.C
    await asyncio.sleep(SampleSchedule().watch_s)  # past the watch for the EV's answer
    before = dict(rig.chip.conversions_of)
    await asyncio.sleep(1.0)
    positive = rig.chip.conversions_of[0] - before[0]
    assert 7 <= positive <= 11  # 10 per second at most, a few fewer on a busy machine
    # The diode check on every sample (the window may cut one sample in two).
    assert abs(rig.chip.conversions_of[1] - before[1] - positive) <= 1
    # The EV stops: confirmed within a pause and the span (before: up to 155 ms).
    rig.ev.state = PilotState.B
    changed = time.monotonic()
    assert await next_item(states) is PilotState.B
    assert SPAN_S <= time.monotonic() - changed < SampleSchedule().active_s + SPAN_S + 0.03
