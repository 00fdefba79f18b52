"""The HD44780 display driver against the register-level PCF8574 + HD44780 model: what the chip saw."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import AsyncIterator, Sequence

import pytest
from structlog.testing import capture_logs

from drivers.display import DisplayKeeper, Hd44780Display, PinMap, hd44780, row_addresses
from drivers.display.hd44780 import fit
from drivers.display.charmap import GLYPHS
from drivers.display.pins import COMMON, MJKDZ
from drivers.i2c import I2cBus
from drivers.protocols import DeviceError
from simulators.ads1115 import FakeSMBus
from simulators.hd44780 import HD44780U, SLOW_COMPATIBLE, E, Executed, FakeHd44780, Timing

ADDRESS = 0x27


class Wire(FakeHd44780):
    """The model, keeping every byte latched onto the expander's pins."""

    def __init__(self, columns: int, rows: int, timing: Timing = HD44780U) -> None:
        self.bytes: list[int] = []
        super().__init__(columns, rows, timing=timing)

    def write_bytes(self, data: Sequence[int]) -> None:
        super().write_bytes(data)
        self.bytes += data


def make(columns: int = 20, rows: int = 4, *, timing: Timing = HD44780U,
         split: bool = False) -> tuple[Hd44780Display, Wire, FakeSMBus]:
    chip = Wire(columns if not split else 8, rows if not split else 2, timing)
    bus = FakeSMBus({ADDRESS: chip})
    display = Hd44780Display(I2cBus(lambda: bus, "/dev/i2c-1"), ADDRESS, columns=columns, rows=rows, split=split)
    return display, chip, bus


@pytest.fixture
async def lcd() -> AsyncIterator[tuple[Hd44780Display, Wire]]:
    display, chip, _ = make()
    await display.open()
    yield display, chip
    await display.close()


def ddram_sets(chip: FakeHd44780) -> list[int]:
    return [i.value for i in chip.instructions if not i.rs and i.value & 0x80]


async def test_open_runs_the_datasheet_initialisation_as_the_chip_sees_it() -> None:
    display, chip, _ = make()
    await display.open()
    eight, four = False, True
    assert chip.instructions == [
        Executed(False, 0x30, eight), Executed(False, 0x30, eight), Executed(False, 0x30, eight),
        Executed(False, 0x20, eight),  # now 4-bit
        Executed(False, 0x28, four),  # 4-bit, two lines, 5x8 dots
        Executed(False, 0x08, four),  # display off
        Executed(False, 0x01, four),  # clear
        Executed(False, 0x06, four),  # entry mode: increment, no shift
        Executed(False, 0x0C, four),  # display on, no cursor
    ]
    assert chip.initialised and chip.reset_by_instruction
    assert chip.too_soon == []  # every wait of the datasheet kept (4.1 ms, 100 us, 1.52 ms after clear)
    assert chip.backlight
    assert chip.lines() == [" " * 20] * 4
    await display.close()


async def test_the_initialisation_waits_long_enough_for_the_slow_compatibles() -> None:
    display, chip, _ = make(timing=SLOW_COMPATIBLE)  # clear takes up to 4.9 ms, the rest 120 us
    await display.open()
    assert chip.too_soon == [] and chip.initialised
    await display.show(["Ready"])
    assert chip.lines()[0] == "Ready".ljust(20)
    await display.close()


