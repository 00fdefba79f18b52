"""Compiling the recorder shim at run time (it is C so that it sees SQLite's own calls)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("shim.c")


class ShimError(Exception):
    """The shim could not be built (no C compiler or libc headers: ``make deps``)."""


def build_shim(directory: Path | None = None) -> Path:
    """Compile ``shim.c`` into a shared object in ``directory`` (a new temporary
    directory by default) and return its path."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise ShimError("no C compiler (cc): install gcc and libc6-dev (make deps)")
    out_dir = directory or Path(tempfile.mkdtemp(prefix="ladda-powercut-"))
    out = out_dir / "powercut-shim.so"
    proc = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(out), str(SOURCE), "-ldl", "-lpthread"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ShimError(f"building {SOURCE.name} failed:\n{proc.stderr}")
    return out


def shim_env(shim: Path, directory: Path, log: Path) -> dict[str, str]:
    """The environment that makes a process record its writes under ``directory``."""
    return {"LD_PRELOAD": str(shim), "LADDA_POWERCUT_DIR": str(directory), "LADDA_POWERCUT_LOG": str(log)}
