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

#: IEC 61851-1: the lowest current a control pilot may offer.
MIN_CURRENT_A = 6.0

SHARING_POLICIES: tuple[str, ...] = ("equal", "first_come")


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """The building's connection: what it allows the chargers, per phase, shared by all connectors."""

    max_current: float = setting(
        Number(6, 4000, "amperes"), example="32", unit="amperes",
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
            'gives the rest to the others) or "first_come" (earlier sessions get up to their own limit first: '
            "connector maximum, cable, charging profiles)")


def check_site(site: dict[str, Any] | None, grid_class: type | None, grid: dict[str, Any] | None,
               meter_class: type, meter: dict[str, Any], problems: ProblemSink, base: Path, *,
               phases: int = 3) -> None:
    """Report every problem across ``[site]``, ``[grid_meter]`` and ``[meter]`` (``site`` and
    ``grid`` hold the keys that converted, or None when the table is absent; ``phases``:
    ``[connectors] phases``)."""
    uses_grid_meter = grid_class is ModbusGridMeterSettings
    if uses_grid_meter and site is None:
        problems.add(("grid_meter",), "[grid_meter]",
                     "a grid meter is read only for the site limit; add a [site] table with max_current, "
                     'or set driver = "none"')
    if site is not None:
        _check_amperes(site, problems, uses_grid_meter)
    if uses_grid_meter and grid is not None:
        _check_timing(grid, problems)
        _check_grid_modbus(grid, meter_class, meter, problems, base, phases)
        _check_poll_intervals(grid, meter_class, meter, problems)


def _check_poll_intervals(grid: dict[str, Any], meter_class: type, meter: dict[str, Any],
                          problems: ProblemSink) -> None:
    """The house load is the grid's current less the connectors' own: a connector reading
    older than a grid poll shows an EV's past draw, and the house lighter than it is."""
    mine = _value(ModbusGridMeterSettings, grid, "poll_interval")
    theirs = _value(meter_class, meter, "poll_interval")
    if theirs > mine and not problems.reported(("meter", "poll_interval")):
        problems.add(("meter", "poll_interval") if "poll_interval" in meter else ("meter",), "meter.poll_interval",
                     f"must not be more than grid_meter.poll_interval ({mine:g} s) with a grid meter: the "
                     f"connectors' own readings are taken off the grid's current, so they must be as fresh", theirs)


def connector_phases(connectors_class: type, connectors: dict[str, Any]) -> int:
    """``[connectors] phases`` as given, or its default."""
    return int(_value(connectors_class, connectors, "phases"))


def _value(cls: type, given: dict[str, Any], key: str) -> Any:
    if key in given:
        return given[key]
    return next(f.default for f in dataclasses.fields(cls) if f.name == key)


def _check_amperes(site: dict[str, Any], problems: ProblemSink, uses_grid_meter: bool) -> None:
    fallback = _value(SiteSettings, site, "fallback_current")
    if 0 < fallback < MIN_CURRENT_A and not problems.reported(("site", "fallback_current")):
        problems.add(("site", "fallback_current"), "site.fallback_current",
                     f"must be 0 (suspend charging) or at least {MIN_CURRENT_A:g} A: a pilot offers nothing below "
                     f"{MIN_CURRENT_A:g} A (IEC 61851-1), so it would suspend charging all the same", fallback)
    if "max_current" not in site:
        return  # missing or bad: already reported
    fuse = site["max_current"]
    margin = _value(SiteSettings, site, "margin")
    where = ("site", "margin") if "margin" in site else ("site",)
    if uses_grid_meter and margin >= fuse and not problems.reported(("site", "margin")):
        problems.add(where, "site.margin",
                     f"must be less than site.max_current ({fuse:g} A): it would leave the chargers nothing", margin)
    elif uses_grid_meter and fuse - margin < MIN_CURRENT_A and not problems.reported(("site", "margin")):
        problems.add(where, "site.margin",
                     f"must leave at least {MIN_CURRENT_A:g} A of site.max_current ({fuse:g} A): with less, no EV "
                     f"could ever charge, even with no house load", margin)
    from drivers.modbus.meter import MAX_CURRENT_A  # the driver owns its plausibility bound

    if uses_grid_meter and fuse > MAX_CURRENT_A and not problems.reported(("site", "max_current")):
        problems.add(("site", "max_current"), "site.max_current",
                     f"must be at most {MAX_CURRENT_A:g} A with a grid meter: the meter driver takes a current above "
                     f"that for a wrong model or wiring, so the grid meter would never give a reading", fuse)
    if fallback > fuse and not problems.reported(("site", "fallback_current")):
        where = ("site", "fallback_current") if "fallback_current" in site else ("site",)
        origin = "" if "fallback_current" in site else " (its default)"
        problems.add(where, "site.fallback_current",
                     f"must not be more than site.max_current ({fuse:g} A){origin}", fallback)


def _check_timing(grid: dict[str, Any], problems: ProblemSink) -> None:
    """A grid meter is called silent after ``fault_after``: that must outlast a reply that
    takes the whole ``timeout`` and the poll after it, or one slow reply is a fault."""
    cls = ModbusGridMeterSettings
    fault_after, poll, timeout = (_value(cls, grid, k) for k in ("fault_after", "poll_interval", "timeout"))
    least = 2 * poll + timeout
    if fault_after < least and not problems.reported(("grid_meter", "fault_after")):
        problems.add(("grid_meter", "fault_after") if "fault_after" in grid else ("grid_meter",),
                     "grid_meter.fault_after",
                     f"must be at least 2 x grid_meter.poll_interval + grid_meter.timeout ({least:g} s): one slow "
                     f"reply would otherwise make the chargers share the fallback", fault_after)


def _check_grid_modbus(grid: dict[str, Any], meter_class: type, meter: dict[str, Any], problems: ProblemSink,
                       base: Path, phases: int) -> None:
    cls = ModbusGridMeterSettings
    transport = _value(cls, grid, "transport")
    if transport == "tcp" and not _value(cls, grid, "host") and not problems.reported(("grid_meter", "host")):
        problems.add(("grid_meter",), "grid_meter.host", 'required with transport = "tcp"; e.g. host = "192.168.1.51"')
    if "model" in grid:
        from agent.hardware import model_reference
        from drivers.modbus.registers import load_meter_model  # the driver owns its model files

        try:
            model = load_meter_model(model_reference(grid["model"], base))
        except (Invalid, ValueError, OSError) as exc:
            problems.add(("grid_meter", "model"), "grid_meter.model", str(exc), grid["model"])
        else:
            if model.phases < phases:
                # The house's load on the phases it does not measure would go unseen.
                problems.add(("grid_meter", "model"), "grid_meter.model",
                             f"measures {model.phases} phase, but the connectors use {phases} "
                             f"(connectors.phases): the house's load on the other phases would go unseen; use a "
                             f"{phases}-phase meter", grid["model"])
    if meter_class is not DRIVER_SECTIONS["meter"]["modbus"] or not shares_line(grid, meter):
        return
    # One line, one speed and one address space: the grid meter is one more unit on it.
    timeout, line_timeout = _value(cls, grid, "timeout"), _value(ModbusMeterSettings, meter, "timeout")
    if "timeout" in grid and timeout != line_timeout and not problems.reported(("grid_meter", "timeout")):
        problems.add(("grid_meter", "timeout"), "grid_meter.timeout",
                     f"differs from meter.timeout ({line_timeout:g} s) on the same line: the grid meter is one more "
                     f"unit on the connector meters' bus, which waits meter.timeout for every reply; remove "
                     f"grid_meter.timeout or make it the same", timeout)
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
