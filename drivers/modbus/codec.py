"""Register words <-> numbers, for every data type a shipped meter model uses.

Modbus carries 16-bit registers, each big-endian on the wire. Values wider than one
register are split across consecutive registers in an order the Modbus standard leaves
to the manufacturer: "big" word order puts the most significant register first (Eastron,
ABB), "little" puts it last (Carlo Gavazzi). Decoding returns the raw number; the model's
scale factor is applied by the caller.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Sequence


class DataType(enum.Enum):
    """A register data type: its name in model files and how many registers it spans."""

    UINT16 = ("uint16", 1)
    INT16 = ("int16", 1)
    UINT32 = ("uint32", 2)
    INT32 = ("int32", 2)
    FLOAT32 = ("float32", 2)
    UINT64 = ("uint64", 4)
    INT64 = ("int64", 4)
    # Iskra's measurement formats: bits 31..24 a signed decade exponent, bits 23..0 the
    # value, unsigned (T5) or two's complement (T6). 123456 * 10^-3 is 0xFD01 0xE240.
    ISKRA_T5 = ("iskra_t5", 2)
    ISKRA_T6 = ("iskra_t6", 2)

    def __init__(self, label: str, registers: int) -> None:
        self.label = label
        self.registers = registers

    @classmethod
    def from_label(cls, label: str) -> DataType:
        for member in cls:
            if member.label == label:
                return member
        raise ValueError(label)

    @classmethod
    def labels(cls) -> list[str]:
        return [member.label for member in cls]


class WordOrder(enum.Enum):
    BIG = "big"  # most significant register first
    LITTLE = "little"  # least significant register first


_STRUCT = {
    DataType.UINT16: ">H",
    DataType.INT16: ">h",
    DataType.UINT32: ">I",
    DataType.INT32: ">i",
    DataType.FLOAT32: ">f",
    DataType.UINT64: ">Q",
    DataType.INT64: ">q",
}


def _to_bytes(words: Sequence[int], order: WordOrder) -> bytes:
    ordered = list(words) if order is WordOrder.BIG else list(reversed(words))
    return b"".join(w.to_bytes(2, "big") for w in ordered)


def _to_words(data: bytes, order: WordOrder) -> list[int]:
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return words if order is WordOrder.BIG else list(reversed(words))


def decode(words: Sequence[int], dtype: DataType, order: WordOrder) -> float:
    """The number held in ``words`` (exactly ``dtype.registers`` of them)."""
    if len(words) != dtype.registers:
        raise ValueError(f"{dtype.label} needs {dtype.registers} registers, got {len(words)}")
    data = _to_bytes(words, order)
    if dtype in (DataType.ISKRA_T5, DataType.ISKRA_T6):
        exponent = int.from_bytes(data[:1], "big", signed=True)
        mantissa = int.from_bytes(data[1:], "big", signed=dtype is DataType.ISKRA_T6)
        return mantissa * 10.0**exponent
    (value,) = struct.unpack(_STRUCT[dtype], data)
    return float(value)


def encode(value: float, dtype: DataType, order: WordOrder) -> list[int]:
    """Registers holding ``value`` (already divided by the scale), rounded for integers.

    Raises ValueError when the value does not fit the type, as a real meter's register
    would have wrapped or saturated instead.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be encoded as {dtype.label}")
    if dtype in (DataType.ISKRA_T5, DataType.ISKRA_T6):
        return _to_words(_encode_iskra(value, signed=dtype is DataType.ISKRA_T6), order)
    if dtype is DataType.FLOAT32:
        return _to_words(struct.pack(">f", value), order)
    try:
        return _to_words(struct.pack(_STRUCT[dtype], round(value)), order)
    except struct.error as exc:
        raise ValueError(f"{value} does not fit {dtype.label}") from exc


def _encode_iskra(value: float, *, signed: bool) -> bytes:
    """The finest decade exponent whose mantissa still fits 24 bits, as Iskra meters do."""
    if not signed and value < 0:
        raise ValueError(f"{value} does not fit iskra_t5 (unsigned)")
    limit = 2**23 if signed else 2**24
    for exponent in range(-9, 10):
        mantissa = round(value / 10.0**exponent)
        if -limit <= mantissa < limit:
            return exponent.to_bytes(1, "big", signed=True) + mantissa.to_bytes(3, "big", signed=signed)
    raise ValueError(f"{value} does not fit an Iskra measurement")


def resolution(value: float, dtype: DataType, scale: float) -> float:
    """The smallest step a register of this type can show near ``value``, in driver units."""
    if dtype is DataType.FLOAT32:
        return max(abs(value) * 2.0**-23, 1e-9)
    if dtype in (DataType.ISKRA_T5, DataType.ISKRA_T6):
        return max(abs(value) * 2.0**-22, 1e-9 * abs(scale))
    return abs(scale)
