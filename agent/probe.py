"""``ladda probe``: one-shot checks a technician runs while wiring a charger.

Each probe builds the drivers exactly as the service would, from the same file, and
talks to the device once (or, for inputs such as cards, until interrupted). A failure
prints one line naming the device, its address and what failed, and exits 1, so the
technician knows which wire or setting to look at. The service must not be running:
two programs on one serial port or GPIO line disturb each other.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from drivers.protocols import DeviceError, EnergyMeter, MeterReading

from .settings import Settings

#: Exit status when the device could not be reached or answered wrongly.
PROBE_FAILED = 1


def _fmt(values: tuple[float, ...], digits: int) -> str:
    return " ".join(f"{v:.{digits}f}" for v in values) or "-"


def meter_table(rows: list[tuple[int, str, MeterReading | str]]) -> list[str]:
    """One line per connector: the reading, or what failed."""
    header = ("conn", "meter", "energy kWh", "power W", "current A", "voltage V")
    lines = [header]
    for connector, name, result in rows:
        if isinstance(result, MeterReading):
            lines.append((str(connector), name, f"{result.energy_wh / 1000:.3f}", f"{result.power_w:.1f}",
                          _fmt(result.current_a, 2), _fmt(result.voltage_v, 1)))
        else:
            lines.append((str(connector), name, "FAILED", result, "", ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]


async def probe_meters(meters: dict[int, EnergyMeter], out: TextIO) -> int:
    """Open and read every connector's meter once; print a table; 0 when all answered."""
    rows: list[tuple[int, str, MeterReading | str]] = []
    for connector, meter in sorted(meters.items()):
        name = getattr(meter, "name", f"meter {connector}")
        try:
            await meter.open()
            rows.append((connector, name, await meter.read()))
        except DeviceError as exc:
            rows.append((connector, name, str(exc).removeprefix(f"{name}: ")))
        finally:
            await meter.close()
    for line in meter_table(rows):
        print(line, file=out)
    return 0 if all(isinstance(r, MeterReading) for _, _, r in rows) else PROBE_FAILED


def run_probe(device: str, settings: Settings, out: TextIO = sys.stdout, *, toggle: bool = False,
              offer: float = 0.0, count: int = 0, timeout: float = 0.0, hold: float = 2.0) -> int:
    """Run one probe by name; the exit status for the command line."""
    from . import logs

    # Warnings only, readable: the probe's own table says what failed, once.
    logs.configure("warning", "console", [])
    if device == "gpio":
        return _gpio(settings, out, toggle)
    if device == "rfid":
        return _rfid(settings, out, count, timeout)
    if device == "pilot":
        return _pilot(settings, out, offer)
    if device == "display":
        return _display(settings, out, hold)
    return _meter(settings, out)


def _meter(settings: Settings, out: TextIO) -> int:
    from .hardware import build_modbus_meters

    if settings.meter.driver != "modbus":
        print(f'meter.driver is "{settings.meter.driver}": nothing to probe on this machine', file=out)
        return PROBE_FAILED
    return asyncio.run(probe_meters(build_modbus_meters(settings), out))


async def probe_gpio(settings: Settings, out: TextIO, toggle: bool) -> int:
    """Show every configured GPIO input; with ``toggle``, close and open each contactor and
    lock and light each LED signal once, reporting whether the feedback followed."""
    from .hardware import (
        build_gpio_contactors,
        build_gpio_indicator,
        build_gpio_locks,
        build_gpio_safety,
        gpio_factory,
        uses_gpio,
    )

    if not uses_gpio(settings):
        print("no gpio driver is configured ([contactor], [lock], [safety], [indicator])", file=out)
        return PROBE_FAILED
    factory = gpio_factory(settings)
    failed = False
    try:
        if settings.safety.driver == "gpio":
            safety = build_gpio_safety(settings, factory)
            await safety.open()
            tripped = await _drain_faults(safety, 0.2)
            for line in _safety_lines(settings, tripped):
                print(line, file=out)
            await safety.close()
        if settings.contactor.driver == "gpio":
            for n, contactor in build_gpio_contactors(settings, factory).items():
                failed |= not await _exercise(f"contactor {n}", contactor, toggle, out)
        if settings.lock.driver == "gpio":
            for n, lock in build_gpio_locks(settings, factory).items():
                failed |= not await _exercise(f"cable lock {n}", lock, toggle, out)
        if settings.indicator.driver == "gpio" and toggle:
            from drivers.protocols import Signal

            indicator = build_gpio_indicator(settings, factory)
            await indicator.open()
            for signal in (Signal.AVAILABLE, Signal.AUTHORIZING, Signal.CHARGING, Signal.FAULT):
                for n in range(1, settings.connectors.count + 1):
                    await indicator.show(n, signal)
                print(f"LEDs: {signal.value}", file=out)
                await asyncio.sleep(1.0)
            await indicator.close()
    except DeviceError as exc:
        print(f"FAILED: {exc}", file=out)
        failed = True
    finally:
        factory.close()
    return PROBE_FAILED if failed else 0


