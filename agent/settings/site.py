"""The building's limit: ``[site]`` (the connection's fuse and how it is shared) and
``[grid_meter]`` (the optional meter at the building's connection).

Both tables are optional: without ``[site]`` the chargers offer their connectors'
maximum as before, and a grid meter without a site limit would be read for nothing,
so it is refused. The checks across keys are here, with the keys they concern, so the
technician gets every mismatch at once like for the hardware sections.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.settings.hardware import DRIVER_SECTIONS, ModbusGridMeterSettings, ModbusMeterSettings
from agent.settings.hardware_checks import ProblemSink
from agent.settings.rules import Choice, Invalid, Number, setting

SHARING_POLICIES: tuple[str, ...] = ("equal", "first_come")


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """The building's connection: what it allows the chargers, per phase, shared by all connectors."""

    max_current: float = setting(
        Number(6, 4000, "amperes"), example="32",
        doc="amperes per phase the building's connection allows for the chargers (the main fuse, or the "
            "chargers' own feeder), shared by all connectors; with a grid meter, the house's own load is "
            "taken off it")
    margin: float = setting(
        Number(0, 100, "amperes"), 2.0, unit="amperes",
        doc="amperes per phase kept free below max_current when a grid meter measures the house: covers the "
            "meters' error (class 1 at 32 A is 0.3 A each) and the house load rising in the seconds before the "
            "EVs follow a lower offer; not used without a grid meter")
    fallback_current: float = setting(
        Number(0, 4000, "amperes"), 6.0, unit="amperes",
        doc="amperes per phase the chargers share while the grid meter does not answer: what the fuse leaves "
            "at the house's highest load (6 = one EV at the IEC 61851 minimum; 0 = suspend charging)")
    sharing: str = setting(
        Choice(SHARING_POLICIES), "equal",
        doc='how the available current is shared: "equal" (the same for every charging EV, an EV needing less '
            'gives the rest to the others) or "first_come" (earlier sessions get up to their connector\'s '
            "maximum first)")


def check_site(site: dict[str, Any] | None, grid_class: type | None, grid: dict[str, Any] | None,
               meter_class: type, meter: dict[str, Any], problems: ProblemSink, base: Path) -> None:
    """Report every problem across ``[site]``, ``[grid_meter]`` and ``[meter]`` (``site`` and
    ``grid`` hold the keys that converted, or None when the table is absent)."""
    uses_grid_meter = grid_class is ModbusGridMeterSettings
    if uses_grid_meter and site is None:
        problems.add(("grid_meter",), "[grid_meter]",
                     "a grid meter is read only for the site limit; add a [site] table with max_current, "
                     'or set driver = "none"')
    if site is not None:
        _check_amperes(site, problems, uses_grid_meter)
    if uses_grid_meter and grid is not None:
        _check_grid_modbus(grid, meter_class, meter, problems, base)


def _value(cls: type, given: dict[str, Any], key: str) -> Any:
    if key in given:
        return given[key]
    return next(f.default for f in dataclasses.fields(cls) if f.name == key)


def _check_amperes(site: dict[str, Any], problems: ProblemSink, uses_grid_meter: bool) -> None:
    if "max_current" not in site:
        return  # missing or bad: already reported
    fuse = site["max_current"]
    margin = _value(SiteSettings, site, "margin")
    fallback = _value(SiteSettings, site, "fallback_current")
    if uses_grid_meter and margin >= fuse and not problems.reported(("site", "margin")):
        problems.add(("site", "margin") if "margin" in site else ("site",), "site.margin",
                     f"must be less than site.max_current ({fuse:g} A): it would leave the chargers nothing", margin)
    if fallback > fuse and not problems.reported(("site", "fallback_current")):
        where = ("site", "fallback_current") if "fallback_current" in site else ("site",)
        origin = "" if "fallback_current" in site else " (its default)"
        problems.add(where, "site.fallback_current",
                     f"must not be more than site.max_current ({fuse:g} A){origin}", fallback)


def _check_grid_modbus(grid: dict[str, Any], meter_class: type, meter: dict[str, Any], problems: ProblemSink,
                       base: Path) -> None:
    cls = ModbusGridMeterSettings
    transport = _value(cls, grid, "transport")
    if transport == "tcp" and not _value(cls, grid, "host") and not problems.reported(("grid_meter", "host")):
        problems.add(("grid_meter",), "grid_meter.host", 'required with transport = "tcp"; e.g. host = "192.168.1.51"')
    if "model" in grid:
        from agent.hardware import model_reference
        from drivers.modbus.registers import load_meter_model  # the driver owns its model files

        try:
            load_meter_model(model_reference(grid["model"], base))
        except (Invalid, ValueError, OSError) as exc:
            problems.add(("grid_meter", "model"), "grid_meter.model", str(exc), grid["model"])
    if meter_class is not DRIVER_SECTIONS["meter"]["modbus"] or not shares_line(grid, meter):
        return
    # One line, one speed and one address space: the grid meter is one more unit on it.
    unit = _value(cls, grid, "unit_id")
    units = _value(ModbusMeterSettings, meter, "unit_ids")
    if unit in units and not problems.reported(("grid_meter", "unit_id")):
        connector = units.index(unit) + 1
        problems.add(("grid_meter", "unit_id") if "unit_id" in grid else ("grid_meter",), "grid_meter.unit_id",
                     f"is connector {connector}'s meter (meter.unit_ids) on the same line; give the grid meter "
                     f"its own unit id", unit)
    if transport == "rtu":
        for key in ("baudrate", "parity", "stopbits"):
            mine, theirs = _value(cls, grid, key), _value(ModbusMeterSettings, meter, key)
            if mine != theirs and not problems.reported(("grid_meter", key)):
                problems.add(("grid_meter", key) if key in grid else ("grid_meter",), f"grid_meter.{key}",
                             f"differs from meter.{key} ({_shown(theirs)}) on the same serial line "
                             f"({_value(cls, grid, 'port')}): every meter on one line uses one setting", mine)


def _shown(value: object) -> str:
    """A value as it is written in TOML (the renderer imports this package's schema)."""
    return f'"{value}"' if isinstance(value, str) else str(value)


def shares_line(grid: dict[str, Any], meter: dict[str, Any]) -> bool:
    """Whether the grid meter is on the connector meters' Modbus line (same port, or same TCP gateway)."""
    transport = _value(ModbusGridMeterSettings, grid, "transport")
    if transport != _value(ModbusMeterSettings, meter, "transport"):
        return False
    if transport == "rtu":
        return bool(_value(ModbusGridMeterSettings, grid, "port") == _value(ModbusMeterSettings, meter, "port"))
    return bool((_value(ModbusGridMeterSettings, grid, "host"), _value(ModbusGridMeterSettings, grid, "tcp_port"))
                == (_value(ModbusMeterSettings, meter, "host"), _value(ModbusMeterSettings, meter, "tcp_port")))
