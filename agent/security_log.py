"""The security log: every security event the charger records, kept on the charger.

``<state_dir>/logs/security.log``, JSON lines (``timestamp``, ``type``, ``techInfo``), in
the same timestamp form as ``ladda.log`` so that a log upload's time window reads both,
rotated by size over a few files (``security.log.1`` ... older). OCPP asks for a security
log beside the notifications (2.0.1 A04, the 1.6 whitepaper): it also holds the events
a backend is not told (the non-critical ones, see agent/security_events.py) and is what
GetLog's SecurityLog uploads.

The journal is the event's record that matters (it reaches the backend across restarts
and outages); this file is a copy for people. So writing it can never lose or hold up
the journal's record: the journal commits first, and a write that fails (a full or
read-only disk) is reported once in the main log and otherwise skipped, until a write
works again. Nothing secret is written: the text passes :mod:`agent.redaction`.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

import structlog

from .logs import LOG_DIR
from .redaction import redact_text

log = structlog.get_logger(__name__)

LOG_FILE = "security.log"
#: Rotated files kept besides the current one (the configured total is split over all).
BACKUPS = 3


def security_log_path(state_dir: Path) -> Path:
    return state_dir / LOG_DIR / LOG_FILE


def security_log_files(state_dir: Path) -> list[Path]:
    """The security log files that exist, oldest first (``security.log.3`` ... ``security.log``)."""
    current = security_log_path(state_dir)
    names = [current.with_name(f"{LOG_FILE}.{n}") for n in range(BACKUPS, 0, -1)] + [current]
    return [path for path in names if path.is_file()]


def log_timestamp(moment: datetime | None = None) -> str:
    """The form ladda.log's lines carry (structlog's ISO stamp in UTC, ending in Z)."""
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class SecurityLog:
    """Appends events to the security log; safe to call from any thread, never raises."""

    def __init__(self, state_dir: Path, total_bytes: int) -> None:
        self.path = security_log_path(state_dir)
        #: Each file's size limit: the total over the current file and its BACKUPS.
        self.file_bytes = max(1024, total_bytes // (BACKUPS + 1))
        self._lock = threading.Lock()
        #: The last write failed (it was reported; the next failure is not, a success is).
        self._failing = False

    def append(self, kind: str, tech_info: str, occurred: str | None = None) -> bool:
        """Write one event; False (reported once per run of failures) if it could not be.
        ``occurred``: when the event happened as the journal stamped it (OCPP form)."""
        record = {"timestamp": log_timestamp(), "type": kind, "techInfo": tech_info}
        if occurred is not None:
            record["occurred"] = occurred
        line = redact_text(json.dumps(record, ensure_ascii=False)) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._rotate_if_full(len(line.encode("utf-8")))
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line)
                    out.flush()
            except OSError as exc:
                if not self._failing:
                    log.error("cannot write the security log; the event is still journaled and sent",
                              path=str(self.path), error=exc.strerror or str(exc), type=kind)
                self._failing = True
                return False
            if self._failing:
                log.info("security log writable again", path=str(self.path))
            self._failing = False
            return True

    def _rotate_if_full(self, adding: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + adding <= self.file_bytes:
            return
        oldest = self.path.with_name(f"{LOG_FILE}.{BACKUPS}")
        oldest.unlink(missing_ok=True)
        for n in range(BACKUPS - 1, 0, -1):
            older = self.path.with_name(f"{LOG_FILE}.{n}")
            if older.exists():
                older.rename(self.path.with_name(f"{LOG_FILE}.{n + 1}"))
        self.path.rename(self.path.with_name(f"{LOG_FILE}.1"))
