"""The [display] section: the HD44780 keys, sizes one controller drives, and the bench transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import ConfigError, parse_settings
from agent.settings.hardware import DisplaySettings, Hd44780DisplaySettings
from agent.settings.paths import settings_use_bench

SOURCE = Path("/etc/ladda/ladda.toml")
HEAD = '[charge_point]\nid = "CP"\n[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\n'


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(HEAD + text, SOURCE)
    return [line.split(": ", 1)[1] for line in info.value.errors]


def test_no_display_section_means_no_display() -> None:
    s = parse_settings(HEAD, SOURCE)
    assert type(s.display) is DisplaySettings and s.display.driver == "none"


def test_a_16x2_display_at_0x20_with_the_mjkdz_backpack() -> None:
    s = parse_settings(HEAD + '[display]\ndriver = "hd44780"\ni2c_bus = 3\naddress = 0x20\ncolumns = 16\nrows = 2\n'
                       'pin_map = "mjkdz"\n', SOURCE)
    assert isinstance(s.display, Hd44780DisplaySettings)
    assert (s.display.i2c_bus, s.display.address, s.display.columns, s.display.rows, s.display.pin_map) == (
        3, 0x20, 16, 2, "mjkdz")
    assert s.display.i2c_transport == "i2c-dev"


def test_defaults_are_a_20x4_at_0x27_on_bus_1() -> None:
    s = parse_settings(HEAD + '[display]\ndriver = "hd44780"\n', SOURCE)
    assert isinstance(s.display, Hd44780DisplaySettings)
    assert (s.display.i2c_bus, s.display.address, s.display.columns, s.display.rows) == (1, 0x27, 20, 4)


def test_every_mistake_is_named_at_once() -> None:
    errors = errors_of('[display]\ndriver = "hd44780"\naddress = 0x48\npin_map = "adafruit"\ni2c_transport = "usb"\n'
                       'columns = 17\n')
    assert any(e.startswith("display.address = 72: must be one of 32") for e in errors), errors
    assert any(e.startswith('display.pin_map = "adafruit": must be "pcf8574" or "mjkdz"') for e in errors), errors
    assert any(e.startswith('display.i2c_transport = "usb"') for e in errors), errors
    assert any(e.startswith("display.columns = 17: must be one of 8, 16, 20, 24") for e in errors), errors


def test_a_size_no_single_controller_drives_is_refused() -> None:
    errors = errors_of('[display]\ndriver = "hd44780"\ncolumns = 40\nrows = 4\n')
    assert errors == ["display.columns/rows: 40x4 is not a size one HD44780 drives; sizes: 8x1, 8x2, 16x1, 16x2, "
                      "16x4, 20x1, 20x2, 20x4, 24x2, 40x1, 40x2"]


def test_display_keys_need_the_hd44780_driver() -> None:
    errors = errors_of('[display]\naddress = 39\n')
    assert errors == ['display.address: not a key of driver "none" (the default); it belongs to driver "hd44780" '
                      "(known keys now: driver)"]
    assert errors_of('[display]\ndriver = "oled"\n')[0].startswith('display.driver = "oled": must be "none" or '
                                                                   '"hd44780"')


#: Every other role on real hardware: only the display could need the bench.
REAL = ('[meter]\ndriver = "modbus"\nmodel = "sdm630"\n[reader]\ndriver = "none"\n[pilot]\ndriver = "ads1115"\n'
        '[contactor]\ndriver = "gpio"\n[gpio]\npin_factory = "mock"\n')


@pytest.mark.parametrize(("transport", "bench"), [("i2c-dev", False), ("bench", True)])
def test_the_bench_transport_uses_the_bench_socket(transport: str, bench: bool) -> None:
    s = parse_settings(HEAD + REAL + f'[display]\ndriver = "hd44780"\ni2c_transport = "{transport}"\n', SOURCE)
    assert settings_use_bench(s) is bench


def test_a_bench_socket_too_long_for_the_display_alone_is_refused() -> None:
    errors = errors_of(REAL + '[display]\ndriver = "hd44780"\ni2c_transport = "bench"\n'
                       f'[sim]\nsocket = "/run/{"x" * 120}.sock"\n')
    assert any(e.startswith("sim.socket") and "Unix socket path has at most" in e for e in errors), errors


def test_a_16x1_that_is_8x2_inside_is_said_so() -> None:
    s = parse_settings(HEAD + '[display]\ndriver = "hd44780"\ncolumns = 16\nrows = 1\nlayout = "8x2"\n', SOURCE)
    assert isinstance(s.display, Hd44780DisplaySettings) and s.display.layout == "8x2"
    default = parse_settings(HEAD + '[display]\ndriver = "hd44780"\n', SOURCE).display
    assert isinstance(default, Hd44780DisplaySettings) and default.layout == "standard"
    errors = errors_of('[display]\ndriver = "hd44780"\ncolumns = 20\nrows = 4\nlayout = "8x2"\n')
    assert errors == ['display.layout = "8x2": "8x2" is for a 16x1 module that is two 8-cell lines inside, not a '
                      '20x4: use "standard"']
    assert errors_of('[display]\ndriver = "hd44780"\nlayout = "16x1"\n')[0].startswith(
        'display.layout = "16x1": must be "standard" or "8x2"')


PILOT = '[pilot]\ndriver = "ads1115"\ni2c_bus = 1\n'


def test_a_display_on_the_pilots_bus_is_warned_about() -> None:
    s = parse_settings(HEAD + PILOT + '[display]\ndriver = "hd44780"\ni2c_bus = 1\n', SOURCE)
    assert len(s.warnings) == 1
    assert s.warnings[0].startswith("display.i2c_bus = 1 is the pilot's I2C bus: a shorted or pinched display cable "
                                    "would block the pilot's ADC, which stops charging")
    assert parse_settings(HEAD + PILOT + '[display]\ndriver = "hd44780"\ni2c_bus = 3\n', SOURCE).warnings == ()
    assert parse_settings(HEAD + '[display]\ndriver = "hd44780"\ni2c_bus = 1\n', SOURCE).warnings == ()  # no ADC pilot
