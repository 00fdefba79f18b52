"""The bench's devices at the wire: GPIO pins, the ADS1115 and the display on I2C, the PWM channels.

The agent runs its real GPIO and pilot drivers against these, through transports that
carry pin levels and I2C transfers over the bench socket (drivers/gpio/remote.py,
drivers/pilot/remote_i2c.py) and a sysfs-like PWM tree in a directory
(simulators/sysfs_pwm.py). :class:`WiredHardware` builds the device models of
simulators/gpio_bench.py on the pins of :mod:`simulators.bench_wiring`, keeps them and
the EV model (simulators/ev.py) in step, and serves the two socket roles.

Threads: the device models move on their own timer threads, as real contactors move
on their own; whatever they change reaches the event loop with
``call_soon_threadsafe`` before it touches the EV model or a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio.indicator import Colour, LedPins
from drivers.protocols import PilotState
from simulators.ads1115 import FakeAds1115, FakeSMBus, PilotFrontEnd
from simulators.bench_wiring import (
    ADS1115_ADDRESS,
    DISPLAY_ADDRESS,
    DISPLAY_COLUMNS,
    DISPLAY_ROWS,
    PWM_CHANNELS,
    PWM_CHIP,
    BenchWiring,
    ConnectorWiring,
)
from simulators.hd44780 import FakeHd44780
from simulators.gpio_bench import BenchPin, ContactorModel, GpioBench, LedPanel, LockModel, SafetyInputModel
from simulators.sysfs_pwm import FakePwmTree

log = structlog.get_logger(__name__)

#: How often the PWM tree is read for a changed offer (the EV reacts within this).
PWM_POLL_S = 0.02
CONTACTOR_FAULTS = ("welded", "fails_to_close")

Event = dict[str, Any]


class ConnectorDevices:
    """One connector's models: contactor with mirror, RCD, cable lock, LEDs and pilot front end."""

    def __init__(self, gpio: GpioBench, wiring: ConnectorWiring, pwm: FakePwmTree) -> None:
        self.wiring = wiring
        self.contactor: ContactorModel = gpio.contactor(pin=wiring.coil, feedback_pin=wiring.mirror)
        self.rcd: SafetyInputModel = gpio.rcd(wiring.rcd)
        self.lock: LockModel = gpio.lock(lock_pin=wiring.lock, unlock_pin=wiring.unlock,
                                              feedback_pin=wiring.lock_feedback)
        self.leds: LedPanel = gpio.leds(LedPins(red=wiring.red, green=wiring.green, blue=wiring.blue))
        self.front = PilotFrontEnd(duty=lambda: pwm.duty_percent(PWM_CHIP, wiring.pwm_channel))
        #: Wall-clock time the coil last went off (None: never), to compare with when a
        #: backend heard of the fault that opened it.
        self.coil_off_at: float | None = None
        self.contactor.coil_pin.listeners.append(self._coil_changed)

    def _coil_changed(self, _level: float) -> None:
        if not self.contactor.energised:
            self.coil_off_at = time.time()

    def status(self) -> dict[str, Any]:
        return {
            "coil": self.contactor.energised,
            "coil_off_at": self.coil_off_at,
            "contactor_fault": self.contactor.fault,
            "rcd_tripped": self.rcd.tripped,
            "diode_ok": self.front.diode_ok,
            "leds": sorted(c.value for c in self.leds.lit()),
        }