async def test_each_byte_goes_as_two_nibbles_latched_on_the_falling_edge_of_e(
        lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    chip.bytes.clear()
    await display.show(["A"])
    # Set DDRAM 0x00 (0x80), then "A" (0x41, RS high), each nibble as E low, high, low with the
    # same data, RS and backlight: P0=RS, P2=E, P3=backlight, P4..P7=D4..D7.
    light = 0x08
    expected = []
    for nibble, rs in ((0x8, 0), (0x0, 0), (0x4, 1), (0x1, 1)):
        port = nibble << 4 | light | rs
        expected += [port, port | E, port]
    assert chip.bytes[:12] == expected
    assert chip.bytes[12:] != []  # the rest of the row: spaces
    assert all(i.four_bit for i in chip.instructions[9:])


@pytest.mark.parametrize(("columns", "rows", "addresses"), [
    (20, 4, [0x80, 0xC0, 0x94, 0xD4]),
    (16, 2, [0x80, 0xC0]),
])
async def test_rows_are_written_at_their_ddram_addresses(columns: int, rows: int, addresses: list[int]) -> None:
    display, chip, _ = make(columns, rows)
    await display.open()
    lines = [f"row {n} of {rows}" for n in range(1, rows + 1)]
    await display.show(lines)
    assert ddram_sets(chip) == addresses
    assert chip.lines() == [line.ljust(columns) for line in lines]
    assert [0x80 | a for a in row_addresses(columns, rows)] == addresses
    await display.close()


async def test_long_lines_are_cut_short_ones_padded_missing_ones_blank(lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    await display.show(["Price 0.45 EUR/kWh plus a session fee", "short"])
    assert chip.lines() == ["Price 0.45 EUR/kWh p", "short".ljust(20), " " * 20, " " * 20]


async def test_only_the_rows_that_changed_are_written_again(lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    await display.show(["Charging", "7.2 kW", "3.41 kWh", "0:28"])
    chip.instructions.clear()
    await display.show(["Charging", "7.2 kW", "3.52 kWh", "0:28"])
    assert ddram_sets(chip) == [0x94]  # row 3 alone
    assert sum(i.rs for i in chip.instructions) == 20
    chip.instructions.clear()
    await display.show(["Charging", "7.2 kW", "3.52 kWh", "0:28"])
    assert chip.instructions == []  # nothing changed: nothing on the bus
    assert chip.lines()[2] == "3.52 kWh".ljust(20)


async def test_letters_the_rom_has_use_its_codes(lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    await display.show(["Grüße ä ö ñ 20°C µ"])
    assert chip.row_codes()[0][:5] == bytes([0x47, 0x72, 0xF5, 0xE2, 0x65])  # G r ü ß(β) e
    assert chip.lines()[0].rstrip() == "Grüße ä ö ñ 20°C µ"
    assert not any(chip.cgram)  # no custom glyph needed


async def test_letters_the_rom_lacks_get_custom_glyphs(lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    await display.show(["0,35 €/kWh", "Välkommen Åsa", "Prix: 0,40 €"])
    assert chip.lines()[:3] == ["0,35 €/kWh".ljust(20), "Välkommen Åsa".ljust(20), "Prix: 0,40 €".ljust(20)]
    euro = chip.row_codes()[0][5]
    assert euro < 8 and chip.glyph(euro) == GLYPHS["€"]
    assert chip.row_codes()[2][11] == euro  # one slot per letter, however often it is shown


async def test_beyond_eight_custom_letters_the_rest_are_plain_and_slots_are_reused(
        lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    await display.show(["€ÅÄÖÜåéè", "àç\\~x"])
    assert chip.lines()[:2] == ["€ÅÄÖÜåéè".ljust(20), "ac/-x".ljust(20)]  # nine and ten drawn plain
    chip.instructions.clear()
    await display.show(["€ÅÄÖÜåéè", "ç ø"])
    # Row 1 is untouched; all eight glyphs are still on the screen, so ç and ø stay plain.
    assert ddram_sets(chip) == [0xC0]
    assert chip.lines()[1].rstrip() == "c o"
    await display.show(["€", "ç ø"])  # seven letters left the screen: their slots are reused
    assert chip.lines()[:2] == ["€".ljust(20), "ç ø".ljust(20)]


async def test_an_unplugged_display_fails_each_show_then_is_initialised_and_redrawn() -> None:
    display, chip, _ = make()
    await display.open()
    screen = ["Ready", "0.45 €/kWh", "Tap your card", ""]
    await display.show(screen)
    chip.unplug()
    with pytest.raises(DeviceError, match="display at 0x27 on /dev/i2c-1: no answer"):
        await display.show(["Authorizing"])
    with pytest.raises(DeviceError):
        await display.show(screen)
    assert not display.ready
    chip.plug()
    assert chip.lines() == [" " * 20] * 4 and not chip.initialised  # powered up blank
    await display.show(screen)
    assert chip.initialised and chip.too_soon == []
    assert chip.lines() == [line.ljust(20) for line in screen]  # every row again, the € glyph reloaded
    await display.close()


async def test_a_display_left_half_way_through_a_byte_is_brought_back_in_step() -> None:
    display, chip, bus = make()
    await display.open()
    await display.show(["old"])
    bus.write_bytes(ADDRESS, [0x58, 0x5C, 0x58])  # a lone nibble: the agent died mid-byte
    again = Hd44780Display(I2cBus(lambda: bus, "/dev/i2c-1"), ADDRESS)
    await again.open()
    await again.show(["new"])
    assert chip.lines()[0] == "new".ljust(20)
    await again.close()


async def test_a_display_absent_at_open_is_a_device_error_and_a_later_show_brings_it_up() -> None:
    display, chip, _ = make()
    chip.unplug()
    with pytest.raises(DeviceError, match="no answer"):
        await display.open()
    chip.plug()
    await display.show(["Hello"])
    assert chip.initialised and chip.lines()[0].startswith("Hello")
    await display.close()


async def test_the_keeper_logs_a_failure_once_and_the_recovery_once() -> None:
    display, chip, _ = make()
    keeper = DisplayKeeper(display)
    chip.unplug()
    with capture_logs() as logs:
        assert not await keeper.open()
        for _ in range(5):
            assert not await keeper.show(["Ready"])
        chip.plug()
        assert await keeper.show(["Ready"])
        assert await keeper.show(["Charging"])
    assert [(entry["log_level"], entry["event"].split(";")[0]) for entry in logs] == [
        ("warning", "display not answering"), ("info", "display answering again")]
    assert "0x27" in logs[0]["error"]
    assert chip.lines()[0].startswith("Charging")
    await keeper.close()


async def test_close_blanks_the_screen_puts_the_light_out_and_is_idempotent(
        lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    await display.show(["Charging"])
    await display.close()
    await display.close()
    assert chip.lines() == [" " * 20] * 4 and not chip.backlight
    with pytest.raises(DeviceError, match="closed"):
        await display.show(["x"])


async def test_close_of_an_unplugged_display_does_not_raise(lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    chip.unplug()
    await display.close()


def test_pin_maps_are_tables() -> None:
    assert COMMON.nibble(0b1010) == 0b1010_0000 and COMMON.light(True) == 0x08
    assert MJKDZ.nibble(0b1010) == 0b0000_1010 and MJKDZ.light(True) == 0 and MJKDZ.light(False) == 0x80
    with pytest.raises(ValueError, match="each expander pin P0..P7 once"):
        PinMap(rs=0, rw=0, e=2, backlight=3, d4=4, d5=5, d6=6, d7=7)


def test_sizes_and_addresses_are_checked() -> None:
    bus = I2cBus(lambda: FakeSMBus(), "/dev/i2c-1")
    with pytest.raises(ValueError, match="40x4 does not exist"):
        Hd44780Display(bus, ADDRESS, columns=40, rows=4)
    with pytest.raises(ValueError, match="0x78"):
        Hd44780Display(bus, 0x78)


def test_every_custom_glyph_is_distinct_and_five_dots_wide() -> None:
    assert len(set(GLYPHS.values())) == len(GLYPHS)
    assert all(len(rows) == 8 and all(0 <= r < 32 for r in rows) for rows in GLYPHS.values())


def test_on_smbus2_the_bytes_go_as_one_i2c_rdwr_write_message() -> None:
    from drivers.i2c import write_bytes

    class Smbus2Like:
        """What smbus2.SMBus offers for this: i2c_rdwr, no write_bytes."""

        def __init__(self) -> None:
            self.messages: list[tuple[int, int, list[int]]] = []

        def i2c_rdwr(self, *messages: object) -> None:
            for m in messages:
                self.messages.append((m.addr, m.flags, list(m)))  # type: ignore[attr-defined]

    bus = Smbus2Like()
    write_bytes(bus, 0x27, [0x08, 0x0C, 0x08])  # type: ignore[arg-type]
    write_bytes(bus, 0x27, [])
    assert bus.messages == [(0x27, 0, [0x08, 0x0C, 0x08])]  # a write (no I2C_M_RD flag), nothing for no bytes


# -- a display reset behind the driver's back -------------------------------------------------

SCREEN = ["Ready", "0.45 €/kWh", "Tap your card", "Grüße"]


def drawn(chip: FakeHd44780) -> list[str]:
    return [line.ljust(20) for line in SCREEN]


async def test_a_display_replugged_between_two_screens_is_redrawn_by_the_next_show() -> None:
    display, chip, _ = make()
    await display.open()
    await display.show(SCREEN)
    chip.unplug()
    chip.plug()  # no transfer failed: nothing told the driver
    assert chip.lines() == [" " * 20] * 4 and display.ready
    with capture_logs() as logs:
        await display.show(SCREEN)  # the same screen, drawn whole again
        await display.show(["Charging"] + SCREEN[1:])
    assert chip.initialised and chip.too_soon == []
    assert chip.lines() == ["Charging".ljust(20)] + drawn(chip)[1:]
    assert [(e["log_level"], e["event"].split(" (")[0]) for e in logs] == [("warning", "display was reset")]
    await display.close()


async def test_a_display_replugged_while_the_screen_stays_is_redrawn_by_the_next_check() -> None:
    display, chip, _ = make()
    await display.open()
    await display.show(SCREEN)
    chip.unplug()
    chip.plug()
    with capture_logs() as logs:
        await display.check()
        await display.check()
    assert chip.initialised and chip.too_soon == []
    assert chip.lines() == drawn(chip)
    assert [(e["log_level"], e["event"].split(" (")[0]) for e in logs] == [("warning", "display was reset")]
    assert logs[0]["display"] == "display at 0x27 on /dev/i2c-1"
    await display.close()


async def test_a_controller_reset_the_backpack_rode_through_is_redrawn_at_the_refresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    display, chip, _ = make()
    await display.open()
    await display.show(SCREEN)
    chip.reset_controller()  # the pins still read as the driver left them
    await asyncio.sleep(0.05)  # the controller's own 40 ms after its reset
    await display.check()
    assert chip.lines() == [" " * 20] * 4  # not due yet: the pins look fine
    monkeypatch.setattr(hd44780, "REFRESH_S", 0.0)
    await display.check()
    assert chip.initialised and chip.lines() == drawn(chip) and chip.too_soon == []


async def test_the_refresh_of_a_healthy_screen_neither_clears_nor_switches_it_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    display, chip, bus = make()
    await display.open()
    await display.show(SCREEN)
    bus.write_bytes(ADDRESS, [0x58, 0x5C, 0x58])  # a lone nibble: the interface out of step as well
    chip.instructions.clear()
    monkeypatch.setattr(hd44780, "REFRESH_S", 0.0)
    await display.check()
    values = [i.value for i in chip.instructions if not i.rs]
    assert 0x01 not in values and 0x08 not in values  # no clear, no display off: no flicker
    assert chip.display_on and chip.initialised and chip.too_soon == []
    assert chip.lines() == drawn(chip)
    assert sum(i.rs and i.value == ord("T") for i in chip.instructions) == 1  # every row written again


async def test_unplugged_while_idle_is_logged_once_and_the_screen_comes_back_by_itself() -> None:
    display, chip, _ = make()
    await display.open()
    await display.show(SCREEN)
    with capture_logs() as logs:
        chip.unplug()
        for _ in range(3):
            await display.check()
        assert not display.ready
        chip.plug()
        await display.check()
        await display.check()
    assert chip.lines() == drawn(chip) and display.ready
    assert [(e["log_level"], e["event"].split(";")[0]) for e in logs] == [
        ("warning", "display not answering"), ("info", "display answering again")]
    await display.close()


async def test_run_brings_the_screen_back_within_the_check_period(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hd44780, "CHECK_S", 0.02)
    display, chip, _ = make()
    task = asyncio.create_task(display.run())
    try:
        await asyncio.sleep(0.05)  # nothing shown yet: nothing to do, and no error
        await display.open()
        await display.show(SCREEN)
        chip.unplug()
        chip.plug()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if chip.lines() == drawn(chip):
                break
        assert chip.lines() == drawn(chip)
        await display.close()
        await asyncio.sleep(0.05)
        assert not task.done()  # a closed display is left alone, not an error
    finally:
        task.cancel()


async def test_check_does_nothing_before_a_screen_or_after_close() -> None:
    display, chip, _ = make()
    await display.check()
    assert chip.instructions == []
    await display.open()
    await display.show(["x"])
    await display.close()
    chip.instructions.clear()
    await display.check()
    assert chip.instructions == []


# -- text -----------------------------------------------------------------------------------------

async def test_decomposed_accents_are_composed_and_stray_marks_dropped(lcd: tuple[Hd44780Display, Wire]) -> None:
    display, chip = lcd
    await display.show([unicodedata.normalize("NFD", "Café 0,30 €|"), unicodedata.normalize("NFD", "Ström|"),
                        "x\u0301\u20dd|"])  # x with an acute (no such letter) and an enclosing circle
    assert chip.lines()[:3] == ["Café 0,30 €|".ljust(20), "Ström|".ljust(20), "x|".ljust(20)]


def test_fit_counts_cells_after_composing() -> None:
    assert fit("e\u0301te\u0301", 3) == "été"
    assert fit("A\u030a", 2) == "Å "


# -- a 16x1 that is two 8-cell lines inside -------------------------------------------------------

async def test_a_split_16x1_is_driven_as_two_lines_of_eight() -> None:
    display, chip, _ = make(16, 1, split=True)
    await display.open()
    assert chip.initialised and chip.two_lines  # N = 1, as these modules need
    await display.show(["0,35 €/kWh Tap!"])
    assert ddram_sets(chip) == [0x80, 0xC0]
    assert "".join(chip.lines()) == "0,35 €/kWh Tap! "  # cells 9..16 are the second line inside
    chip.instructions.clear()
    await display.show(["0,35 €/kWh Go!"])
    assert ddram_sets(chip) == [0xC0]  # only the half that changed
    await display.close()
    with pytest.raises(ValueError, match="only a 16x1"):
        Hd44780Display(I2cBus(lambda: FakeSMBus(), "/dev/i2c-1"), ADDRESS, columns=20, rows=4, split=True)


async def test_run_survives_a_bus_that_fails_in_an_unexpected_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hd44780, "CHECK_S", 0.01)
    display, chip, bus = make()
    await display.open()
    await display.show(SCREEN)

    def broken(address: int, force: bool | None = None) -> int:
        raise RuntimeError("a driver bug below")

    monkeypatch.setattr(bus, "read_byte", broken)
    with capture_logs() as logs:
        task = asyncio.create_task(display.run())
        await asyncio.sleep(0.1)
        assert not task.done()  # the charger's task group is not ended by a display
        task.cancel()
    assert [e["event"] for e in logs] == ["display check failed; tried again every second"]
    await display.close()
