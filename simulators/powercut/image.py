"""Rebuilding a directory as a power cut would leave it, from a snapshot and a trace.

The model (docs/reliability.md, "The power-cut campaign"):

- a file's *data* is durable up to its last fsync/fdatasync: in the worst case
  (:data:`LOSE`) every write and truncation after it is lost; in the kinder case
  (:data:`PREFIX`) the disk wrote some of them, in the order they were made (a random
  prefix per file; files are independent, as a disk may reorder between them);
- ``sync_file_range`` makes nothing durable (it flushes no metadata and no disk cache);
  ``syncfs``/``sync`` make every file durable;
- *directory entries* (create, rename, unlink) are durable at once: kinder than a real
  file system, which may lose a rename that no directory fsync followed;
- a WAL's ``-shm`` index is dropped: it is shared memory that no cut leaves consistent,
  and SQLite rebuilds it from the WAL.
"""

from __future__ import annotations

import os
import random
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .trace import Op

LOSE = "lose"
PREFIX = "prefix"
MODES = (LOSE, PREFIX)
DROPPED_SUFFIXES = ("-shm",)


@dataclass
class Inode:
    """One file: what the process sees (``data``) and what the disk holds (``durable``)."""

    data: bytearray
    durable: bytes
    pending: list[tuple[str, int, bytes]] = field(default_factory=list)  # since the last sync, in order

    def write(self, offset: int, chunk: bytes) -> None:
        if offset > len(self.data):
            self.data.extend(b"\0" * (offset - len(self.data)))
        self.data[offset:offset + len(chunk)] = chunk
        self.pending.append(("write", offset, chunk))

    def truncate(self, length: int) -> None:
        if length < len(self.data):
            del self.data[length:]
        else:
            self.data.extend(b"\0" * (length - len(self.data)))
        self.pending.append(("truncate", length, b""))

    def sync(self) -> None:
        self.durable = bytes(self.data)
        self.pending.clear()

    def after_cut(self, landed: int) -> bytes:
        """The durable data with the first ``landed`` unsynced operations applied."""
        image = Inode(bytearray(self.durable), self.durable)
        for kind, value, chunk in self.pending[:landed]:
            if kind == "write":
                image.write(value, chunk)
            else:
                image.truncate(value)
        return bytes(image.data)


@dataclass
class CutReport:
    """What one cut did to the directory."""

    files: int = 0
    unsynced_ops: int = 0  # writes and truncations not made durable at the cut
    unsynced_bytes: int = 0
    ops_lost: int = 0  # of those, how many the cut took
    dropped: list[str] = field(default_factory=list)  # -shm files removed
    per_file_lost: dict[str, int] = field(default_factory=dict)


class FileSystemModel:
    """Replays a trace over a snapshot of one directory."""

    def __init__(self, root: Path, snapshot: dict[str, bytes]) -> None:
        self.root = Path(os.path.realpath(root))
        self.names: dict[str, Inode] = {name: Inode(bytearray(data), data) for name, data in snapshot.items()}
        self.fds: dict[tuple[int, int], Inode] = {}

    def rel(self, path: str) -> str | None:
        """``path`` relative to the root, or None outside it."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return None

    def apply(self, op: Op) -> None:
        key = (op.pid, op.fd)
        if op.op == "open":
            name = self.rel(op.path)
            if name is None:
                return
            inode = self.names.get(name)
            if inode is None:
                inode = self.names[name] = Inode(bytearray(), b"")
            if op.a & os.O_TRUNC:
                inode.truncate(0)
            self.fds[key] = inode
        elif op.op == "write" and key in self.fds:
            self.fds[key].write(op.a, op.data)
        elif op.op == "ftruncate" and key in self.fds:
            self.fds[key].truncate(op.a)
        elif op.op in ("fsync", "fdatasync") and key in self.fds:
            self.fds[key].sync()
        elif op.op in ("syncfs", "sync"):
            for inode in self.names.values():
                inode.sync()
        elif op.op == "close":
            self.fds.pop(key, None)
        elif op.op == "truncate":
            name = self.rel(op.path)
            if name in self.names:
                self.names[name].truncate(op.a)
        elif op.op == "rename":
            old, new = self.rel(op.path), self.rel(op.new_path)
            inode = self.names.pop(old, None) if old is not None else None
            if new is not None and inode is not None:
                self.names[new] = inode
        elif op.op == "unlink":
            name = self.rel(op.path)
            if name is not None:
                self.names.pop(name, None)
        # sync_file_range: nothing becomes durable

    def cut(self, mode: str = LOSE, rng: random.Random | None = None) -> tuple[dict[str, bytes], CutReport]:
        """The directory's files after a cut now, and what it cost."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        rng = rng or random.Random(0)
        report = CutReport()
        image: dict[str, bytes] = {}
        for name, inode in sorted(self.names.items()):
            if name.endswith(DROPPED_SUFFIXES):
                report.dropped.append(name)
                continue
            landed = rng.randint(0, len(inode.pending)) if mode == PREFIX else 0
            image[name] = inode.after_cut(landed)
            report.files += 1
            report.unsynced_ops += len(inode.pending)
            report.unsynced_bytes += sum(len(chunk) for _, _, chunk in inode.pending)
            lost = len(inode.pending) - landed
            report.ops_lost += lost
            if lost:
                report.per_file_lost[name] = lost
        return image, report


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (sockets and other special files are not data)."""
    files: dict[str, bytes] = {}
    for path in sorted(Path(root).rglob("*")):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISREG(mode):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def write_image(root: Path, image: dict[str, bytes]) -> None:
    """Make ``root``'s regular files exactly ``image`` (special files and directories stay)."""
    for name in snapshot(root).keys() - image.keys():
        (root / name).unlink()
    for name, data in image.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)


def rebuild(root: Path, before: dict[str, bytes], ops: list[Op], mode: str = LOSE,
            rng: random.Random | None = None) -> CutReport:
    """Rewrite ``root`` as a power cut now would leave it, given the snapshot taken
    ``before`` the process started and the trace of what it did since."""
    model = FileSystemModel(root, before)
    for op in ops:
        model.apply(op)
    image, report = model.cut(mode, rng)
    write_image(root, image)
    return report
