"""Where the journal notes MeterValues answers: a tmpfs that outlives the agent's crashes
(agent.ack_notes), never a file it cannot trust."""

from __future__ import annotations

import os
from pathlib import Path

from agent import ack_notes
from agent.ack_notes import AckNotes, notes_path, read_notes, runtime_dir


def test_the_service_runtime_directory_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNTIME_DIRECTORY", f"{tmp_path}:/elsewhere")
    monkeypatch.setenv("INVOCATION_ID", "0123")
    assert runtime_dir() == tmp_path


def test_a_service_without_a_runtime_directory_notes_nothing_in_dev_shm(monkeypatch):
    """The unit's RemoveIPC=yes empties the user's /dev/shm files at every stop, a crash's
    too: notes there would not outlive the crash they are for."""
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    monkeypatch.setenv("INVOCATION_ID", "0123")
    assert runtime_dir() is None


def test_outside_systemd_the_shared_tmpfs_serves(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    monkeypatch.setattr(ack_notes, "_SHARED_TMPFS", tmp_path)
    assert runtime_dir() == tmp_path
    monkeypatch.setattr(ack_notes, "_SHARED_TMPFS", tmp_path / "missing")
    assert runtime_dir() is None


def test_each_database_has_its_own_notes(tmp_path):
    one, other = notes_path(tmp_path / "a" / "ladda.sqlite3", tmp_path), notes_path(tmp_path / "b" / "ladda.sqlite3", tmp_path)
    assert one != other and one.parent == tmp_path
    assert notes_path(tmp_path / "a" / "ladda.sqlite3", None) is None


def test_a_symbolic_link_planted_as_the_notes_file_is_neither_read_nor_written(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text('{"k":"d","seq":1}\n')
    link = tmp_path / "ladda-0000.acks"
    link.symlink_to(target)
    assert read_notes(link) == []
    notes = AckNotes(link)
    assert notes.note(b'{"k":"d","seq":2}\n') is False  # the journal writes the answer to its side file
    notes.close()
    assert target.read_text() == '{"k":"d","seq":1}\n'


def test_a_notes_file_of_another_user_is_not_trusted(tmp_path, monkeypatch):
    planted = tmp_path / "ladda-0000.acks"
    planted.write_text('{"k":"d","seq":1}\n')
    real_uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real_uid + 1)  # the agent runs as another user than the file's
    assert read_notes(planted) == []
    notes = AckNotes(planted)
    assert notes.note(b'{"k":"d","seq":2}\n') is False
    notes.close()


def test_notes_are_written_whole_and_read_back(tmp_path: Path):
    path = tmp_path / "ladda-0000.acks"
    notes = AckNotes(path)
    assert notes.note(b'{"k":"d","seq":1}\n') and notes.note(b'{"k":"d","seq":2}\n')
    notes.close()
    assert [n["seq"] for n in read_notes(path)] == [1, 2]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
