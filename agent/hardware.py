"""The charger's devices, built from the configuration's driver sections.

The only place that maps ``[meter] driver = "..."`` to a driver class. Each driver
gets its transport injected, so real and simulated hardware differ only here, in
which transport and driver the name selects.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.protocols import (
    DeviceError,
    MeterReading,
    CardReader,
    Contactor,
    ConnectorLock,
    Display,
    EnergyMeter,
    FaultReporter,
    Indicator,
    Pilot,
    SafetyInputs,
)

from .settings import Settings
from .settings.hardware import (
    Ads1115PilotSettings,
    GpioContactorSettings,
    GpioIndicatorSettings,
    GpioLockSettings,
    GpioSafetySettings,
    Hd44780DisplaySettings,
    ModbusGridMeterSettings,
    ModbusMeterSettings,
    PcscReaderSettings,
)

if TYPE_CHECKING:
    from drivers.display import Hd44780Display
    from drivers.i2c import I2cBus
    from drivers.sim import BenchLink

log = structlog.get_logger(__name__)


@dataclass
class Hardware:
    """Every device of one charger; per-connector devices are keyed by connector number."""

    meters: dict[int, EnergyMeter]
    pilots: dict[int, Pilot]
    contactors: dict[int, Contactor]
    reader: CardReader
    #: Cable locks of socket outlets; empty for a tethered cable.
    locks: dict[int, ConnectorLock] = field(default_factory=dict)
    #: RCD/RCM and emergency stop inputs; None when they act on the supply by themselves.
    safety: SafetyInputs | None = None
    #: LEDs for the driver; None when the charger has none.
    indicator: Indicator | None = None
    #: Long-running transport tasks (bus pollers, bench link) the app must run.
    services: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: The meter at the building's connection, read (opened and closed) by the site
    #: limiter alone; None without ``[grid_meter]``. Not one of :meth:`devices`.
    grid_meter: EnergyMeter | None = None
    #: The text display for the driver; None without one. Not one of :meth:`devices`: a
    #: display that fails must not hold the charger down (see :meth:`open`).
    display: Display | None = None

    def devices(self) -> list[object]:
        """In opening order: outputs first so they are driven safe before anything else,
        then the safety inputs, so a tripped RCD is known before any input asks for energy."""
        optional = [d for d in (self.safety, self.indicator) if d is not None]
        return [*self.contactors.values(), *self.pilots.values(), *self.locks.values(), *optional,
                *self.meters.values(), self.reader]

    def fault_reporters(self) -> list[FaultReporter]:
        """Every device that notices faults by itself; each is watched by the runtime."""
        return [d for d in self.devices() if isinstance(d, FaultReporter)]

    #: Meters that did not answer when the hardware was opened; opened on their next read.
    unopened_meters: set[int] = field(default_factory=set)

    async def open(self) -> None:
        """Open every device in order. A meter that does not answer yet does not hold the
        charger down: it comes up, reports PowerMeterFailure, and the meter is opened again
        on each read until it answers."""
        for device in self.devices():
            number = next((n for n, m in self.meters.items() if m is device), None)
            if number is None:
                await device.open()  # type: ignore[attr-defined]
                continue
            try:
                await device.open()  # type: ignore[attr-defined]
                self.unopened_meters.discard(number)
            except DeviceError as exc:
                if not exc.retry:
                    raise
                log.warning("meter not answering at start; it is retried on every read", connector=number,
                            error=str(exc))
                self.unopened_meters.add(number)
        if self.display is not None:
            try:
                await self.display.open()
            except DeviceError as exc:  # not even a missing I2C bus stops the charger for a display
                log.warning("display not answering at start; the charger works without it, and each new screen "
                            "tries it again", error=str(exc))

    async def read_meter(self, connector: int) -> MeterReading:
        """One reading of a connector's meter, opening it first if it was not answering at start."""
        meter = self.meters[connector]
        if connector in self.unopened_meters:
            await meter.open()
            self.unopened_meters.discard(connector)
        return await meter.read()

    async def close(self) -> None:
        """Close outputs first (contactors, then pilots, then locks); never raises, so
        every device gets its chance; the display goes last (it blanks itself)."""
        for device in [*self.devices(), *([self.display] if self.display is not None else [])]:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(device.close(), 2.0)  # type: ignore[attr-defined]


