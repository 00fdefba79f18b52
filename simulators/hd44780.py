"""A register-level PCF8574 backpack and HD44780 character LCD on the fake I2C bus.

The model sees only what the chip would: bytes latched onto the expander's eight pins,
one after another. The HD44780 takes the data lines on each falling edge of E (with
RS and RW as they were while E was high): in 8-bit mode, as it powers up, one edge is
one instruction (D0..D3 are not wired on a backpack and read 0); once a function set
chose 4 bits, two edges make one byte, high nibble first. Instructions and data then
act on DDRAM (two 40-cell lines at 0x00 and 0x40, or one of 80 cells), CGRAM (eight
5x8 glyphs) and the address counter, as in the Hitachi datasheet.

What a test reads: :meth:`FakeHd44780.lines` (the screen as a person sees it: blank
when the display or its power is off), ``backlight``, ``initialised`` (the reset by
instruction happened since power-on and the display was set up in 4-bit mode with the
right number of lines and switched on), the ``instructions`` the chip executed, and
``too_soon``: falling edges of E that came while the controller was still busy, timed
as if each message took its transmission time at ``bus_hz``. The waits are the
datasheet's (Hitachi HD44780U, table 6 and figure 24) for the chosen :class:`Timing`:
40 ms from power-on to the first instruction, 4.1 ms after the first instruction and
100 us after the second, clear and home 1.52 ms, the rest 37 us (43 us a data write),
or the slow figures of the compatibles. A nibble that comes while the chip is busy is
lost, as on the glass (the 4-bit pairing slips, the instruction never happens), so a
driver that does not wait shows it on :meth:`lines` too, not only in ``too_soon``.
:meth:`unplug` and :meth:`plug` take the power away and give it back: the chip comes back
in its power-on state, screen lost; :meth:`reset_controller` is a brown-out the backpack's
expander rode through (pins kept, the controller reset).
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.display.charmap import GLYPHS, ROM

#: How the backpack in the simulator is wired (the common one): P0=RS, P1=RW, P2=E,
#: P3=backlight, P4..P7=D4..D7.
RS, RW, E, BACKLIGHT = 0x01, 0x02, 0x04, 0x08
DATA_SHIFT = 4



@dataclass(frozen=True, slots=True)
class Timing:
    """How long the controller is busy after each kind of instruction."""

    clear_s: float
    instruction_s: float
    data_s: float
    #: From power-on to the first instruction, then after the first and the second
    #: (the 8-bit function sets of the reset by instruction).
    power_on_s: float = 40e-3
    first_s: float = 4.1e-3
    second_s: float = 100e-6


#: The Hitachi HD44780U at fOSC = 270 kHz (datasheet table 6 and figure 24).
HD44780U = Timing(clear_s=1.52e-3, instruction_s=37e-6, data_s=43e-6)
#: The slow compatibles (KS0066/ST7066-class modules with a 160 kHz oscillator, or an
#: HD44780 at the cold end of its range): instructions 120 us, clear up to 4.9 ms and home
#: up to 4.8 ms (the modules' instruction tables for 1/16 duty at 160 kHz).
SLOW_COMPATIBLE = Timing(clear_s=4.9e-3, instruction_s=120e-6, data_s=120e-6)

CLEAR_S = HD44780U.clear_s
INSTRUCTION_S = HD44780U.instruction_s
DATA_S = HD44780U.data_s

#: Codes of the A00 ROM, for reading the screen back as text.
_ROM_TEXT = {code: char for char, code in ROM.items() if char not in "βμ"}
_GLYPH_TEXT = {rows: char for char, rows in GLYPHS.items()}


@dataclass(frozen=True, slots=True)
class Executed:
    """One instruction (``rs`` False) or data byte the chip executed, and in which mode it came."""

    rs: bool
    value: int
    four_bit: bool


class FakeHd44780:
    """The display and its backpack, for ``columns`` x ``rows`` (row addresses as the glass is wired)."""

    def __init__(self, columns: int = 20, rows: int = 4, *, bus_hz: int = 100_000,
                 clock: Callable[[], float] = time.monotonic, timing: Timing = HD44780U,
                 realtime: bool = False) -> None:
        self.columns = columns
        self.rows = rows
        self.byte_s = 9 / bus_hz  # eight bits and the acknowledge
        self.clock = clock
        self.timing = timing
        #: Hold the caller (the bus thread) for each message's transmission time, as a
        #: real bus does: what a bus shared with the pilot's ADC is measured with.
        self.realtime = realtime
        self.plugged = True
        self._lock = threading.Lock()
        self.power_on()

    # -- power -------------------------------------------------------------------------

    def power_on(self) -> None:
        """The state after power-on: the expander's pins all high, the controller reset by
        its internal circuit (8-bit, one line, display off, cleared), nothing initialised."""
        self.port = 0xFF
        self.eight_bit = True
        self.two_lines = False
        self.display_on = self.cursor = self.blink = False
        self.increment = True
        self.shift_display = False
        self.shift = 0
        self.ddram = bytearray(b" " * 0x80)
        self.cgram = bytearray(64)
        self.address = 0
        self.in_cgram = False
        self._pending: int | None = None  # the high nibble of a 4-bit byte
        self._resets = 0  # 8-bit function sets in a row
        self.reset_by_instruction = False
        self.instructions: list[Executed] = []
        self.too_soon: list[str] = []
        self._lag = 0.0  # the messages' transmission time so far
        self._busy_until = self.clock() + self.timing.power_on_s
        self._executed = 0  # instructions since power-on (the first two are the slow resets)
        self.reads = 0

    def reset_controller(self) -> None:
        """The controller alone starts again (a supply dip the expander survived, a glitch
        on its reset): 8-bit, display off, cleared; the expander keeps its pins."""
        with self._lock:
            port = self.port
            self.power_on()
            self.port = port

    def unplug(self) -> None:
        """Take the display off the bus (and its power): it no longer acknowledges."""
        with self._lock:
            self.plugged = False

    def plug(self) -> None:
        """Plug it back: powered up from scratch."""
        with self._lock:
            self.plugged = True
            self.power_on()

    # -- the bus -------------------------------------------------------------------------

    def write_bytes(self, data: Sequence[int]) -> None:
        """One I2C message: each byte is latched onto the pins in turn."""
        with self._lock:
            if not self.plugged:
                raise OSError(errno.EREMOTEIO, "Remote I/O error")
            bad = next((b for b in data if not 0 <= b <= 0xFF), None)
            if bad is not None:
                raise OSError(errno.EINVAL, f"{bad} is not a byte")  # before any reaches the pins
            start = self.clock() + self._lag
            for n, byte in enumerate(data):
                self._latch(byte, start + (n + 1) * self.byte_s)
            if not self.realtime:
                self._lag += len(data) * self.byte_s
        if self.realtime:
            time.sleep(len(data) * self.byte_s)

    def write(self, register: int, data: Sequence[int]) -> None:
        """An SMBus block write: the "register" is just the first byte on the pins."""
        self.write_bytes([register, *data])

    def read(self, register: int, length: int) -> list[int]:
        """A read gets the pins (the expander has no registers)."""
        with self._lock:
            if not self.plugged:
                raise OSError(errno.EREMOTEIO, "Remote I/O error")
            return [self.port] * length

    def read_byte(self) -> int:
        """A plain one-byte read: the level of the eight pins."""
        return self.read(0, 1)[0]

    @property
    def backlight(self) -> bool:
        return self.plugged and bool(self.port & BACKLIGHT)

    def _latch(self, byte: int, at: float) -> None:
        before, self.port = self.port, byte
        if before & E and not byte & E:  # falling edge: the controller takes the lines as they were
            if before & RW:
                self.reads += 1  # a read cycle (the pins power up high): nothing is written
                return
            rs, nibble = bool(before & RS), before >> DATA_SHIFT & 0x0F
            if at < self._busy_until:  # busy: the controller does not take it
                kind = "data" if rs else "instruction"
                self.too_soon.append(f"{kind} nibble 0x{nibble:X} {1e6 * (self._busy_until - at):.0f} us too soon")
                return
            self._edge(rs, nibble, at)

    def _edge(self, rs: bool, nibble: int, at: float) -> None:
        if self.eight_bit:
            self._execute(rs, nibble << 4, at)
        elif self._pending is None:
            self._pending = nibble
        else:
            value, self._pending = self._pending << 4 | nibble, None
            self._execute(rs, value, at)

    # -- the controller --------------------------------------------------------------------

    def _execute(self, rs: bool, value: int, at: float) -> None:
        self.instructions.append(Executed(rs, value, not self.eight_bit))
        timing = self.timing
        self._executed += 1
        took = timing.data_s if rs else timing.instruction_s
        if rs:
            self._store(value)
        elif value & 0x80:
            self.address, self.in_cgram = value & 0x7F, False
        elif value & 0x40:
            self.address, self.in_cgram = value & 0x3F, True
        elif value & 0x20:
            self._function_set(value)
        elif value & 0x10:
            self._cursor_or_shift(value)
        elif value & 0x08:
            self.display_on, self.cursor, self.blink = bool(value & 0x04), bool(value & 0x02), bool(value & 0x01)
        elif value & 0x04:
            self.increment, self.shift_display = bool(value & 0x02), bool(value & 0x01)
        elif value & 0x02:
            self.address, self.in_cgram, self.shift = 0, False, 0
            took = timing.clear_s
        elif value & 0x01:
            self.ddram[:] = b" " * 0x80
            self.address, self.in_cgram, self.shift, self.increment = 0, False, 0, True
            took = timing.clear_s
        if rs or value & 0xE0 != 0x20:
            self._resets = 0
        if self._executed == 1:
            took = max(took, timing.first_s)
        elif self._executed == 2:
            took = max(took, timing.second_s)
        self._busy_until = at + took

    def _function_set(self, value: int) -> None:
        eight_bit = bool(value & 0x10)
        if self.eight_bit and eight_bit:
            self._resets += 1  # D0..D3 are not wired: N and F of this one are noise, kept as they were
            return
        if self.eight_bit and self._resets >= 3:
            self.reset_by_instruction = True
        self._resets = 0
        self.two_lines = bool(value & 0x08)
        self.eight_bit = eight_bit
        self._pending = None

    def _cursor_or_shift(self, value: int) -> None:
        step = 1 if value & 0x04 else -1
        if value & 0x08:
            self.shift = (self.shift + step) % 40
        else:
            self.address = self._next(self.address, step)

    def _store(self, value: int) -> None:
        step = 1 if self.increment else -1
        if self.in_cgram:
            self.cgram[self.address] = value & 0x1F
            self.address = (self.address + step) % 64
            return
        self.ddram[self.address] = value
        self.address = self._next(self.address, step)
        if self.shift_display:
            self.shift = (self.shift + step) % 40

    def _next(self, address: int, step: int) -> int:
        """The address counter after one step: two lines of 40 (0x00-0x27, 0x40-0x67), or one of 80."""
        if not self.two_lines:
            return (address + step) % 80
        line, cell = address & 0x40, (address & 0x3F) + step
        if cell >= 40:
            return 0x40 - line
        if cell < 0:
            return (0x40 - line) + 39
        return line | cell

    # -- what a person sees ------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        """Reset by instruction since power-on, in 4-bit mode with the lines the glass has, and on."""
        return (self.plugged and self.reset_by_instruction and not self.eight_bit
                and self.two_lines == (self.rows > 1) and self.display_on)

    def row_codes(self) -> list[bytes]:
        """Each row's character codes, as the glass is wired (rows 3 and 4 continue rows 1 and 2)."""
        starts = (0x00, 0x40, self.columns, 0x40 + self.columns)[: self.rows]
        out = []
        for start in starts:
            line, cell = start & 0x40, start & 0x3F
            out.append(bytes(self.ddram[line | (cell + self.shift + n) % 40] for n in range(self.columns)))
        return out

    def glyph(self, code: int) -> tuple[int, ...]:
        """The eight dot rows of custom character ``code`` (0..7; 8..15 are the same ones)."""
        slot = code & 0x07
        return tuple(self.cgram[slot * 8: slot * 8 + 8])

    def text(self, code: int) -> str:
        """What character ``code`` looks like: ASCII, the ROM's extras, a known custom glyph, else U+FFFD."""
        if code < 0x10:
            return _GLYPH_TEXT.get(self.glyph(code), "\ufffd")
        if 0x20 <= code <= 0x7D and code != 0x5C:
            return chr(code)
        return _ROM_TEXT.get(code, "\ufffd")

    def lines(self) -> list[str]:
        """The screen: blank when unpowered or switched off."""
        with self._lock:
            if not self.plugged or not self.display_on:
                return [" " * self.columns for _ in range(self.rows)]
            return ["".join(self.text(c) for c in row) for row in self.row_codes()]
