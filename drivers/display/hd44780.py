"""A character LCD with an HD44780 controller (16x2, 20x4, ...) behind a PCF8574 I2C backpack.

The display runs in 4-bit mode: every byte goes as two nibbles on D4..D7, each latched
by the display on the falling edge of E. The PCF8574 has no registers: each byte
written to it sets its eight pins, so one nibble is three bytes (the lines set with E
low, E high, E low again, so RS is stable before E rises) and a whole line of text is
one I2C message. Timing follows the datasheet (Hitachi HD44780U, figure 24): the
initialisation by instruction, which works whatever state the display was left in, and
a wait after clear sized for the slow compatibles, not the Hitachi part alone: clear
takes 1.52 ms at fOSC = 270 kHz and scales with 270 kHz / fOSC (table 6), and the
KS0066/ST7066-class modules with a 160 kHz oscillator list up to 4.9 ms (120 us for
the other instructions). Everything else relies on the bus: two falling edges of E are
three bytes apart, 270 us at 100 kHz, enough for 120 us; at 400 kHz they are 67 us
apart, too close for those parts, so the display's bus runs at 100 kHz
(docs/hardware.md).

The screen is redrawn a line at a time (one I2C message per row, about 11 ms for 20
characters at 100 kHz, so an ADC sharing the bus waits at most that long), and only the
lines whose codes changed are written. A display that stops acknowledging
(unplugged, a loose wire: EREMOTEIO or EIO) raises :class:`DeviceError`; the next
:meth:`show` initialises it again and redraws every line, since a display that lost
power has lost its screen and its custom characters.

A display can also lose power and come back between two screens without any transfer
failing (a supply dip, a door harness unplugged and put back): it is then blank, in
8-bit mode, and would stay blank. The driver reads the expander's pins before each
screen, and :meth:`run` every ``CHECK_S`` while the screen stays the same (after a
power-up they are all high; the driver always leaves RW and E low): on a reset it
initialises the display and redraws the screen. And every
``REFRESH_S`` it re-synchronises the interface and rewrites every row even when nothing
looks wrong (a controller reset that the expander rode through), without clear or
display-off, so a healthy screen does not flicker. Which letters are drawn how:
:mod:`drivers.display.charmap`.
"""

from __future__ import annotations

import asyncio
import errno
import time
import unicodedata
from collections.abc import Sequence

import structlog

from drivers.i2c import I2cBus, read_byte, write_bytes
from drivers.protocols import DeviceError

from .charmap import CharMap
from .pins import COMMON, PinMap

log = structlog.get_logger(__name__)

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
#: Clear and home: 1.52 ms on the HD44780U at 270 kHz, up to 4.9 ms on the slow compatibles
#: (KS0066/ST7066-class modules at 160 kHz; see the module docstring). Only at initialisation.
SLOW_INSTRUCTION_S = 0.005
#: How often :meth:`Hd44780Display.run` reads the expander's pins for a display that was reset.
CHECK_S = 1.0
#: How often :meth:`Hd44780Display.run` re-synchronises the interface and rewrites every row
#: whatever the pins say (50 to 90 ms of bus time for a 20x4 at 100 kHz, one row per message).
REFRESH_S = 60.0

#: Sizes one HD44780 can drive (40x4 displays have two controllers: not this driver).
SIZES = ((8, 1), (8, 2), (16, 1), (16, 2), (16, 4), (20, 1), (20, 2), (20, 4), (24, 2), (40, 1), (40, 2))


def fit(line: str, columns: int) -> str:
    """``line`` as ``columns`` cells: composed (NFC) so that a letter sent decomposed ("e"
    and a combining acute) is one cell, marks that compose with nothing (combining,
    enclosing) dropped, then cut or padded. One character is then one cell."""
    composed = unicodedata.normalize("NFC", line)
    cells = "".join(c for c in composed if not unicodedata.category(c).startswith("M"))
    return cells[:columns].ljust(columns)


def row_addresses(columns: int, rows: int) -> tuple[int, ...]:
    """DDRAM address of each row's first cell. The controller has two 40-cell lines at 0x00
    and 0x40; a 4-row display shows each one's second half as rows 3 and 4
    (0x00, 0x40, 0x14, 0x54 on a 20x4; 0x00, 0x40 on a 16x2)."""
    return (0x00, 0x40, columns, 0x40 + columns)[:rows]