def build_hardware(settings: Settings, state_dir: Path) -> Hardware:
    """Construct (without I/O) the drivers the configuration names.

    The simulated bench's drivers share one connection to it, which the app runs as a
    service; real drivers own their transports (a Modbus bus shared by the meters on it).
    A driver refusing its settings is a DeviceError that will not pass by retrying.
    """
    try:
        return _build(settings, state_dir)
    except ValueError as exc:  # a driver's own check of its arguments (MeterModelError is one too)
        raise DeviceError("hardware", str(exc), retry=False) from None


def _build(settings: Settings, state_dir: Path) -> Hardware:
    numbers = range(1, settings.connectors.count + 1)
    hardware = Hardware(meters={}, pilots={}, contactors={}, reader=NoCardReader(), services=[])
    shared: list[BenchLink] = []
    buses: dict[tuple[str, int], I2cBus] = {}  # the pilot's ADS1115 and the display may share one

    def bench() -> BenchLink:
        """The one connection to the simulated bench, made (and run) once a sim driver needs it."""
        if not shared:
            from drivers.sim import BenchLink

            shared.append(BenchLink(str(bench_socket(settings, state_dir))))
            hardware.services.insert(0, shared[0].run)
        return shared[0]

    if settings.meter.driver == "sim":
        from drivers.sim import SimMeter

        hardware.meters = {n: SimMeter(bench(), n) for n in numbers}
    else:
        hardware.meters = build_modbus_meters(settings)
    if settings.pilot.driver == "sim":
        from drivers.sim import SimPilot

        hardware.pilots = {n: SimPilot(bench(), n) for n in numbers}
    else:
        hardware.pilots = build_adc_pilots(settings, state_dir, buses)
        hardware.services += [pilot.run for pilot in hardware.pilots.values()]  # type: ignore[attr-defined]
    factory = gpio_factory(settings, state_dir) if uses_gpio(settings) else None
    if settings.contactor.driver == "sim":
        from drivers.sim import SimContactor

        hardware.contactors = {n: SimContactor(bench(), n) for n in numbers}
    else:
        hardware.contactors = build_gpio_contactors(settings, factory)
    if settings.reader.driver == "sim":
        from drivers.sim import SimCardReader

        hardware.reader = SimCardReader(bench())
    elif settings.reader.driver == "pcsc":
        hardware.reader = build_pcsc_reader(settings)
    if settings.lock.driver == "sim":
        from drivers.sim import SimLock

        hardware.locks = {n: SimLock(bench(), n) for n in numbers}
    elif settings.lock.driver == "gpio":
        hardware.locks = build_gpio_locks(settings, factory)
    if settings.safety.driver == "gpio":
        hardware.safety = build_gpio_safety(settings, factory)
    if settings.indicator.driver == "gpio":
        hardware.indicator = build_gpio_indicator(settings, factory)
    hardware.grid_meter = build_grid_meter(settings, hardware.meters)
    if settings.display.driver == "hd44780":
        display = build_hd44780_display(settings, state_dir, buses)
        hardware.display = display
        hardware.services.append(display.run)  # brings back a display reset between two screens
    return hardware


def i2c_bus(settings: Settings, transport: str, number: int, state_dir: Path | None = None,
            buses: dict[tuple[str, int], I2cBus] | None = None) -> I2cBus:
    """The I2C bus ``number`` (/dev/i2c-N), or the bench's; devices on the same one share it
    through ``buses`` (one thread per bus, DESIGN.md 3.7)."""
    from drivers.display import Hd44780Display
    from drivers.i2c import I2cBus

    key = (transport, number if transport != "bench" else 0)
    if buses is not None and key in buses:
        return buses[key]
    if transport == "bench":
        from drivers.remote_i2c import RemoteSMBus

        path = bench_socket(settings, state_dir)
        bus = I2cBus(lambda: RemoteSMBus(path), f"the bench's I2C bus at {path}")
    else:
        import smbus2

        bus = I2cBus(lambda: smbus2.SMBus(number), f"/dev/i2c-{number}")
    if buses is not None:
        buses[key] = bus
    return bus


