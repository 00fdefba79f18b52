"""What an HD44780 with the common A00 (Japanese) character ROM can draw, and how.

The A00 ROM holds ASCII from 0x20 to 0x7D, except that 0x5C is a yen sign and 0x7E,
0x7F are arrows; above 0xA0 it has katakana and a few Greek and accented letters.
Text becomes character codes in three tiers:

1. **The ROM's own code** where it has the letter: ä (0xE1), ö (0xEF), ü (0xF5),
   ñ (0xEE), ß (0xE2, the ROM's beta, which is how these displays show it), ° (0xDF),
   µ (0xE4), ÷ (0xFD), Ω, Σ, π, α, ¥, → and ←.
2. **A custom CGRAM glyph** (eight slots, 5x8 dots) for the letters drivers most need
   that the ROM lacks: € (prices), Å Ä Ö Ü å (Nordic and German capitals), é è ê à ç
   É (French), ø Ø æ Æ (Danish, Norwegian).
3. **A plain letter** for anything else, and for glyph letters beyond the eight that
   fit on one screen: the letter without its accent (á -> a, Å -> A), € -> E, and ``?``
   for what has no such letter. One character always stays one cell, so the caller's
   layout holds.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Codes of the A00 ROM for letters outside plain ASCII.
ROM: Mapping[str, int] = {
    "¥": 0x5C, "→": 0x7E, "←": 0x7F, "°": 0xDF, "α": 0xE0, "ä": 0xE1, "ß": 0xE2, "β": 0xE2,
    "µ": 0xE4, "μ": 0xE4, "ñ": 0xEE, "ö": 0xEF, "Ω": 0xF4, "ü": 0xF5, "Σ": 0xF6, "π": 0xF7,
    "÷": 0xFD, "█": 0xFF,
}

#: ASCII letters the A00 ROM draws as something else.
NOT_IN_ROM = frozenset("\\~")

#: Custom glyphs, eight rows of five dots each (bit 4 is the left column).
GLYPHS: Mapping[str, tuple[int, ...]] = {
    "€": (0x06, 0x09, 0x1C, 0x08, 0x1C, 0x09, 0x06, 0x00),
    "Å": (0x04, 0x0A, 0x04, 0x0E, 0x11, 0x1F, 0x11, 0x00),
    "Ä": (0x0A, 0x00, 0x0E, 0x11, 0x1F, 0x11, 0x11, 0x00),
    "Ö": (0x0A, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E, 0x00),
    "Ü": (0x0A, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00),
    "å": (0x04, 0x0A, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0x00),
    "é": (0x02, 0x04, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00),
    "è": (0x08, 0x04, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00),
    "ê": (0x04, 0x0A, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00),
    "à": (0x08, 0x04, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0x00),
    "ç": (0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E, 0x04, 0x0C),
    "É": (0x02, 0x04, 0x1F, 0x10, 0x1E, 0x10, 0x1F, 0x00),
    "ø": (0x00, 0x01, 0x0E, 0x13, 0x15, 0x19, 0x0E, 0x10),
    "Ø": (0x01, 0x0E, 0x13, 0x15, 0x19, 0x0E, 0x10, 0x00),
    "æ": (0x00, 0x00, 0x1A, 0x05, 0x0F, 0x14, 0x0B, 0x00),
    "Æ": (0x0F, 0x14, 0x14, 0x1F, 0x14, 0x14, 0x17, 0x00),
}
CGRAM_SLOTS = 8

#: Plain stand-ins where taking the accent off is not enough (one cell each).
PLAIN: Mapping[str, str] = {
    "€": "E", "£": "L", "\\": "/", "~": "-", "æ": "a", "Æ": "A", "ø": "o", "Ø": "O", "ß": "s",
    "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": ".", "\u00a0": " ", "•": "*",
}


def in_rom(char: str) -> int | None:
    """The ROM code drawing ``char``, or None."""
    if " " <= char <= "}" and char not in NOT_IN_ROM:
        return ord(char)
    return ROM.get(char)


def plain(char: str) -> str:
    """A stand-in the ROM has for ``char``: the letter without its accents, or ``?``."""
    if char in PLAIN:
        return PLAIN[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if len(base) == 1 and in_rom(base) is not None:
        return base
    return "?"


@dataclass
class CharMap:
    """Turns screens of text into character codes, keeping the CGRAM slots in step.

    ``slots[n]`` is the letter whose glyph is loaded in CGRAM slot ``n`` (None: free).
    A letter keeps its slot while it stays on the screen, so lines that do not change
    need not be rewritten; a slot whose letter left the screen is reused.
    """

    slots: list[str | None] = field(default_factory=lambda: [None] * CGRAM_SLOTS)

    def forget(self) -> None:
        """The display lost its CGRAM (power): every slot is free again."""
        self.slots = [None] * CGRAM_SLOTS

    def encode(self, lines: Sequence[str]) -> tuple[list[list[int]], dict[int, tuple[int, ...]]]:
        """Codes for every line, and the CGRAM slots to (re)load: slot -> glyph rows."""
        wanted: list[str] = []
        for line in lines:
            for char in line:
                if in_rom(char) is None and char in GLYPHS and char not in wanted:
                    wanted.append(char)
        keep = set(wanted)
        self.slots = [s if s in keep else None for s in self.slots]
        load: dict[int, tuple[int, ...]] = {}
        for char in wanted:
            if char in self.slots:
                continue
            if None not in self.slots:
                break  # the rest are drawn plain
            slot = self.slots.index(None)
            self.slots[slot] = char
            load[slot] = GLYPHS[char]
        codes = {char: slot for slot, char in enumerate(self.slots) if char is not None}
        return [[self._code(char, codes) for char in line] for line in lines], load

    @staticmethod
    def _code(char: str, slots: Mapping[str, int]) -> int:
        code = in_rom(char)
        if code is not None:
            return code
        if char in slots:
            return slots[char]
        return in_rom(plain(char)) or ord("?")
