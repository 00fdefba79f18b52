"""Acknowledgements of held meter samples, noted in memory that outlives the process.

The backend's answer to a MeterValues must survive a crash of the agent (else the
restarted agent sends again what was answered), but need not survive a power cut (a
MeterValues sent twice after one is no loss; agent.journal documents it). Written to the
side file on the SD card, each answer dirties a page that was just made clean by the
sample's fdatasync, which is most of what a charger sampling once a minute writes. So
the journal notes each answer here first, on a tmpfs, and carries it into the side file
only with the next line it writes there anyway.

The tmpfs is ``$RUNTIME_DIRECTORY`` (``/run/ladda``: the systemd unit keeps it across
restarts until the next boot); outside systemd, ``/dev/shm``. Under systemd without a
runtime directory there is none: the unit's ``RemoveIPC=yes`` empties the service
user's files in ``/dev/shm`` at every stop, a crash's included, so the answers go to the
side file as they come. A notes file that is a symbolic link or belongs to another user
is not used (``/dev/shm`` is shared by every user of the machine).

A note names the sample by its sequence number and the instant it was taken, so a note
left by an earlier journal at the same path (a state directory wiped without a reboot)
can never settle another sample.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_SHARED_TMPFS = Path("/dev/shm")


def runtime_dir() -> Path | None:
    """Where notes that outlive the process but not a reboot go; None: nowhere suitable."""
    configured = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if configured:
        return _usable(Path(configured))
    if os.environ.get("INVOCATION_ID"):
        return None  # a systemd service without RuntimeDirectory=: see the module
    return _usable(_SHARED_TMPFS)


def _usable(directory: Path) -> Path | None:
    return directory if directory.is_dir() and os.access(directory, os.W_OK | os.X_OK) else None


def notes_path(database: Path, directory: Path | None) -> Path | None:
    """The notes file of the journal at ``database``: one per database, by its full path."""
    if directory is None:
        return None
    key = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    return directory / f"ladda-{key}.acks"


def read_notes(path: Path) -> list[dict[str, Any]]:
    """The notes an earlier run left (lines that do not parse are skipped; a file that is
    not this user's own regular file is not read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        if not _own_file(fd, path):
            return []
        with os.fdopen(fd, "rb", closefd=False) as file:
            raw = file.read()
    except OSError:
        return []
    finally:
        os.close(fd)
    notes = []
    for line in raw.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            notes.append(item)
    return notes


def remove_notes(path: Path) -> None:
    """Nothing is held: no note is needed (a file that is not ours is left alone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if _own_file(fd, path):
            path.unlink()
    except OSError:
        pass
    finally:
        os.close(fd)


def _own_file(fd: int, path: Path) -> bool:
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
        return True
    log.warning("acknowledgement notes file not ours; not used", path=str(path))
    return False


class AckNotes:
    """An append-only file of JSON lines. Best effort: a note that could not be written
    whole returns False, and the journal writes the answer to the side file instead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._torn = False  # the file ends in part of a line (a short write)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            log.warning("acknowledgement notes unavailable; they go to the side file", path=str(path),
                        error=str(exc))
            return
        if _own_file(fd, path):
            self._fd = fd
        else:
            os.close(fd)

    def note(self, line: bytes) -> bool:
        if self._fd is None:
            return False
        if self._torn:
            line = b"\n" + line  # end the torn line first, so this one is read whole
        try:
            written = os.write(self._fd, line)
        except OSError:
            return False  # tmpfs full: the caller writes to the side file instead
        if written != len(line):
            self._torn = True
            return False
        self._torn = False
        return True

    def clear(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                self._torn = False
            except OSError as exc:  # what the notes name is in the database now
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
