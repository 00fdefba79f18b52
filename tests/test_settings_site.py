"""``[site]`` and ``[grid_meter]``: optional, strict, and every mismatch named for the technician."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from agent.settings import ConfigError, parse_settings, render_settings
from agent.settings.hardware import DRIVER_SECTIONS, GridMeterSettings, ModbusGridMeterSettings
from agent.settings.schema import keys_of
from agent.settings.site import SiteSettings

SOURCE = Path("/etc/ladda/ladda.toml")
HEAD = '[charge_point]\nid = "CP"\n[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\n'
TWO_METERS = ('[connectors]\ncount = 2\n[meter]\ndriver = "modbus"\nmodel = "sdm630"\nport = "/dev/ttyAMA0"\n'
              'unit_ids = [1, 2]\n')
EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "example.toml"


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(HEAD + text, SOURCE)
    return info.value.errors


def test_without_a_site_table_nothing_changes():
    s = parse_settings(HEAD, SOURCE)
    assert s.site is None and s.grid_meter is None
    out = render_settings(s)
    assert "[site]" not in out and "[grid_meter]" not in out


def test_a_site_with_defaults_and_a_grid_meter_on_the_connector_meters_line():
    s = parse_settings(HEAD + TWO_METERS + '[site]\nmax_current = 40\n[grid_meter]\ndriver = "modbus"\n'
                       'model = "sdm630"\nport = "/dev/ttyAMA0"\nunit_id = 10\n', SOURCE)
    assert s.site == SiteSettings(max_current=40.0, margin=2.0, fallback_current=6.0, sharing="equal")
    assert isinstance(s.grid_meter, ModbusGridMeterSettings)
    assert (s.grid_meter.unit_id, s.grid_meter.poll_interval, s.grid_meter.fault_after) == (10, 1.0, 3.0)
    # check-config shows them, and what it shows reads back the same.
    out = render_settings(s)
    assert "[site]\nmax_current = 40.0  # amperes\nmargin = 2.0  # amperes\nfallback_current = 6.0  # amperes" in out
    assert parse_settings(out, SOURCE) == s


def test_a_site_without_a_grid_meter():
    s = parse_settings(HEAD + '[site]\nmax_current = 25\nsharing = "first_come"\n', SOURCE)
    assert s.site is not None and s.site.sharing == "first_come" and s.grid_meter is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[site]\nmargin = 1\n', "/etc/ladda/ladda.toml:5: site.max_current: required but missing; add it under "
                                "[site], e.g. max_current = 32"),
        ('[site]\nmax_current = 4\n', "/etc/ladda/ladda.toml:6: site.max_current = 4: must be between 6 and 4000 "
                                      "(amperes)"),
        ('[site]\nmax_current = 32\nsharing = "fair"\n',
         '/etc/ladda/ladda.toml:7: site.sharing = "fair": must be "equal" or "first_come"'),
        ('[site]\nmax_current = 32\nfallback = 6\n',
         "/etc/ladda/ladda.toml:7: site.fallback: unknown key; did you mean 'fallback_current'?"),
        ('[site]\nmax_current = 16\nfallback_current = 20\n',
         "/etc/ladda/ladda.toml:7: site.fallback_current = 20.0: must not be more than site.max_current (16 A)"),
        ('[site]\nmax_current = 6\nfallback_current = 6.5\n',
         "/etc/ladda/ladda.toml:7: site.fallback_current = 6.5: must not be more than site.max_current (6 A)"),
        ('[site]\nmax_current = 10\nmargin = 10\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\n',
         "/etc/ladda/ladda.toml:7: site.margin = 10.0: must be less than site.max_current (10 A): it would leave "
         "the chargers nothing"),
        ('[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\n',
         '/etc/ladda/ladda.toml:5: [grid_meter]: a grid meter is read only for the site limit; add a [site] '
         'table with max_current, or set driver = "none"'),
        ('[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\ntransport = "tcp"\n',
         '/etc/ladda/ladda.toml:7: grid_meter.host: required with transport = "tcp"; e.g. host = "192.168.1.51"'),
        ('[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\n',
         '/etc/ladda/ladda.toml:7: grid_meter.model: required but missing; add it under [grid_meter], '
         'e.g. model = "sdm630"'),
        ('[site]\nmax_current = 32\n[grid_meter]\nunit_id = 3\n',
         '/etc/ladda/ladda.toml:8: grid_meter.unit_id: not a key of driver "none" (the default); it belongs to '
         'driver "modbus" (known keys now: driver, poll_interval, fault_after)'),
        ('[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\nunit_id = 300\n',
         "/etc/ladda/ladda.toml:10: grid_meter.unit_id = 300: must be between 1 and 247"),
    ],
)
def test_each_mistake_is_named_with_its_line(text, error):
    assert error in errors_of(text)


def test_a_grid_meter_on_the_connector_meters_line_needs_its_own_unit_id_and_the_line_settings():
    errors = errors_of(TWO_METERS + '[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\n'
                       'port = "/dev/ttyAMA0"\nunit_id = 2\nbaudrate = 19200\n')
    assert errors == [
        "/etc/ladda/ladda.toml:18: grid_meter.unit_id = 2: is connector 2's meter (meter.unit_ids) on the same "
        "line; give the grid meter its own unit id",
        '/etc/ladda/ladda.toml:19: grid_meter.baudrate = 19200: differs from meter.baudrate (9600) on the same '
        'serial line (/dev/ttyAMA0): every meter on one line uses one setting',
    ]


def test_a_grid_meter_on_its_own_line_may_reuse_a_unit_id():
    s = parse_settings(HEAD + TWO_METERS + '[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\n'
                       'model = "em340"\nport = "/dev/ttyUSB1"\nunit_id = 1\nbaudrate = 19200\n', SOURCE)
    assert s.grid_meter is not None and s.grid_meter.unit_id == 1


def test_the_example_documents_every_key_of_both_tables():
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "site" not in tomllib.loads(text)  # optional: shown commented, so the example changes nothing
    for section, classes in (("site", [SiteSettings]), ("grid_meter", list(DRIVER_SECTIONS["grid_meter"].values()))):
        part = text[text.index(f"# [{section}]"):]
        part = part[: part.index("\n[", 1)]
        for cls in classes:
            for f in keys_of(cls):
                assert re.search(rf"^# {f.name} = \S", part, re.M), f"{section}.{f.name} not shown"
    assert GridMeterSettings().driver == "none"


def test_the_configuration_reference_lists_every_key_of_both_tables():
    text = (EXAMPLE.parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    part = text[text.index("### `[site]` and `[grid_meter]`"):]
    part = part[: part.index("\n### ", 1)]
    for cls in (SiteSettings, *DRIVER_SECTIONS["grid_meter"].values()):
        for f in keys_of(cls):
            assert re.search(rf"^\| `{f.name}` \|", part, re.M), f.name


def test_connector_meters_read_less_often_than_the_grid_meter_are_refused():
    grid = '[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\nport = "/dev/ttyUSB1"\n'
    errors = errors_of(TWO_METERS + "poll_interval = 2\n" + grid)
    assert ("/etc/ladda/ladda.toml:12: meter.poll_interval = 2.0: must not be more than grid_meter.poll_interval "
            "(1 s) with a grid meter: the connectors' own readings are taken off the grid's current, so they must "
            "be as fresh") in errors
    # Without a grid meter nothing is taken off: any poll interval does.
    parse_settings(HEAD + TWO_METERS + "poll_interval = 2\n[site]\nmax_current = 32\n", SOURCE)
    parse_settings(HEAD + TWO_METERS + "poll_interval = 0.5\n" + grid, SOURCE)


def test_a_grid_meter_measuring_fewer_phases_than_the_connectors_use_is_refused():
    grid = '[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\nmodel = "{model}"\nport = "/dev/ttyUSB1"\n'
    errors = errors_of(TWO_METERS + grid.format(model="sdm120"))
    assert ('/etc/ladda/ladda.toml:16: grid_meter.model = "sdm120": measures 1 phase, but the connectors use 3 '
            "(connectors.phases): the house's load on the other phases would go unseen; use a 3-phase meter") in errors
    single = TWO_METERS.replace("count = 2\n", "count = 2\nphases = 1\n")
    parse_settings(HEAD + single + grid.format(model="sdm120"), SOURCE)
    parse_settings(HEAD + single + grid.format(model="sdm630"), SOURCE)



@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[site]\nmax_current = 32\nfallback_current = 4\n',
         "/etc/ladda/ladda.toml:7: site.fallback_current = 4.0: must be 0 (suspend charging) or at least 6 A: a "
         "pilot offers nothing below 6 A (IEC 61851-1), so it would suspend charging all the same"),
        ('[site]\nmax_current = 10\nmargin = 5\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\n',
         "/etc/ladda/ladda.toml:7: site.margin = 5.0: must leave at least 6 A of site.max_current (10 A): with "
         "less, no EV could ever charge, even with no house load"),
        ('[site]\nmax_current = 1200\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\n',
         "/etc/ladda/ladda.toml:6: site.max_current = 1200.0: must be at most 1000 A with a grid meter: the meter "
         "driver takes a current above that for a wrong model or wiring, so the grid meter would never give a "
         "reading"),
        ('[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\npoll_interval = 1\n'
         'fault_after = 2\n',
         "/etc/ladda/ladda.toml:11: grid_meter.fault_after = 2.0: must be at least 2 x grid_meter.poll_interval + "
         "grid_meter.timeout (2.5 s): one slow reply would otherwise make the chargers share the fallback"),
    ],
)
def test_amperes_and_timing_that_cannot_work_are_refused(text, error):
    assert error in errors_of(text)


def test_amperes_and_timing_that_work_are_taken():
    parse_settings(HEAD + '[site]\nmax_current = 32\nfallback_current = 0\n', SOURCE)
    parse_settings(HEAD + '[site]\nmax_current = 4000\n', SOURCE)  # no grid meter: nothing is measured
    parse_settings(HEAD + '[site]\nmax_current = 8\nmargin = 2\n[grid_meter]\ndriver = "modbus"\n'
                   'model = "sdm630"\npoll_interval = 1\nfault_after = 2.5\n', SOURCE)


def test_a_grid_meter_timeout_on_the_connector_meters_line_must_be_the_lines():
    grid = '[site]\nmax_current = 32\n[grid_meter]\ndriver = "modbus"\nmodel = "sdm630"\nport = "/dev/ttyAMA0"\n' \
           'unit_id = 10\n'
    assert ("/etc/ladda/ladda.toml:19: grid_meter.timeout = 0.2: differs from meter.timeout (0.5 s) on the same "
            "line: the grid meter is one more unit on the connector meters' bus, which waits meter.timeout for every "
            "reply; remove grid_meter.timeout or make it the same") in errors_of(TWO_METERS + grid + "timeout = 0.2\n")
    parse_settings(HEAD + TWO_METERS + grid + "timeout = 0.5\n", SOURCE)
    parse_settings(HEAD + TWO_METERS + grid.replace("/dev/ttyAMA0", "/dev/ttyUSB1") + "timeout = 0.2\n", SOURCE)
