"""UID formats as backends store them."""

from __future__ import annotations

import pytest

from drivers.pcsc.uid import ID_TAG_MAX_LENGTH, UID_FORMATS, format_uid

UID_4 = bytes.fromhex("A1B2C3D4")
UID_7 = bytes.fromhex("04A1B2C3D4E5F6")


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        (UID_4, "hex", "A1B2C3D4"),
        (UID_4, "hex-reversed", "D4C3B2A1"),
        (UID_4, "decimal", "2712847316"),  # 0xA1B2C3D4
        (UID_4, "decimal-reversed", "3569595041"),  # 0xD4C3B2A1: what a "10-digit" reader prints
        (bytes.fromhex("00000001"), "decimal", "1"),
        (bytes.fromhex("00000001"), "decimal-reversed", "16777216"),
        (UID_7, "hex", "04A1B2C3D4E5F6"),
        (UID_7, "hex-reversed", "F6E5D4C3B2A104"),
        (UID_7, "decimal", "1303689068602870"),
        (UID_7, "decimal-reversed", "69495546249912580"),
    ],
)
def test_formats(raw: bytes, fmt: str, expected: str) -> None:
    assert format_uid(raw, fmt) == expected


def test_every_format_of_the_longest_4_and_7_byte_uids_fits_an_id_tag() -> None:
    for raw in (b"\xff" * 4, b"\xff" * 7):
        for fmt in UID_FORMATS:
            assert len(format_uid(raw, fmt)) <= ID_TAG_MAX_LENGTH


def test_a_10_byte_uid_fits_in_hex_but_not_as_a_number() -> None:
    raw = bytes(range(1, 11))
    assert format_uid(raw, "hex") == "0102030405060708090A"
    with pytest.raises(ValueError, match=r"0102030405060708090A is \d+ characters as 'decimal'.*at most 20"):
        format_uid(raw, "decimal")


def test_unknown_format_names_the_allowed_ones() -> None:
    allowed = "hex, hex-reversed, decimal, decimal-reversed"
    with pytest.raises(ValueError, match=f"unknown UID format 'HEX'; allowed: {allowed}"):
        format_uid(UID_4, "HEX")


def test_empty_uid_is_refused() -> None:
    with pytest.raises(ValueError, match="empty UID"):
        format_uid(b"", "hex")
