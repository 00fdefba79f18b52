"""The power-cut recorder and image rebuild, on small programs with known sync points.

Each test runs a real child process under the recorder shim (LD_PRELOAD), lets it write
to a directory through the same libc calls the agent and SQLite use, then rebuilds the
directory as a power cut at the end would leave it and reads what survived.
"""

from __future__ import annotations

import random
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simulators.powercut.build import build_shim, shim_env
from simulators.powercut.image import LOSE, PREFIX, FileSystemModel, rebuild, snapshot
from simulators.powercut.trace import read_ops


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_shim(tmp_path_factory.mktemp("shim"))


def run_traced(shim: Path, root: Path, code: str) -> tuple[dict[str, bytes], list]:
    """Run ``code`` in a child under the shim (cwd = root); the snapshot before and the trace."""
    before = snapshot(root)
    log = root.parent / "trace.log"
    log.unlink(missing_ok=True)
    env = {"PATH": "/usr/bin:/bin", **shim_env(shim, root, log)}
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=root, env=env, check=True)
    return before, list(read_ops(log))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


def test_a_synced_write_survives_and_an_unsynced_one_is_lost(shim: Path, root: Path) -> None:
    before, ops = run_traced(shim, root, """
        import os
        fd = os.open("a", os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"kept")
        os.fsync(fd)
        os.write(fd, b"-lost")
        os.close(fd)
    """)
    assert (root / "a").read_bytes() == b"kept-lost"  # the process saw a normal file
    report = rebuild(root, before, ops, LOSE)
    assert (root / "a").read_bytes() == b"kept"
    assert report.ops_lost == 1 and report.unsynced_bytes == 5


def test_fdatasync_and_pwrite_at_an_offset(shim: Path, root: Path) -> None:
    before, ops = run_traced(shim, root, """
        import os
        fd = os.open("b", os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, b"0123456789", 0)
        os.fdatasync(fd)
        os.pwrite(fd, b"AB", 3)
        os.fdatasync(fd)
        os.pwrite(fd, b"ZZ", 8)
    """)
    rebuild(root, before, ops, LOSE)
    assert (root / "b").read_bytes() == b"012AB56789"


def test_a_file_never_synced_is_empty_and_a_rename_of_a_synced_temp_file_is_kept(shim: Path, root: Path) -> None:
    (root / "config").write_bytes(b"old")
    before, ops = run_traced(shim, root, """
        import os
        with open("config.tmp", "wb") as f:
            f.write(b"new")
            f.flush()
            os.fsync(f.fileno())
        os.replace("config.tmp", "config")
        with open("careless.tmp", "wb") as f:
            f.write(b"never synced")
        os.rename("careless.tmp", "careless")
    """)
    rebuild(root, before, ops, LOSE)
    assert (root / "config").read_bytes() == b"new"
    assert not (root / "config.tmp").exists()
    assert (root / "careless").read_bytes() == b""  # the name is durable at once, its data is not


def test_truncation_is_data_too_and_unlink_is_durable_at_once(shim: Path, root: Path) -> None:
    (root / "t").write_bytes(b"abcdef")
    (root / "u").write_bytes(b"gone")
    (root / "v").write_bytes(b"123456")
    before, ops = run_traced(shim, root, """
        import os
        fd = os.open("t", os.O_RDWR)
        os.ftruncate(fd, 2)
        os.close(fd)
        fd = os.open("v", os.O_RDWR)
        os.ftruncate(fd, 3)
        os.fsync(fd)
        os.close(fd)
        os.truncate("v", 1)
        os.unlink("u")
        with open("w", "wb") as f:  # O_TRUNC of a new file, never synced
            f.write(b"x")
    """)
    rebuild(root, before, ops, LOSE)
    assert (root / "t").read_bytes() == b"abcdef"
    assert (root / "v").read_bytes() == b"123"
    assert not (root / "u").exists()
    assert (root / "w").read_bytes() == b""


def test_in_the_kinder_model_some_unsynced_writes_land_in_order(shim: Path, root: Path) -> None:
    before, ops = run_traced(shim, root, """
        import os
        fd = os.open("p", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for i in range(20):
            os.write(fd, b"%02d," % i)
    """)
    seen = set()
    for seed in range(30):
        model = FileSystemModel(root, before)
        for op in ops:
            model.apply(op)
        image, _ = model.cut(PREFIX, random.Random(seed))
        data = image["p"]
        assert b"".join(b"%02d," % i for i in range(len(data) // 3)) == data  # a prefix, never a hole
        seen.add(len(data))
    assert len(seen) > 5


def test_special_files_and_untouched_files_stay(shim: Path, root: Path) -> None:
    (root / "untouched").write_bytes(b"as before")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(root / "bench.sock"))
    try:
        before, ops = run_traced(shim, root, """
            with open("other", "wb") as f:
                f.write(b"x")
        """)
        rebuild(root, before, ops, LOSE)
        assert (root / "untouched").read_bytes() == b"as before"
        assert (root / "bench.sock").is_socket()
    finally:
        listener.close()


SQLITE_CHILD = """
    import sqlite3
    conn = sqlite3.connect("db.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous={sync}")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    for i in range(50):
        conn.execute("INSERT INTO t VALUES (?)", (i,))
    import os
    os._exit(0)  # no close: the WAL and -shm stay, as after a SIGKILL
"""


@pytest.mark.parametrize("mode", [LOSE, PREFIX])
def test_sqlite_commits_with_synchronous_full_survive(shim: Path, root: Path, mode: str) -> None:
    before, ops = run_traced(shim, root, SQLITE_CHILD.format(sync="FULL"))
    assert any(op.op == "fdatasync" for op in ops) and any(op.op == "write" for op in ops)
    report = rebuild(root, before, ops, mode, random.Random(1))
    assert report.dropped == ["db.sqlite3-shm"]
    conn = sqlite3.connect(root / "db.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 50


def test_sqlite_commits_without_sync_are_lost_yet_the_database_opens(shim: Path, root: Path) -> None:
    before, ops = run_traced(shim, root, SQLITE_CHILD.format(sync="OFF"))
    rebuild(root, before, ops, LOSE)
    conn = sqlite3.connect(root / "db.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [] or conn.execute("SELECT count(*) FROM t").fetchone()[0] < 50