def build_hd44780_display(settings: Settings, state_dir: Path | None = None,
                          buses: dict[tuple[str, int], I2cBus] | None = None) -> Hd44780Display:
    """The character LCD of ``[display]`` on its PCF8574 backpack."""
    from drivers.display import PIN_MAPS, Hd44780Display

    cfg = settings.display
    assert isinstance(cfg, Hd44780DisplaySettings)
    bus = i2c_bus(settings, cfg.i2c_transport, cfg.i2c_bus, state_dir, buses)
    return Hd44780Display(bus, cfg.address, columns=cfg.columns, rows=cfg.rows, pins=PIN_MAPS[cfg.pin_map],
                          split=cfg.layout == "8x2")


def build_adc_pilots(settings: Settings, state_dir: Path | None = None,
                     buses: dict[tuple[str, int], I2cBus] | None = None) -> dict[int, Pilot]:
    """Each connector's pilot on one ADS1115 (its own inputs) and its own hardware PWM channel."""
    from drivers.pilot import AdcPilot, Ads1115, SysfsPwm

    cfg = settings.pilot
    assert isinstance(cfg, Ads1115PilotSettings)
    bus = i2c_bus(settings, cfg.i2c_transport, cfg.i2c_bus, state_dir, buses)
    adc = Ads1115(bus, cfg.address)
    negative, proximity = _per_connector(cfg.negative_inputs), _per_connector(cfg.proximity_inputs)
    return {
        n: AdcPilot(n, adc=adc, positive_input=positive, negative_input=negative.get(n),
                    pwm=SysfsPwm(cfg.pwm_chip, cfg.pwm_channels[n - 1], cfg.pwm_root),
                    proximity_input=proximity.get(n))
        for n, positive in _per_connector(cfg.positive_inputs).items()
    }


def build_pcsc_reader(settings: Settings) -> CardReader:
    from drivers.pcsc import PcscCardReader

    cfg = settings.reader
    assert isinstance(cfg, PcscReaderSettings)
    return PcscCardReader(reader_name=cfg.name, uid_format=cfg.uid_format, poll_interval=cfg.poll_interval,
                          debounce=cfg.debounce)


def uses_gpio(settings: Settings) -> bool:
    return any(getattr(settings, role).driver == "gpio" for role in ("contactor", "lock", "safety", "indicator"))


def gpio_factory(settings: Settings, state_dir: Path | None = None) -> Any:
    """The gpiozero pin factory the GPIO drivers of this charger share (make it once)."""
    from drivers.gpio import pin_factory

    return pin_factory(settings.gpio.pin_factory, bench_socket(settings, state_dir))


def bench_socket(settings: Settings, state_dir: Path | None) -> Path:
    """Where the simulated bench listens (``[sim] socket``, relative to the state directory)."""
    return settings.sim.socket_path(state_dir if state_dir is not None else settings.state.directory)


def _per_connector(values: tuple[int, ...]) -> dict[int, int]:
    return dict(enumerate(values, start=1))


def build_gpio_contactors(settings: Settings, factory: Any) -> dict[int, Contactor]:
    from drivers.gpio import GpioContactor

    cfg = settings.contactor
    assert isinstance(cfg, GpioContactorSettings)
    feedback = _per_connector(cfg.feedback_pins)
    return {
        n: GpioContactor(n, factory=factory, pin=pin, active_high=cfg.active_high, feedback_pin=feedback.get(n),
                         feedback_active_high=cfg.feedback_active_high, feedback_timeout=cfg.feedback_timeout)
        for n, pin in _per_connector(cfg.pins).items()
    }


def build_gpio_locks(settings: Settings, factory: Any) -> dict[int, ConnectorLock]:
    from drivers.gpio import GpioLock

    cfg = settings.lock
    assert isinstance(cfg, GpioLockSettings)
    unlock, feedback = _per_connector(cfg.unlock_pins), _per_connector(cfg.feedback_pins)
    return {
        n: GpioLock(n, factory=factory, lock_pin=pin, unlock_pin=unlock.get(n), feedback_pin=feedback[n],
                    feedback_active_high=cfg.feedback_active_high, pulse=cfg.pulse, timeout=cfg.timeout)
        for n, pin in _per_connector(cfg.lock_pins).items()
    }


