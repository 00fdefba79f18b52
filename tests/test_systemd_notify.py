"""The agent and systemd: READY=1, the watchdog and the status line, over a real
notify datagram socket standing in for systemd's.

The agent process is the real one (``ladda run``) on the bench; the test binds the
socket systemd would and reads what arrives.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent import systemd
from agent.store import StoreError
from agent.systemd import Notifier, supervise
from simulators.harness import Csms, Stack
from tests.conformance.helpers import messages


class NotifySocket:
    """systemd's end: a datagram socket that keeps each message with its arrival time."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address.replace("@", "\0", 1) if address.startswith("@") else address)
        self.sock.setblocking(False)
        self.received: list[tuple[float, dict[str, str]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def listen(self) -> None:
        """Take each datagram as it arrives (so its time is its arrival), on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self.drain)

    def drain(self) -> list[tuple[float, dict[str, str]]]:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.received
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.received.append((time.monotonic(), fields))

    async def wait(self, key: str, value: str | None = None, timeout: float = 15.0) -> dict[str, str]:
        """The first message (kept or arriving) with ``key`` whose value matches the
        regular expression ``value`` entirely (any value if None)."""
        deadline = time.monotonic() + timeout
        while True:
            for _, fields in self.drain():
                if key in fields and (value is None or re.fullmatch(value, fields[key])):
                    return fields
            assert time.monotonic() < deadline, f"no {key}={value or '*'} from the agent; got {self.received}"
            await asyncio.sleep(0.05)

    async def wait_after(self, key: str, since: float, timeout: float = 10.0) -> float:
        """The arrival time of the first message with ``key`` that came after ``since``."""
        deadline = time.monotonic() + timeout
        while True:
            later = [t for t in self.times(key) if t > since]
            if later:
                return later[0]
            assert time.monotonic() < deadline, f"no {key} from the agent after {since}; got {self.received}"
            await asyncio.sleep(0.05)

    def times(self, key: str) -> list[float]:
        return [at for at, fields in self.drain() if key in fields]

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    directory = tempfile.mkdtemp(prefix="ld-notify-")
    listener = NotifySocket(os.path.join(directory, "notify"))
    yield listener
    listener.close()
    os.unlink(listener.address)
    os.rmdir(directory)


@pytest.fixture
async def stack(csms: Csms, notify_socket: NotifySocket) -> AsyncIterator[Stack]:
    """A bench and an agent run "by systemd": NOTIFY_SOCKET and a 1 s watchdog. The bench
    starts with the backend link cut, so nothing the agent tells systemd can wait for it.
    The charger has no display (the bench's stays unused): the status line then says what
    the screen would."""
    stack = Stack(Path(tempfile.mkdtemp(prefix="ld-")), csms, cp_id="NOTIFY-1", connectors=2,
                  agent_env={"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "1000000"},
                  sections={"display": {"driver": "none"}})
    notify_socket.listen()
    try:
        await stack.start_bench()
        await stack.bench_request("link", state="cut")
        stack.write_config()
        await stack.start_agent()
        yield stack
    finally:
        await stack.stop()


# -- the protocol, on its own ------------------------------------------------------------


def test_the_notifier_sends_datagrams_to_a_path_and_to_an_abstract_socket(tmp_path: Path) -> None:
    for address in (str(tmp_path / "notify"), f"@ladda-test-{os.getpid()}"):
        listener = NotifySocket(address)
        try:
            notifier = Notifier({"NOTIFY_SOCKET": address})
            notifier.ready("connectors 1 Available")
            notifier.status("connectors 1 Available")  # unchanged: not sent again
            notifier.status("connectors 1   Charging\n")  # one line, whitespace folded
            sent = [fields for _, fields in listener.drain()]
            assert sent == [{"READY": "1", "STATUS": "connectors 1 Available"}, {"STATUS": "connectors 1 Charging"}]
        finally:
            listener.close()


def test_outside_systemd_nothing_is_sent_and_a_vanished_socket_is_not_an_error(tmp_path: Path) -> None:
    assert Notifier({}).send("READY=1") is False
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).send("READY=1") is False


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_interval_comes_from_the_environment(env: dict[str, str], interval: float | None) -> None:
    assert Notifier(env).watchdog_s == interval


# -- supervise(), on its own: a recording notifier, a control loop and a status to order --

#: The watchdog interval of these tests: short, with room for a busy machine's delays.
WATCHDOG_S = 0.6


class RecordingNotifier(Notifier):
    """A notifier "run by systemd" with a ``WATCHDOG_S`` interval that keeps what it
    sends, with the loop's time, instead of sending it."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        super().__init__({"WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000))} if environ is None else environ)
        self.sent: list[tuple[float, dict[str, str]]] = []

    def send(self, *lines: str) -> bool:
        self.sent.append((asyncio.get_running_loop().time(), dict(line.split("=", 1) for line in lines)))
        return True

    async def wait_after(self, key: str, since: float, timeout: float = 10.0) -> float:
        """The arrival time of the first message with ``key`` that came after ``since``."""
        deadline = time.monotonic() + timeout
        while True:
            later = [t for t in self.times(key) if t > since]
            if later:
                return later[0]
            assert time.monotonic() < deadline, f"no {key} from the agent after {since}; got {self.received}"
            await asyncio.sleep(0.05)

    def times(self, key: str) -> list[float]:
        return [at for at, fields in self.sent if key in fields]

    def values(self, key: str) -> list[str]:
        return [fields[key] for _, fields in self.sent if key in fields]


async def supervised_for(seconds: float, notifier: Notifier, healthy: Callable[[float], Awaitable[bool]],
                         status: Callable[[], Awaitable[str]]) -> float:
    """Run supervise() for ``seconds``, check it still runs, stop it; return when it started."""
    started = asyncio.get_running_loop().time()
    task = asyncio.create_task(supervise(notifier, healthy, status))
    await asyncio.sleep(seconds)
    assert not task.done(), task  # ended early: the exception that ended it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return started


def worst_gap(started: float, pings: list[float]) -> float:
    """The longest time systemd would have waited for a ping, from the start on."""
    return max(b - a for a, b in zip([started, *pings], pings))


async def test_a_slow_status_query_does_not_delay_the_pings() -> None:
    notifier = RecordingNotifier()
    timeouts: list[float] = []

    async def slow_healthy(timeout: float) -> bool:  # the control loop answers, just in time
        timeouts.append(timeout)
        await asyncio.sleep(timeout * 0.9)
        return True

    async def hanging_status() -> str:  # the database never answers
        await asyncio.Event().wait()
        return "never"

    started = await supervised_for(2.5 * WATCHDOG_S, notifier, slow_healthy, hanging_status)
    pings = notifier.times("WATCHDOG")
    assert pings and worst_gap(started, pings) < 0.75 * WATCHDOG_S, pings  # systemd would not have killed it
    assert len(pings) >= 4, pings
    assert set(timeouts) == {WATCHDOG_S / 4}
    assert notifier.values("STATUS") == []


async def test_a_failing_status_query_is_logged_once_and_ends_nothing() -> None:
    notifier = RecordingNotifier()
    answers: list[str | None] = [None] * 4 + ["connectors 1 Available; backend online; 0 messages queued"]

    async def healthy(timeout: float) -> bool:
        return True

    async def status() -> str:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer is None:
            raise StoreError("state database /var/lib/ladda/ladda.sqlite3: disk I/O error")
        return answer

    with capture_logs() as logs:
        started = await supervised_for(3.5 * WATCHDOG_S, notifier, healthy, status)
    failures = [e for e in logs if e["event"] == "status line not refreshed; shown as it was"]
    assert len(failures) == 1, logs
    assert failures[0]["error"] == "StoreError: state database /var/lib/ladda/ladda.sqlite3: disk I/O error"
    assert [e["event"] for e in logs if e["event"] == "status line refreshed again"] == ["status line refreshed again"]
    assert notifier.values("STATUS") == ["connectors 1 Available; backend online; 0 messages queued"]
    pings = notifier.times("WATCHDOG")
    assert len(pings) >= 5 and worst_gap(started, pings) < 0.75 * WATCHDOG_S, pings


async def test_no_ping_without_a_healthy_answer() -> None:
    notifier = RecordingNotifier()
    answers = [True, False, False, False, True]

    async def healthy(timeout: float) -> bool:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    async def status() -> str:
        return "connectors 1 Available"

    with capture_logs() as logs:
        started = await supervised_for(2.75 * WATCHDOG_S, notifier, healthy, status)
    pings = notifier.times("WATCHDOG")
    # Checks at 0, W/2, W, 3W/2, 2W, 5W/2: pings after the first and from the fifth on.
    assert len(pings) >= 2 and pings[0] - started < 0.25 * WATCHDOG_S, pings
    assert 1.75 * WATCHDOG_S < pings[1] - pings[0] < 2.5 * WATCHDOG_S, pings
    events = [e["event"] for e in logs]
    assert events.count("control loop stuck; watchdog pings withheld (systemd will restart the service)") == 1
    assert events.count("control loop turning again; watchdog pings resumed") == 1


async def test_without_a_watchdog_only_the_status_line_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(systemd, "STATUS_EVERY_S", 0.05)
    notifier = RecordingNotifier({"NOTIFY_SOCKET": "/run/systemd/notify"})
    lines = iter(f"connectors 1 {state}" for state in ("Available", "Preparing", "Charging"))
    checked: list[float] = []

    async def healthy(timeout: float) -> bool:
        checked.append(timeout)
        return True

    async def status() -> str:
        return next(lines, "connectors 1 Charging")

    await supervised_for(0.4, notifier, healthy, status)
    assert notifier.values("STATUS") == ["connectors 1 Available", "connectors 1 Preparing", "connectors 1 Charging"]
    assert notifier.times("WATCHDOG") == [] and checked == []


# -- the agent process -------------------------------------------------------------------


async def test_ready_comes_once_the_hardware_is_up_without_waiting_for_the_backend(
    stack: Stack, notify_socket: NotifySocket
) -> None:
    ready = await notify_socket.wait("READY", "1")
    # The statuses it could not send yet are queued.
    # Without a display, the line also says what the screen would (agent.screen).
    ready_offline = r"Ready to use \| Tap your card \| Offline mode"
    assert re.fullmatch(r"connectors 1 Available, 2 Available; backend offline; [1-9]\d* messages queued; "
                        rf"screen 1: {ready_offline}; 2: {ready_offline}", ready["STATUS"]), ready
    assert await messages(stack, "BootNotification") == []  # the link is cut: it never waited for one
    await stack.bench_request("link", state="up")
    await notify_socket.wait("STATUS", r"connectors 1 Available, 2 Available; backend online; 0 messages queued; "
                                       r"screen 1: Ready to use \| Tap your card; 2: Ready to use \| Tap your card")


async def test_the_watchdog_is_fed_only_while_the_control_loop_turns(
    stack: Stack, notify_socket: NotifySocket
) -> None:
    await notify_socket.wait("READY", "1")
    await asyncio.sleep(2.0)
    pings = notify_socket.times("WATCHDOG")
    assert len(pings) >= 2 and max(b - a for a, b in zip(pings, pings[1:])) < 1.0  # within the 1 s interval

    # The disk hangs (another writer holds the journal) just as the EV is plugged in: the
    # connector's worker waits on its status write, and the pings stop.
    journal = sqlite3.connect(stack.state_dir / "ladda.sqlite3", isolation_level=None)
    journal.execute("BEGIN EXCLUSIVE")
    try:
        await stack.bench_request("plug", connector=1, max_current=16)
        hung_at = time.monotonic()
        await asyncio.sleep(4.0)
        # The pilot is read once a second while nothing is offered (docs/hardware.md), so
        # the plug-in, and the status write that hangs, come up to about 1.1 s later.
        during = [t for t in notify_socket.times("WATCHDOG") if t > hung_at + 2.0]
    finally:
        journal.execute("COMMIT")
        journal.close()
    assert during == []  # systemd (WatchdogSec=1) would have restarted the service
    released = time.monotonic()
    # Turning again, pinging again (the status line may have been kept from before the hang,
    # so the first ping after the release is waited for, not assumed).
    await notify_socket.wait_after("WATCHDOG", released)
    await notify_socket.wait("STATUS", r"connectors 1 Preparing, 2 Available; backend offline; \d+ messages queued; "
                                       r"screen 1: Tap your card \| Offline mode; 2: .*")
    assert "control loop stuck" in stack.agent_log()


async def test_stopping_is_announced_on_sigterm(stack: Stack, notify_socket: NotifySocket) -> None:
    await notify_socket.wait("READY", "1")
    assert await stack.stop_agent(signal.SIGTERM) == 0
    await notify_socket.wait("STOPPING", "1", timeout=2.0)
