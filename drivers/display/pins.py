"""How a backpack's port expander is wired to the HD44780: a table, so that another
backpack is another entry, not another driver.

A PCF8574 has eight quasi-bidirectional pins P0..P7; a backpack wires four of them to
the display's data lines D4..D7 (the display runs in 4-bit mode) and the rest to RS,
RW, E and a transistor that switches the backlight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PinMap:
    """Expander bit numbers (0..7) of each display line."""

    rs: int
    rw: int
    e: int
    backlight: int
    d4: int
    d5: int
    d6: int
    d7: int
    #: False when a low pin lights the backlight (a PNP transistor).
    backlight_active_high: bool = True

    def __post_init__(self) -> None:
        bits = (self.rs, self.rw, self.e, self.backlight, self.d4, self.d5, self.d6, self.d7)
        if sorted(bits) != list(range(8)):
            raise ValueError(f"a pin map must use each expander pin P0..P7 once, not {bits}")

    def nibble(self, value: int) -> int:
        """The port bits putting the nibble ``value`` (0..15) on D4..D7."""
        out = 0
        for bit, pin in enumerate((self.d4, self.d5, self.d6, self.d7)):
            if value >> bit & 1:
                out |= 1 << pin
        return out

    def light(self, on: bool) -> int:
        """The port bit (or none) for the backlight ``on`` or off."""
        return 1 << self.backlight if on == self.backlight_active_high else 0


#: The usual blue "LCM1602 IIC" / YwRobot backpack: P0=RS, P1=RW, P2=E, P3=backlight, P4..P7=D4..D7.
COMMON = PinMap(rs=0, rw=1, e=2, backlight=3, d4=4, d5=5, d6=6, d7=7)
#: The mjkdz backpack: D4..D7 on P0..P3, E=P4, RW=P5, RS=P6, backlight on P7, lit when low.
MJKDZ = PinMap(rs=6, rw=5, e=4, backlight=7, d4=0, d5=1, d6=2, d7=3, backlight_active_high=False)

#: ``[display] pin_map`` names.
PIN_MAPS: Mapping[str, PinMap] = {"pcf8574": COMMON, "mjkdz": MJKDZ}