class WiredHardware:
    """The bench's wire-level devices for ``wiring``; the PWM tree lives under ``pwm_root``.

    ``on_contactor(connector, closed)`` and ``on_lock(connector, locked)`` are called on
    the event loop when a contactor's main contacts or a lock really move, so the EV
    model follows the hardware, faults included; ``on_offer(connector, amperes)`` when
    the PWM duty cycle offers another current; ``on_change()`` after anything else a
    status reader may wait for (an LED, the coil).
    """

    def __init__(self, wiring: BenchWiring, pwm_root: Path, *,
                 on_contactor: Callable[[int, bool], None], on_lock: Callable[[int, bool], None],
                 on_offer: Callable[[int, float], None], on_change: Callable[[], None]) -> None:
        self.wiring = wiring
        self.pwm_root = Path(pwm_root)
        self.pwm = FakePwmTree(self.pwm_root, {PWM_CHIP: PWM_CHANNELS})
        self.factory = MockFactory(pin_class=MockPWMPin)
        self.gpio = GpioBench(self.factory)
        self.connectors = {n: ConnectorDevices(self.gpio, w, self.pwm) for n, w in enumerate(wiring.connectors, 1)}
        self.estop: SafetyInputModel = self.gpio.estop(wiring.estop)
        self.estop.reset()
        # No proximity pilot: the bench's cables are tethered (the connectors use all four inputs).
        inputs: dict[int, Callable[[], float]] = {}
        for devices in self.connectors.values():
            inputs[devices.wiring.pilot_positive] = devices.front.positive_pin
            inputs[devices.wiring.pilot_negative] = devices.front.negative_pin
        # A conversion is done by the time the driver first looks (it waits one conversion
        # period, as with the real chip); counting busy reads instead would let a loaded
        # machine's late first look pass the driver's deadline and fake a stuck ADC.
        self.adc = FakeAds1115(inputs, busy_reads=0)
        #: The 20x4 character display the driver reads (a PCF8574 backpack and an HD44780).
        self.display = FakeHd44780(DISPLAY_COLUMNS, DISPLAY_ROWS)
        self.i2c = FakeSMBus({ADS1115_ADDRESS: self.adc, DISPLAY_ADDRESS: self.display})
        self._on_contactor = on_contactor
        self._on_lock = on_lock
        self._on_offer = on_offer
        self._on_change = on_change
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pin_peers: set[Callable[[Event], None]] = set()
        self._offers = {n: 0.0 for n in self.connectors}
        self._pins = {n: self.factory.pin(n) for n in wiring.agent_outputs() | wiring.bench_outputs()}
        self._pilot_reads_at_change = {n: 0 for n in self.connectors}

    def start(self) -> None:
        """Hook the models to the event loop (call it on the loop before serving)."""
        self._loop = asyncio.get_running_loop()
        for n, devices in self.connectors.items():
            devices.contactor.coil_pin.listeners.append(lambda _level: self._soon(self._on_change))
            devices.contactor.mirror_pin.listeners.append(
                lambda _level, n=n, c=devices.contactor: self._soon(self._on_contactor, n, c.closed))
            devices.lock.feedback_pin.listeners.append(
                lambda _level, n=n, lock=devices.lock: self._soon(self._on_lock, n, lock.locked))
            for pin in devices.leds.pins():
                pin.listeners.append(lambda _level: self._soon(self._on_change))
        for number in self.wiring.bench_outputs():
            pin = self._pins[number]
            assert isinstance(pin, BenchPin)
            pin.listeners.append(lambda level, number=number: self._soon(self._broadcast_pin, number, level))

    def close(self) -> None:
        self.gpio.close()

    def _soon(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the bench is going away
                self._loop.call_soon_threadsafe(callback, *args)

    # -- the EV model's side ------------------------------------------------------------

    def show_pilot(self, connector: int, state: PilotState) -> None:
        """The EV's pilot state as the front end's voltages (after every bench change)."""
        front = self.connectors[connector].front
        if front.state != state:
            self._pilot_reads_at_change[connector] = self._pilot_reads(connector)
        front.state = state

    def _pilot_reads(self, connector: int) -> int:
        return self.adc.conversions_of.get(self.connectors[connector].wiring.pilot_positive, 0)

    def poll_pwm(self) -> None:
        """Read each channel's duty cycle; a changed offer goes to the EV model."""
        for n, devices in self.connectors.items():
            try:
                offered = self.pwm.channel(PWM_CHIP, devices.wiring.pwm_channel).offered_a
            except (OSError, ValueError):
                offered = None  # a half-written or missing attribute: nothing offered this time
            amperes = offered or 0.0
            if amperes != self._offers[n]:
                self._offers[n] = amperes
                self._on_offer(n, amperes)

    async def run(self) -> None:
        """Follow the PWM outputs until cancelled."""
        while True:
            self.poll_pwm()
            await asyncio.sleep(PWM_POLL_S)

    # -- fault injection ---------------------------------------------------------------

    def set_rcd(self, connector: int, tripped: bool) -> None:
        rcd = self.connectors[connector].rcd
        if tripped:
            rcd.trip()
        else:
            rcd.reset()

    def set_estop(self, pressed: bool) -> None:
        if pressed:
            self.estop.trip()
        else:
            self.estop.reset()

    def set_contactor_fault(self, connector: int, fault: str | None) -> None:
        if fault is not None and fault not in CONTACTOR_FAULTS:
            raise ValueError(f"fault must be one of {', '.join(CONTACTOR_FAULTS)} or null, not {fault!r}")
        contactor = self.connectors[connector].contactor
        {"welded": contactor.weld, "fails_to_close": contactor.fail_to_close, None: contactor.repair}[fault]()

    def set_diode(self, connector: int, ok: bool) -> None:
        self.connectors[connector].front.diode_ok = ok

    def place_lock(self, connector: int, locked: bool) -> None:
        self.connectors[connector].lock.place(locked)

    def jam_lock(self, connector: int, jammed: bool) -> None:
        lock = self.connectors[connector].lock
        if jammed:
            lock.jam()
        else:
            lock.free()

    def set_display_plugged(self, plugged: bool) -> None:
        """Unplug the display from the bus (and its power), or plug it back: powered up blank."""
        if plugged:
            self.display.plug()
        else:
            self.display.unplug()
        self._on_change()

    def screen(self) -> dict[str, Any]:
        """What the display shows, as a person reads it (blank when off or unplugged)."""
        return {"lines": self.display.lines(), "backlight": self.display.backlight,
                "plugged": self.display.plugged, "initialised": self.display.initialised}

    def screen_text(self) -> str:
        """The display's rows, one per line, trailing blanks cut (what ``wait_for`` compares)."""
        return "\n".join(line.rstrip() for line in self.display.lines())

    def status(self, connector: int) -> dict[str, Any]:
        """The connector's devices, and ``pilot_reads``: conversions of its pilot signal
        since the EV last changed state, i.e. how many samples the agent has had to
        notice the change (a person plugging and tapping waits at least that long)."""
        reads = self._pilot_reads(connector) - self._pilot_reads_at_change[connector]
        return {**self.connectors[connector].status(), "pilot_reads": reads}

    def estop_pressed(self) -> bool:
        return self.estop.tripped

    def lit(self, connector: int) -> set[Colour]:
        return self.connectors[connector].leds.lit()

    # -- the socket roles --------------------------------------------------------------

    async def serve_pins(self, reader: asyncio.StreamReader, send: Callable[[Event], None]) -> None:
        """One agent's pins: the snapshot, then changes both ways until it goes; then its
        outputs are released, as a dead controller's lines are."""
        send({"pins": {str(n): float(self._pins[n].state) for n in sorted(self.wiring.bench_outputs())}})
        self._pin_peers.add(send)
        log.info("agent pins attached")
        try:
            while line := await reader.readline():
                try:
                    self._agent_pin(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("agent pins sent nonsense", line=line[:200].decode(errors="replace"), error=str(exc))
        finally:
            self._pin_peers.discard(send)
            if not self._pin_peers:
                for number in sorted(self.wiring.agent_outputs()):
                    self._release(number)
                torn = self.pwm.restore_torn()
                if torn:
                    log.info("PWM attributes left half-written by the dead agent restored",
                             attributes=[str(p.relative_to(self.pwm_root)) for p in torn])
            log.info("agent pins detached")

    def _agent_pin(self, message: dict[str, Any]) -> None:
        number = int(message["pin"])
        if number not in self.wiring.agent_outputs():
            raise ValueError(f"GPIO{number} is not one the agent drives on this bench")
        if message.get("release"):
            self._release(number)
            return
        level = float(message["level"])
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"level {level} is not within 0..1")
        pin = self._pins[number]
        if pin.function != "output":
            pin.function = "output"
        pin.state = level

    def _release(self, number: int) -> None:
        """A released line reads low (pull-down), then is no output any more."""
        pin = self._pins[number]
        if pin.function == "output":
            pin.state = 0.0
            pin.function = "input"

    def _broadcast_pin(self, number: int, level: float) -> None:
        for send in list(self._pin_peers):
            send({"pin": number, "level": float(level)})

    async def serve_i2c(self, reader: asyncio.StreamReader, send: Callable[[Event], None]) -> None:
        """One agent's I2C bus: each transfer answered in order by the device at its address."""
        while line := await reader.readline():
            send(self._i2c(line))

    def _i2c(self, line: bytes) -> Event:
        try:
            request = json.loads(line)
            if request.get("op") == "send":  # plain bytes, no register: the display's port expander
                address = int(request["address"])
                self.i2c.write_bytes(address, [int(b) for b in request["data"]])
                if address == DISPLAY_ADDRESS:
                    self._on_change()  # a waiter may be watching the screen
                return {}
            if request.get("op") == "receive":  # one plain byte read: the port expander's pins
                return {"data": self.i2c.read_byte(int(request["address"]))}
            address, register = int(request["address"]), int(request["register"])
            if request["op"] == "read":
                return {"data": self.i2c.read_i2c_block_data(address, register, int(request["length"]))}
            if request["op"] == "write":
                self.i2c.write_i2c_block_data(address, register, [int(b) for b in request["data"]])
                return {}
            raise ValueError(f"unknown op {request['op']!r}; known: read, write, send, receive")
        except OSError as exc:
            return {"errno": exc.errno, "error": exc.strerror or str(exc)}
        except (ValueError, KeyError, TypeError) as exc:
            return {"errno": 22, "error": f"bad request: {exc}"}
