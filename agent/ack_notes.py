"""Acknowledgements of held meter samples, noted in memory that outlives the process.

The backend's answer to a MeterValues must survive a crash of the agent (else the
restarted agent sends again what was answered), but need not survive a power cut (a
MeterValues sent twice after one is no loss; agent.journal documents it). Written to the
side file on the SD card, each answer dirties a page that was just made clean by the
sample's fdatasync, which is most of what a charger sampling once a minute writes. So
the journal notes each answer here first, on a tmpfs (``$RUNTIME_DIRECTORY``, which the
systemd unit keeps across restarts until the next boot, else ``/dev/shm``), and carries
it into the side file only with the next line it writes there anyway.

A note names the sample by its sequence number and the instant it was taken, so a note
left by an earlier journal at the same path (a state directory wiped without a reboot)
can never settle another sample.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

#: A runtime directory that is not a tmpfs would wear the card like the side file.
_FALLBACK_DIR = Path("/dev/shm")


def runtime_dir() -> Path | None:
    """Where notes that outlive the process but not a reboot go; None: nowhere usable."""
    configured = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    for candidate in ([Path(configured)] if configured else []) + [_FALLBACK_DIR]:
        if candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def notes_path(database: Path, directory: Path | None) -> Path | None:
    """The notes file of the journal at ``database``: one per database, by its full path."""
    if directory is None:
        return None
    key = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    return directory / f"ladda-{key}.acks"


class AckNotes:
    """An append-only file of JSON lines; every method is best effort (False: not noted)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            log.warning("acknowledgement notes unavailable; they go to the side file", path=str(path),
                        error=str(exc))

    def read(self) -> list[dict[str, Any]]:
        """The notes left by an earlier run (lines that do not parse are skipped)."""
        try:
            raw = self.path.read_bytes()
        except OSError:
            return []
        notes = []
        for line in raw.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                notes.append(item)
        return notes

    def note(self, line: bytes) -> bool:
        if self._fd is None:
            return False
        try:
            return os.write(self._fd, line) == len(line)
        except OSError:
            return False  # tmpfs full: the caller writes to the side file instead

    def clear(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError as exc:  # stale notes name samples that are in the database now
                log.warning("acknowledgement notes not emptied", error=str(exc))

    def close(self, remove: bool = False) -> None:
        """``remove``: the journal holds nothing any more, so no note is needed."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove:
            try:
                self.path.unlink()
            except OSError:
                pass