class Hd44780Display:
    """One display on ``bus`` at ``address`` (0x27 with no address jumper closed, 0x20 with all three).

    Construction does no I/O. ``pins`` says how the backpack is wired (drivers.display.pins).
    ``split`` is for the 16x1 modules that are two 8-cell lines inside (cells 9 to 16 at
    DDRAM 0x40, driven in two-line mode; most 16x1 modules): the one row is written as
    two halves.
    """

    def __init__(self, bus: I2cBus, address: int, *, columns: int = 20, rows: int = 4, pins: PinMap = COMMON,
                 backlight: bool = True, split: bool = False) -> None:
        if (columns, rows) not in SIZES:
            sizes = ", ".join(f"{c}x{r}" for c, r in SIZES)
            raise ValueError(f"an HD44780 display of {columns}x{rows} does not exist; sizes: {sizes}")
        if split and (columns, rows) != (16, 1):
            raise ValueError(f"only a 16x1 display is split into two 8-cell lines, not a {columns}x{rows}")
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"I2C address 0x{address:02X} is outside 0x03..0x77")
        self.bus = bus
        self.address = address
        self.columns = columns
        self.rows = rows
        self.pins = pins
        self.name = f"display at 0x{address:02X} on {bus.name}"
        self.split = split
        self._light = pins.light(backlight)
        #: Where each piece of the screen goes: (row, first cell, cells, DDRAM address).
        self._segments: tuple[tuple[int, int, int, int], ...] = (
            ((0, 0, 8, 0x00), (0, 8, 8, 0x40)) if split
            else tuple((n, 0, columns, a) for n, a in enumerate(row_addresses(columns, rows))))
        self._two_lines = rows > 1 or split
        self._charmap = CharMap()
        self._shown: list[list[int] | None] = [None] * len(self._segments)
        #: The screen last asked for (cut and padded), redrawn after a reset.
        self._lines: list[str] | None = None
        self._synced = 0.0  # time.monotonic() of the last initialisation or re-synchronisation
        self._bus_open = False
        self._ready = False
        self._closed = False
        #: True once :meth:`run` logged the display as not answering.
        self._lost = False
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
        """Show ``lines`` (padded or cut to the display's size); only changed rows are written.
        The expander's pins are read first (one byte): a display reset since the last screen
        is initialised and drawn whole."""
        async with self._lock:
            if self._closed:
                raise DeviceError(self.name, "the display is closed")
            if self._ready:
                try:
                    if await self._was_reset():
                        self._log_reset()
                        self._ready = False
                except OSError as exc:
                    self._ready = False
                    raise self._error(exc) from exc
            if not self._ready:
                await self._initialise()
            wanted = [fit(lines[n] if n < len(lines) else "", self.columns) for n in range(self.rows)]
            self._lines = wanted
            try:
                await self._draw(wanted)
            except OSError as exc:
                self._ready = False
                raise self._error(exc) from exc
            self._lost = False

    async def run(self) -> None:
        """Keep the screen on a display that may have been reset behind the driver's back
        (see the module docstring); runs until cancelled, from the first screen shown
        until :meth:`close`. Never raises for a failing display: it logs it once when it
        notices it and once when the screen is back."""
        failing = False
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - the charger's task group must never end for a display
                if not failing:
                    log.exception("display check failed; tried again every second", display=self.name)
                failing = True
            else:
                failing = False

    async def check(self) -> None:
        """One look of :meth:`run`: bring back a display that was reset, or re-synchronise
        and redraw one that is due for it; nothing before the first screen or after close."""
        async with self._lock:
            if self._closed or not self._bus_open or self._lines is None:
                return
            try:
                if not self._ready:
                    await self._initialise()
                    await self._draw(self._lines)
                    if self._lost:
                        log.info("display answering again; screen redrawn", display=self.name)
                elif await self._was_reset():
                    self._log_reset()
                    await self._initialise()
                    await self._draw(self._lines)
                elif time.monotonic() - self._synced >= REFRESH_S:
                    await self._resynchronise()
                    await self._draw(self._lines)
                self._lost = False
            except (OSError, DeviceError) as exc:
                if self._ready and not self._lost:
                    error = self._error(exc) if isinstance(exc, OSError) else exc
                    log.warning("display not answering; the charger works on, the screen is redrawn when it is "
                                "back", error=str(error))
                    self._lost = True
                self._ready = False

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

    async def _draw(self, wanted: list[str]) -> None:
        """Load the custom glyphs ``wanted`` needs, then write each segment that changed."""
        codes, glyphs = self._charmap.encode(wanted)
        for slot, dots in glyphs.items():
            await self._write(self._instruction(SET_CGRAM | slot << 3) + self._data(dots))
        for n, (row, first, cells, address) in enumerate(self._segments):
            piece = codes[row][first:first + cells]
            if self._shown[n] != piece:
                await self._write(self._instruction(SET_DDRAM | address) + self._data(piece))
                self._shown[n] = piece

    def _log_reset(self) -> None:
        log.warning("display was reset (its supply dipped or it was plugged back); initialised again and the "
                    "screen redrawn", display=self.name)

    async def _was_reset(self) -> bool:
        """True when the expander's RW or E pin reads high: it powered up since (all its
        pins go high), as the driver always leaves both low."""
        address = self.address
        port = await self.bus.call(lambda bus: read_byte(bus, address))
        return bool(port & (1 << self.pins.rw | 1 << self.pins.e))

    async def _resynchronise(self) -> None:
        """The initialisation's interface reset without its clear and display-off: whatever
        mode the controller is in (4-bit in step, 4-bit half-way through a byte, 8-bit after
        a reset), three 8-bit function sets and one 4-bit one bring it to 4-bit, in step;
        then the function set, the entry mode, the display on, and every row written again
        (the caller's :meth:`_draw`). A healthy screen keeps showing what it showed."""
        self._forget()
        for wait in RESET_WAITS_S:
            await self._write(self._nibble(0x3, rs=False))
            await asyncio.sleep(wait)
        await self._write(self._nibble(0x2, rs=False))
        await self._write(self._instruction(self._function()) + self._instruction(ENTRY_INCREMENT)
                          + self._instruction(DISPLAY_ON))
        self._synced = time.monotonic()

    def _forget(self) -> None:
        """Nothing on the glass is known any more: every row and glyph is written again."""
        self._shown = [None] * len(self._segments)
        self._charmap.forget()

    def _function(self) -> int:
        return FUNCTION_4BIT | (TWO_LINES if self._two_lines else 0)

    async def _initialise(self) -> None:
        """The datasheet's initialisation by instruction, then the screen blank and on."""
        if not self._bus_open:
            await self.bus.open()  # a DeviceError naming the bus if there is none
            self._bus_open = True
        self._ready = False
        self._forget()
        function = self._function()
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
        self._synced = time.monotonic()
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
