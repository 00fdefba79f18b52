"""The charging-station cases of OCPP 2.0.1 Part 6 "Test Cases" (Open Charge Alliance,
Edition 3, 2024-05-06) in the blocks the session adapter answers for (B to K, and P),
the Core cases of block M (certificates; its ISO 15118 cases and those of
AdditionalRootCertificateCheck, which this charger does not support, are accounted for in
docs/ocpp201.md's prose) and block N's Core cases (N01 logs, N09/N10 customer
information; not the N02-N08 monitoring of Advanced Device Management): their numbers, as
TC_<block>_<nn>_CS, and blocks L (firmware), A (security), I (tariff and cost) and O
(display messages) of Advanced User Interface;
``tests/ocpp201/test_coverage_table.py`` checks that docs/ocpp201.md accounts for every
case here."""

from __future__ import annotations

CASES: dict[str, str] = {
    "A": "01 04 05 06 07 09 10 11 12 13 14 15 19 20 21 22 23",
    "B": "01 02 03 06 07 09 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 32 33 34 35 36 37 39 41 43 45 46 47 49 50 51 52 53 54 55 56 57",
    "C": "02 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 21 22 23 24 25 26 27 28 29 30 31 32 33 34 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58",
    "D": "01 02 03 04 05 06 07 08 10",
    "E": "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 19 20 21 22 24 25 26 27 28 29 30 31 32 33 34 35 37 38 39 40 41 42 43 44 45 46 50 51 52 54",
    "F": "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20 23 24 26 27",
    "G": "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20 21",
    "H": "01 02 03 04 06 07 08 09 10 12 13 14 15 16 17 18 19 21 22 23 24",
    "I": "01 02 07",
    "J": "01 02 03 04 06 07 08 09 10 11",
    "K": "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 19 21 22 23 24 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 47 52 53 54 56 57 58 60",
    "L": "01 02 03 05 06 07 08 10 11 12 13 14 15 16 18",
    "M": "01 02 07 12 13 17 18 19 20 22 23",
    "N": "25 26 27 28 29 30 31 32 33 34 35 36 62 63",
    "O": "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 17 18 19 20 22 24 27 28 30 32 33 34 35 36 37 38 39",
    "P": "01 03 04",
}


def official_cases() -> set[tuple[str, str]]:
    """Every case as (block, two-digit number)."""
    return {(block, number) for block, numbers in CASES.items() for number in numbers.split()}
