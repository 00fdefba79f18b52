"""The simulated bench's I2C bus, reached over a Unix socket (``i2c_transport = "bench"`` in
``[pilot]`` and ``[display]``).

:class:`RemoteSMBus` offers the calls of ``smbus2.SMBus`` the I2C drivers make, and
carries each transfer to the bench, where register-level devices answer it: the
ADS1115 (simulators/ads1115.py) and the display's PCF8574 + HD44780
(simulators/hd44780.py). The driver code above it, the bus thread, the
conversion sequence and its error handling, is the one a charger runs on /dev/i2c-N;
only this transport differs. Its calls block, like smbus2's ioctl(), and run on the
:class:`~drivers.i2c.I2cBus` thread.

Protocol (JSON lines, after ``{"op": "attach", "role": "i2c"}``), one reply per request,
in order: ``{"op": "read", "address": A, "register": R, "length": N}`` gets
``{"data": [...]}``; ``{"op": "write", "address": A, "register": R, "data": [...]}``
gets ``{}``; ``{"op": "send", "address": A, "data": [...]}`` (plain bytes in one
message, no register byte: what a PCF8574 port expander takes) gets ``{}``;
``{"op": "receive", "address": A}`` (one plain byte read, no register byte: a port
expander's pins) gets ``{"data": B}``; a failed
transfer gets ``{"errno": E, "error": "..."}`` and raises the ``OSError`` the kernel
would (EREMOTEIO for an address nobody acknowledges).
"""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class RemoteSMBus:
    """An ``SMBusLike`` whose transfers the bench answers. Connects on construction (on the
    bus thread); a lost bench makes every transfer fail with EIO until it is back."""

    def __init__(self, path: Path, *, timeout: float = 1.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._connect()

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
            sock.sendall(b'{"op": "attach", "role": "i2c"}\n')
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._buffer = b""

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force: bool | None = None) -> list[int]:
        reply = self._transfer({"op": "read", "address": i2c_addr, "register": register, "length": length})
        data = reply.get("data")
        if not isinstance(data, list) or not all(isinstance(b, int) and 0 <= b <= 255 for b in data):
            raise OSError(errno.EIO, f"the bench answered {reply!r}, not bytes")
        return data

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        self._transfer({"op": "write", "address": i2c_addr, "register": register, "data": list(data)})

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        """A plain one-byte read of ``i2c_addr`` (no register byte: a port expander's pins)."""
        reply = self._transfer({"op": "receive", "address": i2c_addr})
        data = reply.get("data")
        if not isinstance(data, int) or not 0 <= data <= 255:
            raise OSError(errno.EIO, f"the bench answered {reply!r}, not a byte")
        return data

    def write_bytes(self, i2c_addr: int, data: Sequence[int]) -> None:
        """Plain bytes to ``i2c_addr`` in one message (see :func:`drivers.i2c.write_bytes`)."""
        self._transfer({"op": "send", "address": i2c_addr, "data": list(data)})

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _transfer(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request and its reply. A broken connection fails this transfer with EIO, as a
        disconnected bus would, and the next transfer connects again."""
        try:
            if self._sock is None:
                self._connect()
            return self._exchange(request)
        except OSError as exc:
            if isinstance(exc, _BenchRefused):
                raise OSError(exc.errno, exc.strerror) from None
            self.close()
            raise OSError(errno.EIO, f"the bench's I2C bus at {self.path}: {exc.strerror or exc}") from exc

    def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        sock = self._sock
        assert sock is not None
        sock.sendall(json.dumps(request).encode() + b"\n")
        while b"\n" not in self._buffer:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("the bench closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            raise ConnectionError(f"the bench answered {line[:200]!r}, not JSON") from None
        if not isinstance(reply, dict):
            raise ConnectionError(f"the bench answered {line[:200]!r}, not an object")
        if "errno" in reply:
            raise _BenchRefused(int(reply["errno"]), str(reply.get("error", "")))
        return reply


class _BenchRefused(OSError):
    """The transfer reached the bench and failed there (the chip did not acknowledge)."""
