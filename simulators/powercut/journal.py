"""The journal after a cut: does it open cleanly, and which rows did the cut take?

Read from copies (opening a WAL database may checkpoint it, and the agent must find
the image exactly as the cut left it): the rebuilt image, and the files as the agent
saw them when it died (the page cache), so that the rows the cut took can be named.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DB_NAME = "ladda.sqlite3"


@dataclass
class JournalCheck:
    """One cut's journal: integrity, and outbox rows the cut lost (by kind)."""

    integrity: str = "ok"
    rows_lost: dict[str, int] = field(default_factory=dict)  # journaled but gone after the cut
    acks_lost: dict[str, int] = field(default_factory=dict)  # acknowledged, the note of it gone
    lost_sample_times: list[str] = field(default_factory=list)  # timestamps of meter samples lost


def copy_db(files: dict[str, bytes] | Path, into: Path) -> Path:
    """The database (and its WAL, not its -shm) copied into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal"):
        name = DB_NAME + suffix
        if isinstance(files, Path):
            if (files / name).exists():
                shutil.copyfile(files / name, into / name)
        elif name in files:
            (into / name).write_bytes(files[name])
    return into / DB_NAME


def _outbox(path: Path) -> dict[int, tuple[str, str | None, str]]:
    if not path.exists():
        return {}
    conn = sqlite3.connect(path)
    try:
        return {seq: (kind, done, body) for seq, kind, done, body
                in conn.execute("SELECT seq, kind, done_at, body FROM outbox")}
    except sqlite3.OperationalError:  # no outbox table yet: a database cut while it was made
        return {}
    finally:
        conn.close()


def check_journal(state_dir: Path, seen: dict[str, bytes]) -> JournalCheck:
    """Check the rebuilt journal in ``state_dir`` against ``seen`` (the files as the agent
    saw them at the cut)."""
    result = JournalCheck()
    with tempfile.TemporaryDirectory(prefix="ladda-cut-") as tmp:
        after_path = copy_db(state_dir, Path(tmp) / "after")
        before_path = copy_db(seen, Path(tmp) / "before")
        if after_path.exists():
            conn = sqlite3.connect(after_path)
            try:
                result.integrity = "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
            except sqlite3.DatabaseError as exc:
                result.integrity = f"cannot open: {exc}"
            finally:
                conn.close()
        if result.integrity != "ok":
            return result
        before, after = _outbox(before_path), _outbox(after_path)
        for seq, (kind, done, body) in before.items():
            if seq not in after:
                result.rows_lost[kind] = result.rows_lost.get(kind, 0) + 1
                if kind == "meter_sample":
                    result.lost_sample_times.append(json.loads(body).get("timestamp", ""))
            elif done is not None and after[seq][1] is None:
                result.acks_lost[kind] = result.acks_lost.get(kind, 0) + 1
    return result
