"""The display as one of the charger's devices: built from [display], sharing the pilot's I2C
bus, and never holding the charger down when it fails."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from agent.hardware import Hardware, NoCardReader, build_hardware
from agent.settings import parse_settings
from drivers.display import Hd44780Display
from drivers.display.pins import MJKDZ
from drivers.i2c import I2cBus
from simulators.ads1115 import FakeSMBus
from simulators.hd44780 import FakeHd44780

HEAD = ('[charge_point]\nid = "CP"\n[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\n'
        '[meter]\ndriver = "modbus"\nmodel = "sdm630"\n[reader]\ndriver = "none"\n[contactor]\ndriver = "gpio"\n'
        '[gpio]\npin_factory = "mock"\n')


def build(tmp_path: Path, text: str) -> Hardware:
    return build_hardware(parse_settings(HEAD + text, tmp_path / "ladda.toml"), tmp_path)


def test_no_display_section_builds_no_display(tmp_path: Path) -> None:
    assert build(tmp_path, "").display is None


def test_the_display_shares_the_pilots_i2c_bus(tmp_path: Path) -> None:
    hardware = build(tmp_path, '[pilot]\ndriver = "ads1115"\ni2c_bus = 1\n'
                               '[display]\ndriver = "hd44780"\ni2c_bus = 1\naddress = 0x3F\ncolumns = 16\nrows = 2\n'
                               'pin_map = "mjkdz"\n')
    display = hardware.display
    assert isinstance(display, Hd44780Display)
    assert (display.address, display.columns, display.rows, display.pins) == (0x3F, 16, 2, MJKDZ)
    adc = next(iter(hardware.pilots.values())).adc  # type: ignore[attr-defined]
    assert display.bus is adc.bus and display.bus.name == "/dev/i2c-1"
    assert display.run in hardware.services  # the watch that brings back a display reset between screens
    assert not display.split


def test_a_16x1_set_as_8x2_inside_is_split(tmp_path: Path) -> None:
    display = build(tmp_path, '[display]\ndriver = "hd44780"\ni2c_bus = 3\ncolumns = 16\nrows = 1\nlayout = "8x2"\n'
                    ).display
    assert isinstance(display, Hd44780Display) and display.split


def test_a_display_on_another_bus_gets_its_own(tmp_path: Path) -> None:
    hardware = build(tmp_path, '[pilot]\ndriver = "ads1115"\ni2c_bus = 1\n[display]\ndriver = "hd44780"\ni2c_bus = 3\n')
    adc = next(iter(hardware.pilots.values())).adc  # type: ignore[attr-defined]
    assert isinstance(hardware.display, Hd44780Display)
    assert hardware.display.bus is not adc.bus and hardware.display.bus.name == "/dev/i2c-3"


async def test_a_display_missing_at_start_is_logged_and_the_charger_opens_anyway() -> None:
    chip = FakeHd44780()
    chip.unplug()
    display = Hd44780Display(I2cBus(lambda: FakeSMBus({0x27: chip}), "/dev/i2c-1"), 0x27)
    hardware = Hardware(meters={}, pilots={}, contactors={}, reader=NoCardReader(), display=display)
    with capture_logs() as logs:
        await hardware.open()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "display not answering at start; the charger works without it, and each new screen tries it again"]
    chip.plug()
    await display.show(["Ready"])  # the screen work's next show brings it up
    assert chip.initialised and chip.lines()[0].startswith("Ready")
    await hardware.close()
    assert not chip.backlight


async def test_no_i2c_bus_at_all_does_not_stop_the_charger_either(tmp_path: Path) -> None:
    display = build(tmp_path, '[display]\ndriver = "hd44780"\ni2c_bus = 31\n').display  # /dev/i2c-31: none here
    hardware = Hardware(meters={}, pilots={}, contactors={}, reader=NoCardReader(), display=display)
    with capture_logs() as logs:
        await hardware.open()
    warning = next(e for e in logs if e["log_level"] == "warning")
    assert "/dev/i2c-31" in warning["error"]
    await hardware.close()


async def test_the_agent_on_the_wired_bench_brings_up_its_display(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger()
    screen = await stack.bench_request("screen")
    assert screen["initialised"] is True and screen["backlight"] is True and screen["plugged"] is True
    assert len(await stack.screen()) == 4  # what is on it is composed by the screen work
    await stack.stop_agent()
    assert (await stack.bench_request("screen"))["backlight"] is False  # a stopped charger shows no stale screen
