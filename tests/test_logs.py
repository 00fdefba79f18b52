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


@pytest.fixture
def reset_logging():
    yield
    structlog.reset_defaults()
    for handler in logging.getLogger().handlers:
        handler.close()
    logging.getLogger().handlers.clear()


def test_log_file_keeps_json_lines_whatever_the_console_shows(tmp_path, capsys, reset_logging):
    path = logs.log_path(tmp_path / "state")
    logs.configure("info", "console", secrets=["s3cretKey0123456"], file=path, file_bytes=2**20)
    structlog.get_logger("test").info("connecting", url="ws://cp:s3cretKey0123456@host", password="pw")
    logging.getLogger("ladda.other").warning("stdlib warning")
    assert "connecting" in capsys.readouterr().err  # the console still gets its readable lines
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["connecting", "stdlib warning"]
    assert lines[0]["url"] == "ws://cp:****@host" and lines[0]["password"] == "****"
    assert all(line["timestamp"].endswith("Z") for line in lines)
    assert logs.kept_log_files(tmp_path / "state") == [path]


def test_log_file_rotates_within_its_total(tmp_path, reset_logging):
    state = tmp_path / "state"
    logs.configure("info", "json", file=logs.log_path(state), file_bytes=8000)
    log = structlog.get_logger("test")
    for n in range(400):
        log.info("sample", n=n)
    files = logs.kept_log_files(state)
    assert [f.name for f in files] == ["ladda.log.3", "ladda.log.2", "ladda.log.1", "ladda.log"]
    assert sum(f.stat().st_size for f in files) <= 8000
    numbers = [json.loads(line)["n"] for f in files for line in f.read_text().splitlines()]
    assert numbers == list(range(numbers[0], 400))  # oldest first, the newest kept, none lost between
    assert numbers[0] > 0


def test_no_log_file_when_zero_or_unwritable(tmp_path, capsys, reset_logging):
    logs.configure("info", "json", file=logs.log_path(tmp_path / "a"), file_bytes=0)
    structlog.get_logger("test").info("hello")
    assert not (tmp_path / "a").exists()
    blocker = tmp_path / "b"
    blocker.write_text("a file where the state directory should be")
    logs.configure("info", "json", file=logs.log_path(blocker), file_bytes=2**20)
    structlog.get_logger("test").info("still logging")
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-2]["event"] == "cannot keep a log file; logging to the console only"
    assert events[-2]["problem"] == f"{logs.log_path(blocker)}: Not a directory"
    assert events[-1]["event"] == "still logging"
