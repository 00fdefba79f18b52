"""Card UIDs formatted the way backends store them.

Backends disagree on how a card's UID is written as an idTag: the bytes in hex as the
reader returns them, the same bytes reversed (some readers and many badge printers
work little-endian), or the number printed on "10-digit" cards, which is the UID read
as a little-endian integer. The charger must send what the backend's whitelist holds,
so the format is a setting. Every result fits an OCPP 1.6 idTag (at most 20 characters).
"""

from __future__ import annotations

from collections.abc import Callable

ID_TAG_MAX_LENGTH = 20  # OCPP 1.6 IdToken is CiString20Type

_FORMATTERS: dict[str, Callable[[bytes], str]] = {
    "hex": lambda raw: raw.hex().upper(),
    "hex-reversed": lambda raw: raw[::-1].hex().upper(),
    "decimal": lambda raw: str(int.from_bytes(raw, "big")),
    "decimal-reversed": lambda raw: str(int.from_bytes(raw, "little")),
}

UID_FORMATS: tuple[str, ...] = tuple(_FORMATTERS)


def format_uid(raw: bytes, fmt: str) -> str:
    """Format the UID bytes ``raw`` as ``fmt`` (one of :data:`UID_FORMATS`).

    Raises ValueError for an unknown format, an empty UID, or a UID too long to fit an
    idTag in that format (a 10-byte UID fits in hex but not as a decimal number).
    """
    formatter = _FORMATTERS.get(fmt)
    if formatter is None:
        raise ValueError(f"unknown UID format {fmt!r}; allowed: {', '.join(UID_FORMATS)}")
    if not raw:
        raise ValueError("empty UID")
    tag = formatter(raw)
    if len(tag) > ID_TAG_MAX_LENGTH:
        raise ValueError(
            f"UID {raw.hex().upper()} is {len(tag)} characters as {fmt!r}; "
            f"an idTag holds at most {ID_TAG_MAX_LENGTH}"
        )
    return tag
