"""docs/ocpp201.md's coverage table tells the truth, both ways.

Its promise to a backend's integrator: every official case of the session blocks is
either covered by a named test or listed with the reason it is not. So each case of
``tests/conformance201/official_cases.py`` must appear in the table or in the "Not
covered yet" list, and each case the table claims must be named by a test of
``tests/conformance201/`` (in its function name, as ``tc_e_04_cs`` or a range such as
``b_32_to_b_34``, or in a comment at the assertion that checks it).

The table's rows write cases compactly: ``TC_E_01 (note), 04, 05; 14-17`` is E01, E04,
E05 and E14 to E17 (notes in parentheses are not case numbers)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conformance201.official_cases import official_cases

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "ocpp201.md").read_text(encoding="utf-8")
COVERAGE = DOC[DOC.index("## Coverage"):DOC.index("### Not covered yet")]
NOT_COVERED = DOC[DOC.index("### Not covered yet"):]

Case = tuple[str, str]


def _span(block: str, first: str, last: str | None) -> set[Case]:
    return {(block, f"{n:02d}") for n in range(int(first), int(last or first) + 1)}


def claimed(table: str) -> set[Case]:
    """The cases the table's first column names: a TC_X_nn sets the block for the bare
    numbers and ranges after it, up to the next one."""
    cases: set[Case] = set()
    for row in table.splitlines():
        if not row.startswith("| "):
            continue
        cell = re.sub(r"\([^)]*\)", "", row.split("|")[1])
        block = None
        for token in re.finditer(r"TC_([A-Z])_(\d+)(?:_CS)?(?:-(\d+))?|(?<![\w.])(\d{2})(?:-(\d{2}))?(?![\w.])", cell):
            if token.group(1):
                block = token.group(1)
                cases |= _span(block, token.group(2), token.group(3))
            elif block is not None:
                cases |= _span(block, token.group(4), token.group(5))
    return cases


def excused(text: str) -> set[Case]:
    """The cases the "Not covered yet" list names, as TC_X_nn_CS or TC_X_nn-mm_CS."""
    cases: set[Case] = set()
    for token in re.finditer(r"TC_([A-Z])_(\d+)(?:-(\d+))?_CS", text):
        cases |= _span(token.group(1), token.group(2), token.group(3))
    return cases


def named_by_tests() -> set[Case]:
    cases: set[Case] = set()
    # (the 2.0.1 firmware cases that run the real installer live beside the 1.6 ones)
    paths = [*(REPO / "tests" / "conformance201").glob("test_*.py"), REPO / "tests" / "firmware" / "test_firmware201.py"]
    for path in paths:
        source = path.read_text(encoding="utf-8")
        for name in re.findall(r"def (test_\w+)", source):
            for m in re.finditer(r"(?:^test_tc_|_)([a-p])_(\d{2})(?:_to_\1_(\d{2}))?(?=_|$)", name):
                cases |= _span(m.group(1).upper(), m.group(2), m.group(3))
        for line in re.findall(r"#[^\n]*", source):
            cases |= {(b, n) for b, n in re.findall(r"TC_([A-Z])_(\d{2})_CS", line)}
    return cases


def test_the_readers_of_the_table_read_it_as_written() -> None:
    row = "| E: TC_E_01 (PowerPathClosed, 13), 04, 05; 14-17 (stop points); TC_C_21, 22 | `x.py` |"
    assert claimed(row) == {("E", "01"), ("E", "04"), ("E", "05"), ("E", "14"), ("E", "15"), ("E", "16"),
                            ("E", "17"), ("C", "21"), ("C", "22")}
    assert excused("(TC_B_43_CS, TC_B_45-47_CS)") == {("B", "43"), ("B", "45"), ("B", "46"), ("B", "47")}
    assert ("B", "33") in named_by_tests()  # test_tc_b_06_cs_and_b_32_to_b_34_get_variables


def test_every_official_case_is_covered_or_excused() -> None:
    missing = official_cases() - claimed(COVERAGE) - excused(NOT_COVERED)
    assert not missing, f"cases docs/ocpp201.md neither covers nor excuses: {sorted(missing)}"


def test_every_case_the_table_claims_is_named_by_a_test() -> None:
    unnamed = (claimed(COVERAGE) & official_cases()) - named_by_tests()
    assert not unnamed, f"the table claims cases no test names: {sorted(unnamed)}"


def test_no_case_is_both_covered_and_excused() -> None:
    both = claimed(COVERAGE) & excused(NOT_COVERED) & official_cases()
    assert not both, f"covered and excused at once: {sorted(both)}"
