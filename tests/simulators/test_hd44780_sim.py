"""The PCF8574 + HD44780 model on its own: what the chip does with the bytes on its pins."""

from __future__ import annotations

import errno

import pytest

from simulators.ads1115 import FakeSMBus
from simulators.hd44780 import BACKLIGHT, E, RS, RW, SLOW_COMPATIBLE, FakeHd44780


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def nibble(value: int, *, rs: bool = False, light: bool = True) -> list[int]:
    port = value << 4 | (RS if rs else 0) | (BACKLIGHT if light else 0)
    return [port, port | E, port]


def byte(value: int, *, rs: bool = False) -> list[int]:
    return nibble(value >> 4, rs=rs) + nibble(value & 0xF, rs=rs)


def powered(columns: int = 16, rows: int = 2, **options: object) -> tuple[FakeHd44780, Clock]:
    """A chip on a test clock, past the 40 ms after power-on in which it takes nothing."""
    clock = Clock()
    chip = FakeHd44780(columns, rows, clock=clock, **options)  # type: ignore[arg-type]
    clock.now += 0.05
    return chip, clock


def four_bit(chip: FakeHd44780, clock: Clock, *, function: int = 0x28) -> None:
    """The datasheet's reset by instruction into 4-bit mode, with time passing as it should."""
    clock.now += 0.05  # power-on
    for wait in (0.005, 0.001, 0.001):
        chip.write_bytes(nibble(0x3))
        clock.now += wait
    chip.write_bytes(nibble(0x2))
    clock.now += 0.001
    chip.write_bytes(byte(function) + byte(0x0C))


def test_power_on_state_is_8_bit_blank_and_off_with_the_pins_high() -> None:
    chip = FakeHd44780(16, 2)
    assert chip.eight_bit and not chip.display_on and not chip.initialised
    assert chip.port == 0xFF and chip.backlight
    assert chip.lines() == [" " * 16] * 2


def test_in_8_bit_mode_one_edge_is_one_instruction_and_the_low_bits_read_zero() -> None:
    chip, _ = powered()
    chip.write_bytes(nibble(0x2))  # function set, DL=0: 4-bit from now on
    assert not chip.eight_bit
    assert [(i.value, i.four_bit) for i in chip.instructions] == [(0x20, False)]
    assert not chip.reset_by_instruction  # no 0x3 0x3 0x3 before it


def test_the_reset_sequence_then_text_at_the_row_addresses() -> None:
    clock = Clock()
    chip = FakeHd44780(20, 4, clock=clock)
    four_bit(chip, clock)
    assert chip.initialised and chip.too_soon == []
    for address, text in ((0x00, "one"), (0x40, "two"), (0x14, "three"), (0x54, "four")):
        chip.write_bytes(byte(0x80 | address) + [b for c in text.encode() for b in byte(c, rs=True)])
    assert chip.lines() == ["one".ljust(20), "two".ljust(20), "three".ljust(20), "four".ljust(20)]


def test_the_address_counter_runs_from_the_first_line_into_the_second() -> None:
    clock = Clock()
    chip = FakeHd44780(16, 2, clock=clock)
    four_bit(chip, clock)
    chip.write_bytes(byte(0x80 | 0x26) + byte(ord("a"), rs=True) + byte(ord("b"), rs=True) + byte(ord("c"), rs=True))
    assert chip.ddram[0x26:0x28] == b"ab" and chip.ddram[0x40] == ord("c")


def test_a_one_line_function_set_is_not_initialised_for_a_two_row_glass() -> None:
    clock = Clock()
    chip = FakeHd44780(16, 2, clock=clock)
    four_bit(chip, clock, function=0x20)
    assert not chip.two_lines and not chip.initialised


def test_an_instruction_during_a_clear_is_reported_too_soon_and_lost() -> None:
    clock = Clock()
    chip = FakeHd44780(16, 2, clock=clock)
    four_bit(chip, clock)
    clock.now += 0.001
    chip.write_bytes(byte(0x80 | 0x05) + byte(ord("x"), rs=True))
    clock.now += 0.001
    chip.write_bytes(byte(0x01) + byte(0x80))  # the set-address's nibbles come 270 and 540 us after the clear
    assert [t.split(" us")[0].rsplit(" ", 1)[0] for t in chip.too_soon] == [
        "instruction nibble 0x8", "instruction nibble 0x0"]
    assert chip.instructions[-1].value == 0x01  # the set-address never happened
    clock.now += 0.002
    chip.write_bytes(byte(0x02))
    clock.now += 0.0003  # home needs 1.52 ms
    chip.write_bytes(byte(0x80))
    assert len(chip.too_soon) == 4


