"""A character LCD with an HD44780 controller (16x2, 20x4, ...) behind a PCF8574 I2C backpack.

The display runs in 4-bit mode: every byte goes as two nibbles on D4..D7, each latched
by the display on the falling edge of E. The PCF8574 has no registers: each byte
written to it sets its eight pins, so one nibble is three bytes (the lines set with E
low, E high, E low again, so RS is stable before E rises) and a whole line of text is
one I2C message. Timing follows the datasheet (Hitachi HD44780U, figure 24): the
initialisation by instruction, which works whatever state the display was left in, and
the 1.52 ms that clear and home take; every other instruction (37 us) is done before
the next nibble can arrive over I2C (three bytes, at least 67 us at 400 kHz).

The screen is redrawn a line at a time and only the lines whose codes changed are
written. A display that stops acknowledging (unplugged, a loose wire: EREMOTEIO or
EIO) raises :class:`DeviceError`; the next :meth:`show` initialises it again and
redraws every line, since a display that lost power has lost its screen and its
custom characters. Which letters are drawn how: :mod:`drivers.display.charmap`.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence

from drivers.i2c import I2cBus, write_bytes
from drivers.protocols import DeviceError

from .charmap import CharMap
from .pins import COMMON, PinMap

CLEAR = 0x01
ENTRY_INCREMENT = 0x06  # I/D = 1: the address counter counts up; S = 0: the text stays put
DISPLAY_OFF = 0x08
DISPLAY_ON = 0x0C  # display on, no cursor, no blink
FUNCTION_4BIT = 0x20  # DL = 0
TWO_LINES = 0x08  # N = 1 (the 5x8 font, F = 0)
SET_CGRAM = 0x40
SET_DDRAM = 0x80

#: After power-on the display needs more than 40 ms before it takes an instruction.
POWER_ON_WAIT_S = 0.05
#: Waits after the three "8-bit" function sets that reset the interface (> 4.1 ms, > 100 us, > 100 us).
RESET_WAITS_S = (0.005, 0.0002, 0.0002)
#: Clear and home take 1.52 ms.
SLOW_INSTRUCTION_S = 0.002

#: Sizes one HD44780 can drive (40x4 displays have two controllers: not this driver).
SIZES = ((8, 1), (8, 2), (16, 1), (16, 2), (16, 4), (20, 1), (20, 2), (20, 4), (24, 2), (40, 1), (40, 2))


def row_addresses(columns: int, rows: int) -> tuple[int, ...]:
    """DDRAM address of each row's first cell. The controller has two 40-cell lines at 0x00
    and 0x40; a 4-row display shows each one's second half as rows 3 and 4
    (0x00, 0x40, 0x14, 0x54 on a 20x4; 0x00, 0x40 on a 16x2)."""
    return (0x00, 0x40, columns, 0x40 + columns)[:rows]


class Hd44780Display:
    """One display on ``bus`` at ``address`` (0x27 with no address jumper closed, 0x20 with all three).

    Construction does no I/O. ``pins`` says how the backpack is wired (drivers.display.pins).
    """

    def __init__(self, bus: I2cBus, address: int, *, columns: int = 20, rows: int = 4, pins: PinMap = COMMON,
                 backlight: bool = True) -> None:
        if (columns, rows) not in SIZES:
            sizes = ", ".join(f"{c}x{r}" for c, r in SIZES)
            raise ValueError(f"an HD44780 display of {columns}x{rows} does not exist; sizes: {sizes}")
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"I2C address 0x{address:02X} is outside 0x03..0x77")
        self.bus = bus
        self.address = address
        self.columns = columns
        self.rows = rows
        self.pins = pins
        self.name = f"display at 0x{address:02X} on {bus.name}"
        self._light = pins.light(backlight)
        self._addresses = row_addresses(columns, rows)
        self._charmap = CharMap()
        self._shown: list[list[int] | None] = [None] * rows
        self._bus_open = False
        self._ready = False
        self._closed = False
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        """True once initialised and answering since (False after a failure, until the next show)."""
        return self._ready

    async def open(self) -> None:
        """Open the bus and initialise the display (blank, backlight on). A display that does
        not answer raises DeviceError; :meth:`show` tries again."""
        async with self._lock:
            self._closed = False
            await self._initialise()

    async def show(self, lines: Sequence[str]) -> None:
        """Show ``lines`` (padded or cut to the display's size); only changed rows are written."""
        async with self._lock:
            if self._closed:
                raise DeviceError(self.name, "the display is closed")
            if not self._ready:
                await self._initialise()
            wanted = [(lines[n] if n < len(lines) else "")[: self.columns].ljust(self.columns)
                      for n in range(self.rows)]
            codes, glyphs = self._charmap.encode(wanted)
            try:
                for slot, rows in glyphs.items():
                    await self._write(self._instruction(SET_CGRAM | slot << 3) + self._data(rows))
                for n, row in enumerate(codes):
                    if self._shown[n] != row:
                        await self._write(self._instruction(SET_DDRAM | self._addresses[n]) + self._data(row))
                        self._shown[n] = row
            except OSError as exc:
                self._ready = False
                raise self._error(exc) from exc

    async def close(self, *, blank: bool = True) -> None:
        """Blank the display and put its backlight out (a stopped charger must not show a
        stale screen), then release the bus. Idempotent; never raises. ``blank=False``
        leaves the screen as it is (a test pattern the technician is to read)."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._bus_open:
                if self._ready and blank:
                    try:
                        await self._write(self._instruction(DISPLAY_OFF, light=False))
                    except OSError:
                        pass  # gone already: nothing left to blank
                self._ready = False
                self._bus_open = False
                await self.bus.close()

    # -- the wire --------------------------------------------------------------------------

    async def _initialise(self) -> None:
        """The datasheet's initialisation by instruction, then the screen blank and on."""
        if not self._bus_open:
            await self.bus.open()  # a DeviceError naming the bus if there is none
            self._bus_open = True
        self._ready = False
        self._shown = [None] * self.rows
        self._charmap.forget()
        function = FUNCTION_4BIT | (TWO_LINES if self.rows > 1 else 0)
        try:
            await asyncio.sleep(POWER_ON_WAIT_S)
            for wait in RESET_WAITS_S:
                await self._write(self._nibble(0x3, rs=False))  # function set, 8-bit interface
                await asyncio.sleep(wait)
            await self._write(self._nibble(0x2, rs=False))  # function set: 4-bit from now on
            await self._write(self._instruction(function) + self._instruction(DISPLAY_OFF))
            await self._write(self._instruction(CLEAR))
            await asyncio.sleep(SLOW_INSTRUCTION_S)
            await self._write(self._instruction(ENTRY_INCREMENT) + self._instruction(DISPLAY_ON))
        except OSError as exc:
            raise self._error(exc) from exc
        self._ready = True

    def _nibble(self, value: int, *, rs: bool, light: bool | None = None) -> list[int]:
        """Three port bytes putting one nibble on D4..D7 and pulsing E."""
        port = self.pins.nibble(value) | (1 << self.pins.rs if rs else 0)
        port |= self._light if light is None else self.pins.light(light)
        enable = 1 << self.pins.e
        return [port, port | enable, port]

    def _instruction(self, value: int, *, light: bool | None = None) -> list[int]:
        return self._nibble(value >> 4, rs=False, light=light) + self._nibble(value & 0x0F, rs=False, light=light)

    def _data(self, values: Sequence[int]) -> list[int]:
        out: list[int] = []
        for value in values:
            out += self._nibble(value >> 4, rs=True) + self._nibble(value & 0x0F, rs=True)
        return out

    async def _write(self, data: list[int]) -> None:
        address = self.address
        await self.bus.call(lambda bus: write_bytes(bus, address, data))

    def _error(self, exc: OSError) -> DeviceError:
        if exc.errno in (errno.EREMOTEIO, errno.ENXIO, errno.EIO):
            return DeviceError(self.name, "no answer (check the wiring, the address jumpers and the 5 V supply)")
        return DeviceError(self.name, f"I2C error: {exc.strerror or exc}")
