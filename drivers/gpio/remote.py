"""GPIO pins of a simulated board, reached over a Unix socket: the ``bench`` pin factory.

The simulated bench (simulators/bench.py) holds the far side of every pin: the contactor
coil and its mirror contact, the RCD and emergency stop, the cable lock, the LEDs. The
agent's GPIO drivers are the very ones a charger runs; only their pin factory differs.
:class:`RemotePinFactory` is gpiozero's mock factory whose pins mirror themselves over
the socket: an output the driver sets is sent to the bench, an input level the bench
sends drives the pin, and gpiozero's edge callbacks fire on the wire's reader thread,
as lgpio's fire on its own callback thread on a Pi.

Protocol (JSON lines, after ``{"op": "attach", "role": "pins"}``): the bench answers
``{"pins": {"27": 0.0, ...}}`` with the level of every pin it drives, then sends
``{"pin": N, "level": L}`` on each change; the agent sends ``{"pin": N, "level": L}``
for each output change and ``{"pin": N, "release": true}`` when a pin stops being an
output (a closed device: on a Pi the line is released). docs/control-channel.md.

A lost connection is retried for the agent's lifetime, and on reconnection the outputs
are sent again, so a restarted bench sees what the agent drives now.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.protocols import DeviceError

log = structlog.get_logger(__name__)

DEVICE = "gpio"
MIN_DELAY_S = 0.2
MAX_DELAY_S = 2.0


def pin_number(pin: MockPWMPin) -> int:
    """The BCM number of a mock pin ("GPIO17" -> 17)."""
    return int(pin.info.name.removeprefix("GPIO"))


class DrivenInputPin(MockPWMPin):
    """A PWM-capable mock pin whose level, as an input, belongs to whatever drives it.

    MockPWMPin pulls a pin low when its PWM is released; on real hardware an input reads
    the circuit driving it (a tripped RCD stays tripped when a driver closes and opens
    again), which both ends of a simulated wire need.
    """

    def _set_frequency(self, value: float | None) -> None:
        if value is None and self._function == "input":
            self._frequency = None
            return
        super()._set_frequency(value)


class RemotePin(DrivenInputPin):
    """A mock pin whose output level travels to the bench and whose input level comes from it."""

    def __init__(self, factory: RemotePinFactory, info: Any) -> None:
        super().__init__(factory, info)
        self.bcm = pin_number(self)
        self._remote = factory
        level = factory.bench_level(self.bcm)
        if level is not None:
            self._state = level

    def _set_function(self, value: str) -> None:
        was_output = self._function == "output"
        super()._set_function(value)
        if was_output and value == "input":
            self._remote.wire.send({"pin": self.bcm, "release": True})
            level = self._remote.bench_level(self.bcm)
            if level is not None:  # an input reads the level on the wire, not what was last driven
                self.apply(level)

    def _change_state(self, value: float) -> bool:
        changed = super()._change_state(value)
        if changed and self._function == "output":
            self._remote.wire.send({"pin": self.bcm, "level": float(value)})
        return changed

    def apply(self, level: float) -> None:
        """The bench drove the pin: an input changes level (with its edge callbacks)."""
        if self._function != "input":
            return  # the agent drives this pin itself; the bench's idea of it does not count
        if level > 0:
            self.drive_high()
        else:
            self.drive_low()


class PinWire:
    """The socket to the bench, with a reader thread that reconnects until :meth:`close`."""

    def __init__(self, path: Path, on_levels: Callable[[dict[int, float]], None],
                 outputs: Callable[[], dict[int, float]], *, timeout: float) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._on_levels = on_levels
        self._outputs = outputs
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def start(self) -> None:
        """Connect and take the bench's levels now; raise :class:`DeviceError` if it is not there."""
        try:
            sock, rest = self._attach()
        except OSError as exc:
            raise DeviceError(DEVICE, f"cannot reach the simulated bench's pins at {self.path}: "
                                      f"{exc.strerror or exc}") from exc
        self._thread = threading.Thread(target=self._run, args=(sock, rest), name="gpio bench pins", daemon=True)
        self._thread.start()

    def send(self, message: dict[str, Any]) -> None:
        """Send one change; dropped while disconnected (every output is sent again on reconnection)."""
        data = json.dumps(message).encode() + b"\n"
        with self._send_lock:
            if self._sock is None:
                return
            try:
                self._sock.sendall(data)
            except OSError:
                pass  # the reader thread sees the loss and reconnects

    def close(self) -> None:
        self._closed.set()
        with self._send_lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):  # already disconnected
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    # -- the reader thread -------------------------------------------------------------

    def _attach(self) -> tuple[socket.socket, bytes]:
        """Connect, ask for the pins role, read the snapshot; returns the socket and any bytes past it."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self.path))
            sock.sendall(b'{"op": "attach", "role": "pins"}\n')
            buffer = b""
            while b"\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the bench closed the connection while attaching")
                buffer += chunk
            line, rest = buffer.split(b"\n", 1)
            self._on_levels(_snapshot(line))
            sock.settimeout(None)
            with self._send_lock:
                for number, level in self._outputs().items():  # what the agent drives now
                    sock.sendall(json.dumps({"pin": number, "level": level}).encode() + b"\n")
                self._sock = sock
        except BaseException:
            sock.close()
            raise
        return sock, rest

    def _run(self, sock: socket.socket, buffer: bytes) -> None:
        while not self._closed.is_set():
            self._read(sock, buffer)
            with self._send_lock:
                if self._sock is sock:
                    self._sock = None
            sock.close()
            if self._closed.is_set():
                return
            log.warning("bench pins disconnected; retrying", path=str(self.path))
            reconnected = self._reconnect()
            if reconnected is None:
                return
            sock, buffer = reconnected
            log.info("bench pins reconnected", path=str(self.path))

    def _read(self, sock: socket.socket, buffer: bytes) -> None:
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self._handle(line)
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk

    def _handle(self, line: bytes) -> None:
        try:
            message = json.loads(line)
            number, level = int(message["pin"]), float(message["level"])
        except (ValueError, KeyError, TypeError):
            log.warning("bench pins sent nonsense", line=line[:200].decode(errors="replace"))
            return
        self._on_levels({number: level})

    def _reconnect(self) -> tuple[socket.socket, bytes] | None:
        delay = MIN_DELAY_S
        while not self._closed.wait(delay):
            try:
                return self._attach()
            except OSError:
                delay = min(delay * 2, MAX_DELAY_S)
        return None


def _snapshot(line: bytes) -> dict[int, float]:
    """The bench's first line: every pin it drives, with its level."""
    try:
        message = json.loads(line)
        if isinstance(message, dict) and "error" in message:
            raise ConnectionError(f"the bench refused: {message['error']}")
        pins = message["pins"]
        return {int(n): float(v) for n, v in pins.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConnectionError(f"the bench answered {line[:200]!r}, not a pin snapshot") from None


class RemotePinFactory(MockFactory):
    """gpiozero pins whose far side is the simulated bench at ``path`` (see the module docstring).

    Constructing it connects and reads the bench's pin levels, so an RCD already tripped
    is seen by the first driver that opens its input; a bench that is not there is a
    :class:`DeviceError`.
    """

    def __init__(self, path: Path, *, timeout: float = 2.0) -> None:
        super().__init__(pin_class=RemotePin)
        self._levels: dict[int, float] = {}
        self._levels_lock = threading.Lock()
        self.wire = PinWire(Path(path), self._bench_levels, self._outputs, timeout=timeout)
        self.wire.start()

    def bench_level(self, number: int) -> float | None:
        """The level the bench drives on pin ``number``, if it drives it."""
        with self._levels_lock:
            return self._levels.get(number)

    def _bench_levels(self, levels: dict[int, float]) -> None:
        with self._levels_lock:
            self._levels.update(levels)
        pins = {pin.bcm: pin for pin in list(self.pins.values()) if isinstance(pin, RemotePin)}
        for number, level in levels.items():
            if number in pins:
                pins[number].apply(level)

    def _outputs(self) -> dict[int, float]:
        return {pin.bcm: float(pin.state) for pin in list(self.pins.values())
                if isinstance(pin, RemotePin) and pin.function == "output"}

    def close(self) -> None:
        super().close()
        self.wire.close()
