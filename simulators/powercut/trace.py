"""Reading the shim's log: one record per file operation, in the order they happened."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEADER = struct.Struct("<IBxxxiiqqI")
OPS = {1: "open", 2: "write", 3: "ftruncate", 4: "truncate", 5: "fsync", 6: "fdatasync", 7: "sync_file_range",
       8: "rename", 9: "unlink", 10: "close", 11: "syncfs", 12: "sync"}


@dataclass(frozen=True, slots=True)
class Op:
    """One recorded operation. ``a``: open flags, write offset or truncate length;
    ``path``: absolute (for rename, ``path`` is the old name and ``new_path`` the new)."""

    op: str
    pid: int
    fd: int
    a: int
    b: int
    path: str = ""
    new_path: str = ""
    data: bytes = b""


def read_ops(log: Path) -> Iterator[Op]:
    """The log's records; a record cut short (the process died mid-write) ends it."""
    raw = log.read_bytes() if log.exists() else b""
    pos = 0
    while pos + HEADER.size <= len(raw):
        size, code, pid, fd, a, b, path_len = HEADER.unpack_from(raw, pos)
        if size < HEADER.size + path_len or pos + size > len(raw):
            return
        path = raw[pos + HEADER.size:pos + HEADER.size + path_len]
        data = raw[pos + HEADER.size + path_len:pos + size]
        old, _, new = path.partition(b"\0")
        yield Op(OPS.get(code, f"op{code}"), pid, fd, a, b, old.decode(errors="surrogateescape"),
                 new.decode(errors="surrogateescape"), bytes(data))
        pos += size
