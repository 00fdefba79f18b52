"""Checks across the hardware sections that no single key can make on its own.

A technician wiring a two-connector charger gets every mismatch at once: an array
with one entry too few, a GPIO pin given two jobs, a Modbus TCP meter without a host,
a meter model that does not exist.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

from agent.settings.hardware import DRIVER_SECTIONS, PER_CONNECTOR
from agent.settings.rules import Invalid


class ProblemSink(Protocol):
    def add(self, path: tuple[str, ...], subject: str, message: str, value: object = ...) -> None: ...

    def reported(self, path: tuple[str, ...]) -> bool: ...


#: Keys holding GPIO pins, per gpio driver section; a pin may serve only one of them.
PIN_KEYS: dict[str, tuple[str, ...]] = {
    "contactor": ("pins", "feedback_pins"),
    "lock": ("lock_pins", "unlock_pins", "feedback_pins"),
    "safety": ("rcd_pins", "estop_pin"),
    "indicator": ("green_pins", "blue_pins", "red_pins"),
}


def _value(cls: type, given: dict[str, Any], key: str) -> Any:
    if key in given:
        return given[key]
    return next(f.default for f in dataclasses.fields(cls) if f.name == key)


def _uses(classes: dict[str, type], role: str, driver: str) -> bool:
    return classes[role] is DRIVER_SECTIONS[role][driver]


def check_hardware(classes: dict[str, type], values: dict[str, dict[str, Any]], problems: ProblemSink,
                   base: Path) -> None:
    """Report every cross-key problem of the hardware sections (``values`` holds only
    the keys that converted; a key already reported bad is not reported again)."""
    count = values["connectors"].get("count", 1)
    _check_per_connector(classes, values, count, problems)
    _check_pins(classes, values, problems)
    if _uses(classes, "meter", "modbus"):
        _check_modbus(classes["meter"], values["meter"], problems, base)
    if _uses(classes, "display", "hd44780"):
        _check_display(classes["display"], values["display"], problems)
    if _uses(classes, "lock", "gpio"):
        lock, given = classes["lock"], values["lock"]
        if _value(lock, given, "unlock_pins") and _value(lock, given, "timeout") < _value(lock, given, "pulse"):
            problems.add(("lock", "timeout"), "lock.timeout",
                         f"must not be shorter than lock.pulse ({_value(lock, given, 'pulse'):g} s) for a motor lock")


def _check_display(cls: type, given: dict[str, Any], problems: ProblemSink) -> None:
    """One HD44780 drives 80 cells at most, as 1, 2 or 4 rows of set widths."""
    from drivers.display.hd44780 import SIZES

    if problems.reported(("display", "columns")) or problems.reported(("display", "rows")):
        return
    size = (_value(cls, given, "columns"), _value(cls, given, "rows"))
    if size not in SIZES:
        where = ("display", "rows") if "rows" in given else ("display", "columns") if "columns" in given else ("display",)
        sizes = ", ".join(f"{c}x{r}" for c, r in SIZES)
        problems.add(where, "display.columns/rows",
                     f"{size[0]}x{size[1]} is not a size one HD44780 drives; sizes: {sizes}")
    elif _value(cls, given, "layout") == "8x2" and size != (16, 1):
        problems.add(("display", "layout"), "display.layout",
                     f'"8x2" is for a 16x1 module that is two 8-cell lines inside, not a {size[0]}x{size[1]}: '
                     'use "standard"', given.get("layout", "8x2"))


def display_warnings(classes: dict[str, type], values: dict[str, dict[str, Any]]) -> list[str]:
    """A display on the pilot's I2C bus works, but a fault of its cable (a short, a
    backpack holding SDA low) blocks the pilot's ADC too, and a pilot that cannot be
    read stops charging: worth a warning, not an error (docs/hardware.md)."""
    if not (_uses(classes, "display", "hd44780") and _uses(classes, "pilot", "ads1115")):
        return []
    display, pilot = values["display"], values["pilot"]
    key = ("i2c_transport", "i2c_bus")
    shared = ([_value(classes["display"], display, k) for k in key]
              == [_value(classes["pilot"], pilot, k) for k in key])
    if not shared or _value(classes["display"], display, "i2c_transport") != "i2c-dev":
        return []
    bus = _value(classes["display"], display, "i2c_bus")
    return [f"display.i2c_bus = {bus} is the pilot's I2C bus: a shorted or pinched display cable would block the "
            "pilot's ADC, which stops charging; put the display on a bus of its own (docs/hardware.md, "
            '"A bus for the display")']


def _check_per_connector(classes: dict[str, type], values: dict[str, dict[str, Any]], count: int,
                         problems: ProblemSink) -> None:
    for role, driver, key, may_be_empty in PER_CONNECTOR:
        if not _uses(classes, role, driver):
            continue
        given = values[role]
        items = _value(classes[role], given, key)
        if len(items) == count or (may_be_empty and not items):
            continue
        wanted = f"one per connector ({count})" + (", or none ([])" if may_be_empty else "")
        origin = "" if key in given else f" (the default {list(items)}: set it)"
        problems.add((role, key) if key in given else (role,), f"{role}.{key}",
                     f"needs {wanted}; it has {len(items)}{origin}")


def _check_pins(classes: dict[str, type], values: dict[str, dict[str, Any]], problems: ProblemSink) -> None:
    owner: dict[int, str] = {}
    for role, keys in PIN_KEYS.items():
        if not _uses(classes, role, "gpio"):
            continue
        for key in keys:
            pins = _value(classes[role], values[role], key)
            for pin in (pins,) if isinstance(pins, int) else pins:
                if pin < 0:
                    continue
                here = f"{role}.{key}"
                if pin in owner and owner[pin] != here:
                    problems.add((role, key), here, f"GPIO {pin} is already used by {owner[pin]}; each pin has one job")
                elif pin in owner:
                    problems.add((role, key), here, f"GPIO {pin} is listed twice")
                else:
                    owner[pin] = here


def _check_modbus(cls: type, given: dict[str, Any], problems: ProblemSink, base: Path) -> None:
    transport = _value(cls, given, "transport")
    if transport == "tcp" and not _value(cls, given, "host") and not problems.reported(("meter", "host")):
        problems.add(("meter",), "meter.host", 'required with transport = "tcp"; e.g. host = "192.168.1.50"')
    if transport == "rtu" and not _value(cls, given, "port") and not problems.reported(("meter", "port")):
        problems.add(("meter",), "meter.port", 'required with transport = "rtu"; e.g. port = "/dev/ttyUSB0"')
    if "model" in given:
        from agent.hardware import model_reference
        from drivers.modbus.registers import load_meter_model  # the driver owns its model files

        try:
            load_meter_model(model_reference(given["model"], base))
        except (Invalid, ValueError, OSError) as exc:
            problems.add(("meter", "model"), "meter.model", str(exc), given["model"])