def test_the_datasheet_waits_of_the_reset_by_instruction_are_required() -> None:
    clock = Clock()
    chip = FakeHd44780(16, 2, clock=clock)
    chip.write_bytes(nibble(0x3))  # within 40 ms of power-on: not taken
    assert chip.instructions == [] and chip.too_soon[0].startswith("instruction nibble 0x3")
    clock.now += 0.04
    chip.write_bytes(nibble(0x3))
    clock.now += 0.0035  # the first function set needs 4.1 ms
    chip.write_bytes(nibble(0x3))
    assert len(chip.instructions) == 1 and len(chip.too_soon) == 2
    clock.now += 0.0001
    chip.write_bytes(nibble(0x3))  # taken; the second one needs 100 us
    chip.write_bytes(nibble(0x3))  # 270 us later: in time
    assert len(chip.instructions) == 3 and len(chip.too_soon) == 2


def test_the_slow_compatibles_need_5_ms_after_clear_and_100_khz() -> None:
    chip, clock = powered(timing=SLOW_COMPATIBLE)
    four_bit(chip, clock)
    clock.now += 0.001
    chip.write_bytes(byte(0x01))
    clock.now += 0.003  # the Hitachi part's 1.52 ms kept, with room: still busy
    chip.write_bytes(byte(0x0C))
    assert len(chip.too_soon) == 2
    clock.now += 0.005
    chip.write_bytes(byte(0x80) + [b for c in b"abc" for b in byte(c, rs=True)])
    assert chip.lines()[0].startswith("abc") and len(chip.too_soon) == 2  # 100 kHz: 270 us per edge
    fast, clock = powered(timing=SLOW_COMPATIBLE, bus_hz=400_000)
    four_bit(fast, clock)
    clock.now += 0.001
    fast.write_bytes(byte(0x80) + [b for c in b"abc" for b in byte(c, rs=True)])
    assert fast.too_soon and not fast.lines()[0].startswith("abc")  # 400 kHz: 67 us per edge, 120 us needed


def test_a_controller_reset_keeps_the_pins_and_loses_the_screen() -> None:
    chip, clock = powered()
    four_bit(chip, clock)
    chip.write_bytes(byte(0x80) + byte(ord("x"), rs=True))
    port = chip.port
    chip.reset_controller()
    assert chip.port == port and chip.eight_bit and not chip.initialised
    assert chip.lines() == [" " * 16] * 2


def test_a_read_cycle_writes_nothing() -> None:
    chip = FakeHd44780(16, 2)
    chip.write_bytes([0x00])  # E falls from the power-on high with RW high: a read
    assert chip.reads == 1 and chip.instructions == []
    chip.write_bytes([RW | E, RW])
    assert chip.reads == 2


def test_cgram_glyphs_are_stored_and_read_back_as_their_letter() -> None:
    clock = Clock()
    chip = FakeHd44780(16, 2, clock=clock)
    four_bit(chip, clock)
    euro = (0x06, 0x09, 0x1C, 0x08, 0x1C, 0x09, 0x06, 0x00)
    chip.write_bytes(byte(0x40 | 3 << 3) + [b for row in euro for b in byte(row, rs=True)])
    chip.write_bytes(byte(0x80) + byte(3, rs=True) + byte(0x0B, rs=True) + byte(0xE1, rs=True))
    assert chip.glyph(3) == euro
    assert chip.lines()[0].startswith("€€ä")  # 8..15 show the same glyphs as 0..7


def test_unplugged_it_does_not_acknowledge_and_comes_back_at_power_on() -> None:
    clock = Clock()
    chip = FakeHd44780(20, 4, clock=clock)
    bus = FakeSMBus({0x27: chip})
    four_bit(chip, clock)
    chip.unplug()
    with pytest.raises(OSError) as raised:
        bus.write_bytes(0x27, nibble(0x3))
    assert raised.value.errno == errno.EREMOTEIO
    assert not chip.backlight
    chip.plug()
    assert chip.eight_bit and not chip.initialised and chip.instructions == []


def test_an_smbus_block_write_is_just_bytes_on_the_pins() -> None:
    chip, _ = powered()
    bus = FakeSMBus({0x27: chip})
    first, *rest = nibble(0x2)
    bus.write_i2c_block_data(0x27, first, rest)
    assert not chip.eight_bit
    assert bus.read_i2c_block_data(0x27, 0, 1) == [chip.port]
    assert bus.read_byte(0x27) == chip.port
    chip.plug()
    assert bus.read_byte(0x27) == 0xFF  # powered up: every pin high


def test_a_message_with_a_value_that_is_no_byte_is_refused_whole() -> None:
    chip = FakeHd44780(16, 2)
    with pytest.raises(OSError) as raised:
        chip.write_bytes(nibble(0x2) + [256])
    assert raised.value.errno == errno.EINVAL and chip.eight_bit and chip.port == 0xFF