async def _drain_faults(device: object, seconds: float) -> list[object]:
    """The faults a device reports within ``seconds`` (those present at open come at once)."""
    found: list[object] = []

    async def collect() -> None:
        async for fault in device.faults():  # type: ignore[attr-defined]
            found.append(fault)

    try:
        await asyncio.wait_for(collect(), seconds)
    except TimeoutError:
        pass
    return found


def _safety_lines(settings: Settings, faults: list[object]) -> list[str]:
    cfg = settings.safety
    active = {(f.connector, f.error_code) for f in faults if f.active}  # type: ignore[attr-defined]
    lines = []
    for n, pin in enumerate(getattr(cfg, "rcd_pins", ()), start=1):
        state = "TRIPPED" if (n, "GroundFailure") in active else "ok"
        lines.append(f"RCD connector {n} (GPIO{pin}): {state}")
    pin = getattr(cfg, "estop_pin", -1)
    if pin >= 0:
        state = "PRESSED (or its wire is cut)" if (0, "OtherError") in active else "released"
        lines.append(f"emergency stop (GPIO{pin}): {state}")
    return lines


async def _exercise(name: str, device: object, toggle: bool, out: TextIO) -> bool:
    """Open a contactor or lock (its feedback is checked), and with ``toggle`` move it both ways."""
    try:
        await device.open()  # type: ignore[attr-defined]
        faults = await _drain_faults(device, 0.1) if hasattr(device, "faults") else []
        bad = [f.info for f in faults if f.active]  # type: ignore[attr-defined]
        print(f"{name}: {'FAULT ' + '; '.join(bad) if bad else 'at rest, feedback agrees'}", file=out)
        if bad:
            return False
        if toggle:
            move = getattr(device, "switch", None) or getattr(device, "set_locked")
            for position in (True, False):
                result = await move(position)
                if result is False:
                    raise DeviceError(name, f"feedback did not confirm {'locked' if position else 'unlocked'}")
                print(f"{name}: {'closed/locked' if position else 'open/unlocked'}, feedback agrees", file=out)
                await asyncio.sleep(0.5)
        return True
    except DeviceError as exc:
        print(f"{name}: FAILED: {str(exc).removeprefix(name + ': ')}", file=out)
        return False
    finally:
        await device.close()  # type: ignore[attr-defined]


async def probe_pilots(settings: Settings, out: TextIO, offer: float) -> int:
    """Each connector's pilot state (and cable rating); with ``offer``, that PWM for 5 s."""
    from .hardware import build_adc_pilots

    failed = False
    for n, pilot in build_adc_pilots(settings).items():
        async with asyncio.TaskGroup() as tg:
            poller = tg.create_task(pilot.run())  # type: ignore[attr-defined]
            try:
                await pilot.open()
                if offer:
                    await pilot.offer(offer)
                state = await asyncio.wait_for(anext(aiter(pilot.states())), 2.0)
                rating = await pilot.cable_rating()  # type: ignore[attr-defined]
                cable = "" if rating is None else f", cable rated {rating:g} A"
                print(f"pilot {n}: state {state.value}{cable}" + (f", offering {offer:g} A" if offer else ""),
                      file=out)
                if offer:
                    await asyncio.sleep(5.0)
            except (DeviceError, TimeoutError) as exc:
                print(f"pilot {n}: FAILED: {exc or 'no state within 2 s'}", file=out)
                failed = True
            finally:
                await pilot.close()
                poller.cancel()
    return PROBE_FAILED if failed else 0


def _gpio(settings: Settings, out: TextIO, toggle: bool = False) -> int:
    return asyncio.run(probe_gpio(settings, out, toggle))


