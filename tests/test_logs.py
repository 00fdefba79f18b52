"""Log output: JSON lines under systemd, readable on a terminal, secrets never."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from agent import logs


@pytest.mark.parametrize(
    ("fmt", "environ", "expected"),
    [
        ("auto", {"JOURNAL_STREAM": "8:12345"}, "json"),
        ("auto", {}, "console"),
        ("json", {}, "json"),
        ("console", {"JOURNAL_STREAM": "8:12345"}, "console"),
    ],
)
def test_format_follows_systemd(fmt, environ, expected):
    assert logs.choose_format(fmt, environ) == expected


def test_json_lines_with_secrets_masked_and_ocpp_frames_quiet(capsys):
    logs.configure("info", "json", secrets=["s3cretKey0123456"])
    try:
        structlog.get_logger("test").info("connecting", url="ws://cp:s3cretKey0123456@host", authorization_key="x" * 16)
        logging.getLogger("ocpp").info("CP-1: send [2,\"1\",\"Authorize\",{\"idTag\":\"04A1B2C3\"}]")
        logging.getLogger("ladda.other").warning("stdlib warning with s3cretKey0123456 inside")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["connecting", "stdlib warning with **** inside"]
    assert lines[0]["url"] == "ws://cp:****@host" and lines[0]["authorization_key"] == "****"
    assert all("level" in line and "timestamp" in line for line in lines)
