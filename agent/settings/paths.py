"""Whether the state directory can be what the agent makes of it (created, then written),
and whether the bench's socket inside it can be connected to.

A path that cannot work (an existing regular file, a parent that is a file, longer than
the kernel takes) must stop `ladda check-config` and `ladda run` with exit 78 naming the
key, not reach SQLite as "File exists" and exit 1, which systemd restarts for ever.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from agent.settings.rules import PATH_MAX, Invalid, check_path_text

if TYPE_CHECKING:
    from agent.settings.schema import Settings

#: The longest name the agent creates inside the state directory ("logs/ladda.log.3" and
#: SQLite's "ladda.sqlite3-journal"), with its '/'.
_LONGEST_INSIDE = len("/ladda.sqlite3-journal")
_KINDS = {stat.S_IFREG: "a regular file", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket"}


def state_dir_problem(directory: Path, *, writable: bool) -> str | None:
    """Why the agent could not create `directory` (absolute) and keep its files in it; None
    when it can. `writable` also checks permissions, which only mean something when run
    as the service user (`ladda run`), not at `ladda check-config`."""
    text = str(directory)
    try:
        check_path_text(text)
    except Invalid as exc:
        return str(exc)
    if len(os.fsencode(text)) + _LONGEST_INSIDE > PATH_MAX:
        return (f"is too long for the files the agent keeps in it: at most {PATH_MAX - _LONGEST_INSIDE} bytes "
                f"(it has {len(os.fsencode(text))})")
    for place in (directory, *directory.parents):
        try:
            mode = os.stat(place).st_mode
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            continue  # a parent further up is a file: found on the way up
        except PermissionError:
            return f"cannot be reached: permission denied on a parent of {place}" if writable else None
        except OSError as exc:
            return f"cannot be checked: {exc.strerror or exc} ({place})"
        if not stat.S_ISDIR(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a directory")
            if place == directory:
                return f"exists and is {kind}, not a directory; name a directory (it is created if missing)"
            return f"cannot be created: {place} is {kind}, not a directory"
        if writable and not os.access(place, os.W_OK | os.X_OK):
            user = _user()
            if place == directory:
                return f"is not writable by {user}; the agent keeps its database there"
            return f"cannot be created: {place} is not writable by {user}"
        problem = _inside_problem(directory) if place == directory else None
        return problem or (_write_probe(place) if writable else None)
    return None  # pragma: no cover - "/" always exists


def _write_probe(place: Path) -> str | None:
    """Permissions do not tell everything (a read-only mount, a pseudo file system, root's
    bypass of modes): make, and remove, a directory where the agent will write first (the
    state directory, or the nearest parent that exists, where it will be created)."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".ladda-probe-", dir=place))
    except OSError as exc:
        return f"cannot be created or written by {_user()}: {exc.strerror or exc}"
    return None


def _inside_problem(directory: Path) -> str | None:
    """The subdirectory and database the agent makes must not be taken by something else."""
    for name, want_dir in (("logs", True), ("ladda.sqlite3", False)):
        try:
            mode = os.stat(directory / name).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode) != want_dir:
            return f"holds {name}, which is {'not ' if want_dir else ''}a directory; the agent needs it as a " \
                   f"{'directory' if want_dir else 'file'}: move it away"
    return None


def state_dir_origin(cli_value: str | None, environ: Mapping[str, str]) -> str:
    """Where `resolve_state_dir` took the directory from, as the technician would name it."""
    if cli_value:
        return "--state-dir"
    if environ.get("STATE_DIRECTORY", "").split(":")[0]:
        return "$STATE_DIRECTORY"
    return "state.directory"


def _user() -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(os.geteuid()).pw_name}"
    except (ImportError, KeyError):  # pragma: no cover
        return f"uid {os.geteuid()}"


#: sockaddr_un.sun_path holds 108 bytes with the final NUL.
UNIX_SOCKET_MAX = 107


def uses_bench(drivers: Mapping[str, str], pin_factory: str, i2c_transport: str) -> bool:
    """Whether a driver talks to the simulated bench over [sim] socket."""
    return ("sim" in (drivers.get(role) for role in ("meter", "reader", "pilot", "contactor", "lock"))
            or pin_factory == "bench" or i2c_transport == "bench")


def bench_socket_problem(socket: Path, state_dir: Path) -> str | None:
    """Why the simulated bench's socket ([sim] socket, inside `state_dir` when relative) cannot
    be reached; a longer path than a Unix socket address holds fails only at connect()."""
    path = socket if socket.is_absolute() else state_dir / socket
    size = len(os.fsencode(str(path)))
    if size <= UNIX_SOCKET_MAX:
        return None
    return (f"the bench's socket would be {path} ({size} bytes), but a Unix socket path has at most "
            f"{UNIX_SOCKET_MAX}: use a shorter sim.socket or state directory")


def settings_use_bench(settings: Settings) -> bool:
    """`uses_bench` for a loaded configuration."""
    roles = ("meter", "reader", "pilot", "contactor", "lock")
    i2c = {getattr(settings.pilot, "i2c_transport", ""), getattr(settings.display, "i2c_transport", "")}
    return uses_bench({role: getattr(settings, role).driver for role in roles}, settings.gpio.pin_factory,
                      "bench" if "bench" in i2c else "i2c-dev")
