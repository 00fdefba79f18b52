"""The control pilot of one connector, measured by an ADS1115 and driven by a sysfs PWM.

What the agent sees:

* :meth:`AdcPilot.states` yields IEC 61851-1 states A-F, each confirmed by ``confirm``
  equal samples in a row spanning at least ``confirm_span_s`` (debounce.py says what
  that protects against). States E and F, including F for a diode fault (the EV's
  diode missing or shorted: no clean -12 V negative half-wave while PWM runs) and F
  for a level that fits no state, are *pilot states*, not :class:`Fault` s. The state
  machine already treats E/F as a pilot error: it withholds energy and reports
  ``EVCommunicationError`` as the warning OCPP 1.6 (section 4.9) allows with
  Preparing/SuspendedEVSE/Finishing, and the error ends by itself when the EV
  leaves E/F. Raising a Fault as well would report the same event twice and turn the
  connector Faulted with a code OCPP does not pair with Faulted.
* :meth:`AdcPilot.faults` is about this driver's own hardware: an ADC that stops
  answering is ``InternalError`` (the charger cannot see its pilot, so it must not
  charge), raised after ``confirm`` failed samples in a row and cleared when
  ``confirm`` good samples agree again. States stop while the fault is active.

The poll loop is :meth:`AdcPilot.run`, a long-lived task the caller's TaskGroup owns
(the agent's ``Hardware.services``); it idles until :meth:`AdcPilot.open`. It samples
as often as :class:`~.schedule.SampleSchedule` says: slowly while nothing can flow,
every 100 ms while an offer is out or the EV asks for energy, and with quick reads to
confirm a suspected change or to catch the EV's answer to a new offer.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import structlog

from drivers.protocols import DeviceError, Fault, PilotState

from . import circuit, iec61851
from .ads1115 import Ads1115
from .debounce import Debouncer
from .pwm import SysfsPwm
from .schedule import SampleSchedule

log = structlog.get_logger(__name__)

#: ADS1115 settings for every pilot conversion: +-4.096 V covers the 3.3 V pins with
#: 125 uV steps (0.6 mV of pilot); 860 SPS keeps a two-input sample near 3 ms.
FULL_SCALE_V = 4.096
DATA_RATE_SPS = 860
#: The positive level of state E (0 V): the only level at which the negative peak tells
#: two states apart (E, or F with the line held at -12 V) when no PWM runs.
_E_BAND = iec61851.PILOT_BANDS[PilotState.E]
#: A sample taking longer than this (a hung bus) counts as a failed one.
SAMPLE_TIMEOUT_S = 0.5
FAULT_CODE = "InternalError"
VENDOR_CODE = "PilotAdcFailure"


class AdcPilot:
    """A :class:`~drivers.protocols.Pilot`, :class:`~drivers.protocols.FaultReporter`
    and :class:`~drivers.protocols.ProximityPilot`. Constructing it does no I/O.

    ``positive_input``/``negative_input``/``proximity_input`` are ADS1115 inputs
    (0-3) wired as in docs/hardware.md; ``negative_input`` None means no negative
    peak detector (no diode check), ``proximity_input`` None a tethered cable.
    ``divider`` is pilot volts per pin volt, ``pp_pullup_ohm``/``pp_supply_v`` the
    proximity pull-up; the defaults are the documented component values. ``schedule``
    sets the sampling pace and the debounce (``confirm`` samples over ``confirm_span_s``).
    """

    def __init__(
        self,
        connector: int,
        *,
        adc: Ads1115,
        positive_input: int,
        negative_input: int | None,
        pwm: SysfsPwm,
        proximity_input: int | None = None,
        divider: float = circuit.CP_DIVIDER,
        pp_pullup_ohm: float = circuit.PP_PULLUP_OHM,
        pp_supply_v: float = circuit.PP_SUPPLY_V,
        schedule: SampleSchedule = SampleSchedule(),
    ) -> None:
        self.connector = connector
        self.name = f"pilot {connector}"
        inputs = [i for i in (positive_input, negative_input, proximity_input) if i is not None]
        for i in inputs:
            if i not in range(4):
                raise ValueError(f"{self.name}: input {i} is not an ADS1115 input (0-3)")
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"{self.name}: the pilot inputs must be different ADS1115 inputs, not {inputs}")
        for label, value in (("divider", divider), ("pp_pullup_ohm", pp_pullup_ohm), ("pp_supply_v", pp_supply_v)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{self.name}: {label} must be a positive number, not {value}")
        self.adc = adc
        self.pwm = pwm
        self.positive_input = positive_input
        self.negative_input = negative_input
        self.proximity_input = proximity_input
        self.divider = divider
        self.pp_pullup_ohm = pp_pullup_ohm
        self.pp_supply_v = pp_supply_v
        self.schedule = schedule
        self.confirm = schedule.confirm
        self._debounce: Debouncer[PilotState] = Debouncer(schedule.confirm, schedule.confirm_span_s)
        self._pilot_inputs = [positive_input] if negative_input is None else [positive_input, negative_input]
        self._opened = asyncio.Event()
        self._wakeup: asyncio.Future[None] | None = None  # the sampler's pause, cut short by a new offer
        self._watch_until = 0.0  # loop time until which an answer to the last offer is awaited
        self._state: PilotState | None = None  # last state reported
        self._fault: Fault | None = None  # the active fault, if any
        self._failures = 0
        self._state_queues: set[asyncio.Queue[PilotState]] = set()
        self._fault_queues: set[asyncio.Queue[Fault]] = set()

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        """Drive the pilot to constant +12 V first (nothing offered), then probe the ADC."""
        await self.pwm.open()
        await self.adc.open()
        self._opened.set()

    async def close(self) -> None:
        """Stop sampling, leave the pilot at constant +12 V, release the bus; idempotent."""
        self._opened.clear()
        self._debounce.reset()
        self._failures = 0
        self._state = None
        try:
            await self.pwm.close()
        finally:
            await self.adc.close()

    async def run(self) -> None:
        """Sample the pilot as the schedule says until cancelled; never raises for a
        failing device (see the module docstring)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._opened.wait()
            started = loop.time()
            try:
                async with asyncio.timeout(SAMPLE_TIMEOUT_S):
                    state, positive, negative = await self._sample()
            except Exception as exc:  # noqa: BLE001 - a failing ADC is a fault to report, never a crash
                if self._opened.is_set():
                    self._failed(exc)
            else:
                if self._opened.is_set():
                    self._sampled(state, positive, negative, started, loop.time())
            await self._pause(loop)

    def _next_pause(self, now: float) -> float:
        """Quick reads while a change is being confirmed (or a failing read retried), else
        the schedule's pace for what is at stake."""
        pending = self._debounce.pending
        if pending is not None and (self._state is None or pending is not self._state or self._fault is not None):
            run, first_finished = self._debounce.run
            return max(0.0, self.schedule.confirm_due(first_finished, run) - now)
        if 0 < self._failures < self.confirm:
            return min(self.schedule.confirm_span_s / max(self.confirm - 1, 1), self.schedule.active_s)
        return self.schedule.pause(confirmed=self._state, watching=now < self._watch_until,
                                   offering=self.pwm.oscillating)

    async def _pause(self, loop: asyncio.AbstractEventLoop) -> None:
        """Sleep until the next sample is due, or until :meth:`offer` changes the offer."""
        wakeup = self._wakeup = loop.create_future()
        timer = loop.call_later(self._next_pause(loop.time()), _wake, wakeup)
        try:
            await wakeup
        finally:
            timer.cancel()
            self._wakeup = None

    # -- the roles -----------------------------------------------------------------

    async def states(self) -> AsyncIterator[PilotState]:
        """The confirmed state first (waiting for one), then each change."""
        queue: asyncio.Queue[PilotState] = asyncio.Queue()
        if self._state is not None:
            queue.put_nowait(self._state)
        self._state_queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._state_queues.discard(queue)

    async def faults(self) -> AsyncIterator[Fault]:
        """The active fault first (if any), then each fault raised and cleared."""
        queue: asyncio.Queue[Fault] = asyncio.Queue()
        if self._fault is not None:
            queue.put_nowait(self._fault)
        self._fault_queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._fault_queues.discard(queue)

    async def offer(self, current_a: float) -> None:
        """0 A: constant +12 V; 6-80 A: the IEC 61851-1 duty cycle; anything else is refused."""
        if current_a == 0:
            percent = 100.0
        else:
            try:
                percent = iec61851.duty_for_current(current_a)
            except ValueError as exc:
                raise DeviceError(self.name, str(exc), retry=False) from None
        offering = self.pwm.oscillating
        await self.pwm.set_duty(percent)
        log.debug("pilot offer", connector=self.connector, current_a=current_a, duty_percent=round(percent, 3))
        if self.pwm.oscillating and not offering:  # the EV answers an offer by asking for energy: see it at once
            self._watch_until = asyncio.get_running_loop().time() + self.schedule.watch_s
            if self._wakeup is not None:
                _wake(self._wakeup)

    async def cable_rating(self) -> float | None:
        """The plugged cable's rating from the proximity pilot (None: no cable, or no PP input)."""
        if self.proximity_input is None:
            return None
        pin = await self.adc.read(self.proximity_input, full_scale=FULL_SCALE_V, data_rate=DATA_RATE_SPS)
        ohms = circuit.proximity_ohms(pin, self.pp_pullup_ohm, self.pp_supply_v)
        try:
            return iec61851.cable_rating(ohms)
        except ValueError as exc:
            raise DeviceError(self.name, f"proximity pilot: {exc}") from None

    # -- sampling ------------------------------------------------------------------

    async def _sample(self) -> tuple[PilotState, float, float | None]:
        oscillating = self.pwm.oscillating  # before reading: an offer made meanwhile is judged next time
        pins = await self.adc.read_sequence(self._pilot_inputs, full_scale=FULL_SCALE_V, data_rate=DATA_RATE_SPS,
                                            enough=None if oscillating else self._positive_decides)
        positive = circuit.pilot_volts(pins[0], self.divider)
        negative = circuit.negative_volts(pins[1], self.divider) if len(pins) > 1 else None
        state = iec61851.classify(positive, negative, pwm=oscillating)
        # A level in no band is no state the EV may be in: F, like a wrong diode.
        return (state if state is not None else PilotState.F), positive, negative

    def _positive_decides(self, pins: list[float]) -> bool:
        """Without PWM the negative peak matters only at 0 V (E, or F held at -12 V): any
        other positive level classifies alone, and the second conversion is skipped."""
        return circuit.pilot_volts(pins[0], self.divider) not in _E_BAND

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self._debounce.reset()
        if self._failures >= self.confirm and self._fault is None:
            log.error("pilot ADC failing", connector=self.connector, device=self.adc.name,
                      error=str(exc) or type(exc).__name__)
            self._publish_fault(Fault(self.connector, FAULT_CODE, True, "pilot ADC not answering", VENDOR_CODE))

    def _sampled(self, state: PilotState, positive: float, negative: float | None, started: float,
                 finished: float) -> None:
        self._failures = 0
        confirmed = self._debounce.feed(state, started, finished)
        if confirmed is None:
            return
        if self._fault is not None:
            log.info("pilot ADC recovered", connector=self.connector, device=self.adc.name)
            self._publish_fault(Fault(self.connector, FAULT_CODE, False, "pilot ADC answers again", VENDOR_CODE))
        if confirmed is self._state:
            return
        self._state = confirmed
        log.info("pilot state", connector=self.connector, state=confirmed.value, positive_v=round(positive, 2),
                 negative_v=None if negative is None else round(negative, 2) + 0.0, pwm=self.pwm.oscillating)
        for queue in self._state_queues:
            queue.put_nowait(confirmed)

    def _publish_fault(self, fault: Fault) -> None:
        self._fault = fault if fault.active else None
        for queue in self._fault_queues:
            queue.put_nowait(fault)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
