"""NotifyCustomerInformation pages: the report's lines cut into messages whose ``data``
fits the schema's 512 characters, numbered from 0, ``tbc`` on all but the last."""

from __future__ import annotations

from agent.ocpp201.customer_handlers import DATA_MAX, notify_pages

STAMP = "2026-01-01T10:00:00.000Z"


def test_a_short_report_is_one_message() -> None:
    (page,) = notify_pages(["idToken 04AABBCC (ISO14443):", "no data found"], 7, STAMP)
    assert page == {"data": "idToken 04AABBCC (ISO14443):\nno data found", "tbc": False, "seq_no": 0,
                    "generated_at": STAMP, "request_id": 7}


def test_a_long_report_is_cut_at_lines_into_messages_of_at_most_512_characters() -> None:
    lines = [f"transaction {n:04d} " + "x" * 90 for n in range(40)]
    pages = notify_pages(lines, 3, STAMP)
    assert len(pages) > 1
    assert all(len(p["data"]) <= DATA_MAX for p in pages)
    assert [p["seq_no"] for p in pages] == list(range(len(pages)))
    assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert "\n".join(p["data"] for p in pages).split("\n") == lines  # nothing lost, no line split


def test_a_line_longer_than_a_message_is_split() -> None:
    pages = notify_pages(["y" * 1200], 1, STAMP)
    assert [len(p["data"]) for p in pages] == [512, 512, 176]
    assert "".join(p["data"] for p in pages) == "y" * 1200
