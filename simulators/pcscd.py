"""The PC/SC daemon (pcscd) with vsmartcard-vpcd's virtual reader, for tests and the bench.

A charger's card reader is reached through pcscd, so the simulated charger runs the
real one: :class:`PcscDaemon` uses a pcscd already answering on its socket, or starts
one (``pcscd --foreground --apdu``, as a child process; pcscd needs root to create
``/run/pcscd``) with a reader configuration of its own holding the vpcd reader. No
systemd is needed (no socket activation).

Reader unplugged / plugged back
-------------------------------
A USB reader that is pulled out disappears from pcscd's reader list while pcscd keeps
running. vpcd cannot do that by itself, and pcscd cannot be made to:

* vpcd's reader never fails: a card absent is just "no client connected to the socket",
  so closing or killing the card's connection only removes the card.
* pcscd 1.9.9 as built by Debian (libudev hotplug) rescans only USB on ``pcscd --hotplug``:
  readers from ``reader.conf.d`` are loaded once at start and never added or removed at
  run time (checked: with vpcd's port taken at start the reader is missing, and freeing
  the port then ``pcscd --hotplug`` does not bring it).

So the most faithful way is to restart pcscd with a reader configuration without the
vpcd reader (:meth:`PcscDaemon.unplug_reader`), and with it again to plug it back
(:meth:`PcscDaemon.plug_reader`). A PC/SC client sees a short service interruption
(its context becomes invalid: ``SCARD_E_NO_SERVICE``), then a pcscd with no reader
(``SCARD_E_NO_READERS_AVAILABLE``, the state after a real unplug), then the reader
again. A plain :meth:`PcscDaemon.restart` keeps the reader, as a crashed or restarted
pcscd service does.

The methods block for at most ``timeout`` seconds (pcscd starts in well under one);
asyncio programs call them through ``asyncio.to_thread`` so the event loop, and the
virtual cards it serves, keep running.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from smartcard import scard

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_READER = "Virtual PCD"  # pcscd lists its slots as "Virtual PCD 00 00", "Virtual PCD 00 01"
VPCD_PORT = 35963  # slot 0; slot 1 listens on the next port
#: Starts of pcscd when vpcd's port is taken, and the pause between them (s): up to about
#: 75 s, longer than a TCP TIME_WAIT (60 s) a pcscd stopped under a connected card leaves.
START_ATTEMPTS = 25
PORT_RETRY_S = 3.0

INSTALL_HINT = "install them with `apt-get install pcscd vsmartcard-vpcd` (or `make deps`)"


class PcscdError(Exception):
    """pcscd cannot be started or controlled here; the message says what to do."""


def pcscd_answers(path: Path = PCSCD_SOCKET) -> bool:
    """True when a pcscd accepts connections on its socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def list_readers() -> list[str] | None:
    """The readers pcscd lists now, or None when no pcscd answers."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return None
    try:
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            return None
        return list(readers)
    finally:
        scard.SCardReleaseContext(context)


class PcscDaemon:
    """A pcscd with the vpcd reader: the one running, or a child process of ours.

    Only a pcscd started here can be restarted, or have its reader unplugged: a pcscd
    started by someone else (a system service) is used as it is.
    """

    def __init__(self, *, vpcd_port: int = VPCD_PORT, timeout: float = 5.0, workdir: Path | None = None) -> None:
        self.vpcd_port = vpcd_port
        self.timeout = timeout
        self._workdir = workdir
        self._own_workdir = workdir is None
        self._proc: subprocess.Popen[bytes] | None = None
        self.reader_plugged = True

    @property
    def owned(self) -> bool:
        """True when the running pcscd is our child process."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        """pcscd's own output (with APDUs), for a test that needs to know why."""
        return self._dir() / "pcscd.log"

    def ensure(self) -> None:
        """Make sure a pcscd with the vpcd reader answers, starting one if none runs
        (ours stays as it is: without the reader after :meth:`unplug_reader`)."""
        if self.owned:
            self._wait_ready(self._proc)
            return
        if pcscd_answers():
            if self._wait_for(lambda: _has_vpcd(list_readers())):
                return
            raise PcscdError(
                f"a pcscd not started here is running without the {VPCD_READER!r} reader "
                f"(readers: {list_readers()}); install vsmartcard-vpcd and restart it, "
                "or stop it and let the tests start their own"
            )
        self._start()

    def restart(self) -> None:
        """Stop pcscd and start it again, as a crashed or restarted service does."""
        self._require_owned("restart")
        self.stop()
        self._start()

    def unplug_reader(self) -> None:
        """Make the vpcd reader disappear (pcscd restarts without it, see module doc)."""
        self._require_owned("unplug the reader of")
        self.stop()
        self.reader_plugged = False
        self._start()

    def plug_reader(self) -> None:
        """Bring the vpcd reader back (pcscd restarts with it)."""
        self._require_owned("plug the reader into")
        self.stop()
        self.reader_plugged = True
        self._start()

    def stop(self) -> None:
        """Stop our pcscd (SIGTERM, then SIGKILL after ``timeout``); idempotent."""
        if not self.owned and pcscd_answers():
            self._require_owned("stop")
        self._stop_child()

    def _stop_child(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(self.timeout)

    def close(self) -> None:
        """Stop our pcscd (a pcscd not started here is left running) and remove our working directory."""
        self._stop_child()
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> PcscDaemon:
        self.ensure()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start(self) -> None:
        problem = _cannot_start()
        if problem is not None:
            raise PcscdError(problem)
        pcscd = _pcscd_binary()
        assert pcscd is not None
        if pcscd_answers():
            raise PcscdError(f"another pcscd is already answering on {PCSCD_SOCKET}; stop it first")
        _reserve_port(self.vpcd_port)
        for attempt in range(1, START_ATTEMPTS + 1):
            config = self._write_config()
            log = open(self.log_path, "ab")
            try:
                self._proc = subprocess.Popen(
                    [pcscd, "--foreground", "--apdu", "--config", str(config)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
            finally:
                log.close()
            try:
                self._wait_ready(self._proc)
                return
            except PcscdError as exc:
                # vpcd's port is taken: by the TIME_WAIT of a pcscd stopped while a card was
                # connected (vpcd binds without SO_REUSEADDR), or, as it lies in the kernel's
                # ephemeral range, by a busy machine's outgoing connection. Both pass: try again.
                if "Address already in use" not in str(exc) or attempt == START_ATTEMPTS:
                    raise
                self.stop()
                time.sleep(PORT_RETRY_S)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        def ready() -> bool:
            if proc.poll() is not None:
                raise PcscdError(f"pcscd exited with status {proc.returncode}: {self._log_tail()}")
            readers = list_readers()
            return readers is not None and _has_vpcd(readers) == self.reader_plugged

        if not self._wait_for(ready):
            state = "with" if self.reader_plugged else "without"
            raise PcscdError(
                f"pcscd did not come up {state} the vpcd reader within {self.timeout} s: {self._log_tail()}"
            )

    def _wait_for(self, condition: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + self.timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _write_config(self) -> Path:
        """A reader.conf.d of our own: empty while the reader is unplugged."""
        config = self._dir() / "reader.conf.d"
        shutil.rmtree(config, ignore_errors=True)
        config.mkdir()
        if self.reader_plugged:
            (config / "vpcd").write_text(
                f'FRIENDLYNAME "{VPCD_READER}"\n'
                f"DEVICENAME   /dev/null:0x{self.vpcd_port:X}\n"
                f"LIBPATH      {VPCD_DRIVER}\n"
                f"CHANNELID    0x{self.vpcd_port:X}\n"
            )
        return config

    def _dir(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="ladda-pcscd-"))
        return self._workdir

    def _require_owned(self, action: str) -> None:
        if not self.owned:
            raise PcscdError(
                f"cannot {action} a pcscd not started here; stop the running pcscd "
                "(e.g. `systemctl stop pcscd.socket pcscd`) so that one can be started as a child process"
            )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no pcscd log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(pcscd printed nothing)"


def unavailable_reason() -> str | None:
    """Why :meth:`PcscDaemon.ensure` would fail here (None: it would not), without
    starting anything: for a program that can do without a PC/SC reader to say why."""
    if pcscd_answers():
        readers = list_readers()
        return None if _has_vpcd(readers) else f"the running pcscd has no {VPCD_READER!r} reader (readers: {readers})"
    return _cannot_start()


def _pcscd_binary() -> str | None:
    return shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)


def _cannot_start() -> str | None:
    if _pcscd_binary() is None:
        return f"pcscd is not installed: {INSTALL_HINT}"
    if not VPCD_DRIVER.exists():
        return f"the vpcd virtual reader driver {VPCD_DRIVER} is missing: {INSTALL_HINT}"
    if os.geteuid() != 0:
        return ("no pcscd is running and only root can start one (it creates /run/pcscd): "
                "run as root, or start `sudo pcscd --foreground` with vsmartcard-vpcd installed")
    return None


def _has_vpcd(readers: list[str] | None) -> bool:
    return bool(readers) and any(name.startswith(VPCD_READER) for name in readers or [])


def _reserve_port(port: int) -> None:
    """Keep the kernel from handing vpcd's ports (slot 0 and 1) to outgoing connections,
    when allowed to (root, as in CI): they lie in the ephemeral range. Best effort: an
    ordinary user's bench relies on the retries in PcscDaemon._start."""
    path = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
    try:
        current = path.read_text().strip()
        wanted = f"{port}-{port + 1}"
        if wanted not in current.split(","):
            path.write_text(f"{current},{wanted}" if current else wanted)
    except OSError:
        pass