def _pilot(settings: Settings, out: TextIO, offer: float = 0.0) -> int:
    if settings.pilot.driver != "ads1115":
        print(f'pilot.driver is "{settings.pilot.driver}": nothing to probe on this machine', file=out)
        return PROBE_FAILED
    return asyncio.run(probe_pilots(settings, out, offer))


async def probe_reader(settings: Settings, out: TextIO, count: int, timeout: float) -> int:
    """Say whether the reader is there, then print each card's idTag as it is tapped,
    until ``count`` cards (0: until interrupted) or ``timeout`` seconds (0: none)."""
    from .hardware import build_pcsc_reader

    reader = build_pcsc_reader(settings)
    await reader.open()
    seen = 0

    async def report_faults() -> None:
        async for fault in reader.faults():  # type: ignore[attr-defined]
            state = f"NOT READY: {fault.info}" if fault.active else f"ready: {fault.info}"
            print(f"reader {state}", file=out, flush=True)

    async def read_cards() -> None:
        nonlocal seen
        async for uid in reader.cards():
            seen += 1
            print(f"card {uid}", file=out, flush=True)
            if count and seen >= count:
                return

    try:
        async with asyncio.timeout(timeout or None), asyncio.TaskGroup() as tg:
            faults = tg.create_task(report_faults())
            await read_cards()
            faults.cancel()
    except TimeoutError:
        print(f"no {'more ' if seen else ''}cards within {timeout:g} s", file=out)
    finally:
        await reader.close()
    return 0 if seen and (not count or seen >= count) else PROBE_FAILED


def _rfid(settings: Settings, out: TextIO, count: int, timeout: float) -> int:
    if settings.reader.driver != "pcsc":
        print(f'reader.driver is "{settings.reader.driver}": nothing to probe on this machine', file=out)
        return PROBE_FAILED
    print("tap cards on the reader (Ctrl-C to stop)", file=out, flush=True)
    try:
        return asyncio.run(probe_reader(settings, out, count, timeout))
    except KeyboardInterrupt:
        return 0


def display_words(settings: Settings) -> list[str]:
    """The second test pattern: the display's configured size and address in words, so a
    technician sees at once whether the file describes the display in front of them."""
    cfg = settings.display
    columns, rows = cfg.columns, cfg.rows  # type: ignore[attr-defined]
    bus = "bench I2C" if cfg.i2c_transport == "bench" else f"I2C bus {cfg.i2c_bus}"  # type: ignore[attr-defined]
    words = [f"{columns}x{rows} at 0x{cfg.address:02X}", bus, "Ladda display test",  # type: ignore[attr-defined]
             f"wiring {cfg.pin_map}"]  # type: ignore[attr-defined]
    return [w[:columns] for w in words[:rows]]


async def probe_display(settings: Settings, out: TextIO, hold: float) -> int:
    """Initialise the display, light every cell for ``hold`` seconds (dead segments, the
    contrast), then write its size and address in words and leave them on the screen."""
    from .hardware import build_hd44780_display

    display = build_hd44780_display(settings)
    name = display.name  # type: ignore[attr-defined]
    columns, rows = display.columns, display.rows
    try:
        await display.open()
        print(f"{name}: initialised (4-bit mode, {rows} row{'s' if rows > 1 else ''})", file=out, flush=True)
        await display.show(["\u2588" * columns] * rows)
        print(f"{name}: every cell lit ({columns}x{rows}) for {hold:g} s", file=out, flush=True)
        await asyncio.sleep(hold)
        words = display_words(settings)
        await display.show(words)
        print(f"{name}: now showing:", file=out)
        for line in words:
            print(f"  |{line.ljust(columns)}|", file=out)
        print("a blank screen with the backlight on: turn the contrast pot on the backpack", file=out)
        return 0
    except DeviceError as exc:
        print(f"{name}: FAILED: {str(exc).removeprefix(name + ': ')}", file=out)
        return PROBE_FAILED
    finally:
        await display.close(blank=False)  # type: ignore[call-arg]


def _display(settings: Settings, out: TextIO, hold: float) -> int:
    if settings.display.driver != "hd44780":
        print(f'display.driver is "{settings.display.driver}": nothing to probe on this machine', file=out)
        return PROBE_FAILED
    return asyncio.run(probe_display(settings, out, hold))
