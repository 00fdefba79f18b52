"""Where a firmware update's files live, shared by the agent and the root installer.

The agent (unprivileged) and the installer (root, ``ladda-update.service``) talk through
files in ``<state>/firmware/``, each written whole and renamed into place:

=========================  ============  ==================================================
file                       written by    meaning
=========================  ============  ==================================================
``job.json``               agent         the job in hand (it outlives restarts)
``bundle.tar.gz``          agent         the downloaded (and, if signed, verified) bundle
``install-request.json``   agent         phase 1: build a release from the bundle
``prepared.json``          installer     the release is built, not switched in yet
``switch-request.json``    agent         phase 2: no transaction runs; switch and restart
``attempt.json``           installer     the version being tried after the restart
``healthy-<version>``      agent         that version is ready and the backend accepted it
``outcome.json``           installer     Installed or InstallationFailed (and why)
=========================  ============  ==================================================

The agent reports ``outcome.json`` to the backend and then removes it. The installer's
answers carry the job's id. What the installer relies on itself (the release it built,
the trial under way with its deadline) it keeps in ``<opt>/prepared.json`` and
``<opt>/attempt.json``: it never trusts a file the service user can write.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUEST = "install-request.json"
PREPARED = "prepared.json"
SWITCH = "switch-request.json"
ATTEMPT = "attempt.json"
OUTCOME = "outcome.json"


@dataclass(frozen=True)
class Layout:
    """``opt``: the releases and the ``current``/``previous`` links (/opt/ladda);
    ``state``: the service's state directory (/var/lib/ladda)."""

    opt: Path
    state: Path

    @property
    def firmware(self) -> Path:
        return self.state / "firmware"

    @property
    def releases(self) -> Path:
        return self.opt / "releases"

    @property
    def current(self) -> Path:
        return self.opt / "current"

    @property
    def previous(self) -> Path:
        return self.opt / "previous"

    def file(self, name: str) -> Path:
        return self.firmware / name

    @property
    def prepared_record(self) -> Path:
        """The installer's record of the release it built (root's, out of the agent's reach)."""
        return self.opt / PREPARED

    def healthy_marker(self, version: str) -> Path:
        return self.firmware / healthy_name(version)


def healthy_name(version: str) -> str:
    """The file a release on trial writes once it is ready and accepted by the backend."""
    return f"healthy-{version}"


def atomic_write(path: Path, data: bytes, mode: int = 0o644, *, temp_prefix: str | None = None,
                 sync_directory: bool = False) -> None:
    """Write ``data`` whole: a reader sees the old file or the new one, never half.

    The partial file is created exclusively under a random name (``temp_prefix`` then
    random, so that a reader of the directory can tell and sweep leftovers), synced, and
    renamed over ``path``, which replaces a link at ``path`` rather than following it.
    ``sync_directory`` also syncs the directory, so the rename itself survives a power
    cut. Shared by the agent (the certificate store, these records) and the root
    installer, which is why it lives here: this module imports nothing but the standard
    library (the installer runs a copy of it with the system's Python).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = (temp_prefix, "") if temp_prefix is not None else (f".{path.name}.", ".partial")
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    if sync_directory:
        sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    """fsync a directory: the entries renamed or removed in it are on disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON, whole (:func:`atomic_write`). (The root installer writes
    into the service user's directory through :class:`agent.firmware.install.Spool` instead.)"""
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode())


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's object, or None if it is absent, a symbolic link, or not a JSON object
    (the root installer must not be made to read another file through a planted link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