def build_gpio_safety(settings: Settings, factory: Any) -> SafetyInputs:
    from drivers.gpio import GpioSafetyInputs

    cfg = settings.safety
    assert isinstance(cfg, GpioSafetySettings)
    return GpioSafetyInputs(factory=factory, rcd_pins=_per_connector(cfg.rcd_pins),
                            rcd_active_high=cfg.rcd_active_high,
                            estop_pin=cfg.estop_pin if cfg.estop_pin >= 0 else None,
                            estop_active_high=cfg.estop_active_high, debounce=cfg.debounce)


def build_gpio_indicator(settings: Settings, factory: Any) -> Indicator:
    from drivers.gpio import GpioIndicator, LedPins

    cfg = settings.indicator
    assert isinstance(cfg, GpioIndicatorSettings)
    green, blue, red = (_per_connector(p) for p in (cfg.green_pins, cfg.blue_pins, cfg.red_pins))
    leds = {n: LedPins(red=red.get(n), green=green.get(n), blue=blue.get(n))
            for n in range(1, settings.connectors.count + 1)}
    return GpioIndicator(factory=factory, leds=leds, active_high=cfg.active_high)


def build_modbus_meters(settings: Settings) -> dict[int, EnergyMeter]:
    """One Modbus meter per connector, all on one bus (an RS-485 line or a TCP gateway)."""
    from drivers.modbus import ModbusBus, ModbusMeter, load_meter_model

    cfg = settings.meter
    assert isinstance(cfg, ModbusMeterSettings)
    model = load_meter_model(model_reference(cfg.model, settings.source.parent))
    if cfg.transport == "tcp":
        bus = ModbusBus.tcp(cfg.host, cfg.tcp_port, timeout=cfg.timeout)
    else:
        bus = ModbusBus.serial(cfg.port, baudrate=cfg.baudrate, parity=cfg.parity, stopbits=cfg.stopbits,
                               timeout=cfg.timeout)
    return {n: ModbusMeter(bus, unit, model) for n, unit in enumerate(cfg.unit_ids, start=1)}


def build_grid_meter(settings: Settings, meters: dict[int, EnergyMeter]) -> EnergyMeter | None:
    """The meter at the building's connection (``[grid_meter]``), or None without one.

    The same Modbus driver as the connector meters. On their line (same serial port, or
    same TCP gateway) it shares their bus object, whose lock keeps one request at a time
    on the wire; elsewhere it gets a bus of its own. Not part of :class:`Hardware`'s
    devices: a silent grid meter must not hold the charger down at start, it only makes
    the site limiter share the fallback current (see ``agent.site_limiter``)."""
    cfg = settings.grid_meter
    if settings.site is None or not isinstance(cfg, ModbusGridMeterSettings):
        return None
    from drivers.modbus import ModbusBus, ModbusMeter, load_meter_model

    model = load_meter_model(model_reference(cfg.model, settings.source.parent))
    name = f"tcp {cfg.host}:{cfg.tcp_port}" if cfg.transport == "tcp" else f"serial {cfg.port}"
    bus = next((m.bus for m in meters.values() if isinstance(m, ModbusMeter) and m.bus.name == name), None)
    if bus is None and cfg.transport == "tcp":
        bus = ModbusBus.tcp(cfg.host, cfg.tcp_port, timeout=cfg.timeout)
    elif bus is None:
        bus = ModbusBus.serial(cfg.port, baudrate=cfg.baudrate, parity=cfg.parity, stopbits=cfg.stopbits,
                               timeout=cfg.timeout)
    return ModbusMeter(bus, cfg.unit_id, model)


def model_reference(model: str, base: Path) -> str:
    """A model name as it is, a relative path to a model file as relative to the configuration file."""
    path = Path(model)
    if (path.suffix == ".toml" or path.parent != Path(".")) and not path.is_absolute():
        return str(base / path)
    return model


class NoCardReader:
    """``[reader] driver = "none"``: a charger started remotely only; no card ever comes."""

    name = "no card reader"

    async def open(self) -> None:
        """Nothing to open."""

    async def cards(self) -> AsyncIterator[str]:
        await asyncio.Event().wait()  # never set: there is no reader
        yield ""  # pragma: no cover - unreachable, makes this an async generator

    async def close(self) -> None:
        """Nothing to close."""
