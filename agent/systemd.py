"""Talking to systemd: readiness, the watchdog and a one-line status (sd_notify).

The notify protocol is one datagram per message to the Unix socket named by
``$NOTIFY_SOCKET`` (a leading ``@`` names an abstract socket), each a few
``KEY=value`` lines; no library is needed for that. Outside systemd there is no
socket and every call does nothing, so the agent runs the same from a terminal.

What the agent says, and when (systemd/ladda.service has Type=notify, WatchdogSec):

* while it waits for its hardware: ``STATUS=`` naming what is missing, with
  ``EXTEND_TIMEOUT_USEC`` so that a start which keeps retrying is not killed as hung,
  and ``WATCHDOG=1`` since it is alive and keeps the outputs safe;
* ``READY=1`` once the hardware is open and the charger runs, never waiting for the
  backend (a charger offline must still charge);
* ``WATCHDOG=1`` every half watchdog interval, but only after the charger's control
  loop proved it still turns (:meth:`ChargerRuntime.healthy`): a loop stuck on a device
  or the disk stops the pings and systemd restarts the service; the dying process's
  GPIO lines are released, so the contactor opens;
* ``STATUS=`` with the connectors, the link and the messages queued, when it changes;
* ``STOPPING=1`` on the way out.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

import structlog

log = structlog.get_logger(__name__)

#: How often the status line is refreshed when there is no watchdog to pace it.
STATUS_EVERY_S = 5.0


class Notifier:
    """Sends notify messages to systemd, or nothing when not run by it.

    ``environ`` is read once (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``, ``WATCHDOG_PID``);
    pass a mapping to test. Sending never raises: a service manager that went away
    must not stop a charger, so a failure is logged once.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if path.startswith("@"):
            self.address = "\0" + path[1:]
        elif path.startswith("/"):
            self.address = path
        self.watchdog_s = _watchdog_interval(env)
        self._failing = False
        self._last_status: str | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """One datagram of ``KEY=value`` lines; True when it was handed to the socket."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(lines).encode())
        except OSError as exc:
            if not self._failing:
                log.warning("cannot notify systemd", socket=self.address.replace("\0", "@"), error=str(exc))
                self._failing = True
            return False
        if self._failing:
            log.info("notifying systemd again")
            self._failing = False
        return True

    def status(self, text: str) -> None:
        """The one-line status ``systemctl status`` shows; sent only when it changed."""
        line = " ".join(text.split())
        if line != self._last_status and self.send(f"STATUS={line}"):
            self._last_status = line

    def waiting(self, why: str, retry_s: float) -> None:
        """Still starting (hardware not ready): extend the start timeout past the next
        retry, and pet the watchdog, since the process is alive and its outputs safe."""
        extend_us = int(retry_s * 3 * 1_000_000)
        self.send(f"STATUS=waiting for hardware: {' '.join(why.split())}", f"EXTEND_TIMEOUT_USEC={extend_us}",
                  *(["WATCHDOG=1"] if self.watchdog_s else []))
        self._last_status = None

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")
        self._last_status = status

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping: contactors open, journal closing")


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """The watchdog interval in seconds, when it is meant for this process."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None  # meant for another process (a parent that ran us)
    return int(usec) / 1_000_000


async def supervise(notifier: Notifier, healthy: Callable[[float], Awaitable[bool]],
                    status: Callable[[], Awaitable[str]]) -> None:
    """Pet the watchdog while ``healthy(timeout)`` says the control loop turns, and keep
    the status line current. Runs until cancelled.

    The two run as separate tasks of one group: the status line asks the database, which
    on a slow SD card may take long and on a failing disk raises; neither may delay a
    ping, nor end the agent (a storage fault is the charger's to report, as its
    StorageFailure status, while it keeps running)."""
    period = notifier.watchdog_s / 2 if notifier.watchdog_s else STATUS_EVERY_S
    async with asyncio.TaskGroup() as tg:
        if notifier.watchdog_s:
            tg.create_task(_pet_watchdog(notifier, healthy, notifier.watchdog_s), name="watchdog-pings")
        tg.create_task(_refresh_status(notifier, status, period), name="status-line")


async def _pet_watchdog(notifier: Notifier, healthy: Callable[[float], Awaitable[bool]], interval: float) -> None:
    """A health check every half ``interval``, on a fixed schedule, and a ping after each
    one that passed. The check answers within a quarter interval, so two pings are never
    more than three quarters of the interval apart."""
    loop = asyncio.get_running_loop()
    period = interval / 2
    stuck = False
    due = loop.time()
    while True:
        if await healthy(interval / 4):
            notifier.watchdog()
            if stuck:
                log.warning("control loop turning again; watchdog pings resumed")
            stuck = False
        elif not stuck:
            log.error("control loop stuck; watchdog pings withheld (systemd will restart the service)")
            stuck = True
        due += period
        if due < loop.time():  # the check overran its schedule: the next one starts now
            due = loop.time()
        await asyncio.sleep(due - loop.time())


async def _refresh_status(notifier: Notifier, status: Callable[[], Awaitable[str]], period: float) -> None:
    """Refresh the status line every ``period``. It is information only: a query that
    does not answer within the period or fails leaves the line as it was, logged once
    when it starts failing and once when it works again."""
    failing = False
    while True:
        try:
            # (asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the
            # cancellation that ends the agent when it coincides with the answer)
            async with asyncio.timeout(period):
                line = await status()
        except Exception as exc:  # noqa: BLE001 - a status line must never end the agent
            if not failing:
                timed_out = isinstance(exc, TimeoutError)
                log.warning("status line not refreshed; shown as it was",
                            error=f"no answer within {period:g} s" if timed_out else f"{type(exc).__name__}: {exc}")
                failing = True
        else:
            notifier.status(line)
            if failing:
                log.info("status line refreshed again")
                failing = False
        await asyncio.sleep(period)
