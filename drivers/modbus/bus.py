"""One Modbus line (an RS-485 port or a TCP gateway) shared by every meter on it.

A charger with two connectors usually has two meters on one RS-485 pair, told apart by
their unit ids. The line carries one request at a time, so every meter's request goes
through this object's lock. pymodbus's asyncio clients do the framing; they are told
never to reconnect by themselves (that would be a task nobody owns): the next request
after a dropped TCP link or a serial error reconnects instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from ..cancellation import raise_if_cancelled

#: Modbus exception codes a meter may answer with (Modbus Application Protocol v1.1b3, 7).
EXCEPTION_CODES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class BusError(Exception):
    """A request that failed on the line; the meter names itself around it."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True, slots=True)
class Exchange:
    """The answer to one read, and the Modbus frames (ADUs) it cost on the line."""

    registers: list[int]
    requests: int  # frames sent, retries included
    bytes_sent: int
    bytes_received: int


class ModbusBus:
    """A shared Modbus client: build it with :meth:`serial` or :meth:`tcp`."""

    def __init__(self, name: str, make_client: Callable[[ModbusBus], AsyncModbusTcpClient | AsyncModbusSerialClient],
                 *, framing: str, timeout: float, retries: int) -> None:
        self.name = name  # "serial /dev/ttyUSB0" or "tcp 10.0.0.5:502": what a technician checks
        self.framing = framing  # "rtu" or "tcp"
        self.timeout = timeout
        self.retries = retries
        # The pymodbus client needs a running event loop, so it is made at the first open().
        self._make_client = make_client
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._lock = asyncio.Lock()
        self._users = 0
        self._sent = self._received = self._frames = 0

    @classmethod
    def serial(cls, port: str, *, baudrate: int = 9600, parity: str = "N", stopbits: int = 1,
               bytesize: int = 8, timeout: float = 0.5, retries: int = 0) -> ModbusBus:
        """An RS-485 line in RTU framing (meters ship with 9600 baud; parity per meter setup)."""
        if parity not in ("N", "E", "O"):
            raise ValueError(f"serial {port}: parity {parity!r} is not allowed (N, E, O)")

        def make(bus: ModbusBus) -> AsyncModbusSerialClient:
            return AsyncModbusSerialClient(
                port, framer=FramerType.RTU, baudrate=baudrate, parity=parity, stopbits=stopbits,
                bytesize=bytesize, timeout=timeout, retries=retries, reconnect_delay=0,
                trace_packet=bus._trace_packet, trace_pdu=bus._trace_pdu,
            )

        return cls(f"serial {port}", make, framing="rtu", timeout=timeout, retries=retries)

    @classmethod
    def tcp(cls, host: str, port: int = 502, *, timeout: float = 0.5, retries: int = 0) -> ModbusBus:
        """A Modbus TCP meter or an RS-485 gateway (MBAP framing)."""

        def make(bus: ModbusBus) -> AsyncModbusTcpClient:
            return AsyncModbusTcpClient(
                host, port=port, timeout=timeout, retries=retries, reconnect_delay=0,
                trace_packet=bus._trace_packet, trace_pdu=bus._trace_pdu,
            )

        return cls(f"tcp {host}:{port}", make, framing="tcp", timeout=timeout, retries=retries)

    @property
    def reply_timeout(self) -> float:
        """How long a request waits for a silent meter before it fails."""
        return self.timeout * (self.retries + 1)

    async def open(self) -> None:
        """Take a share of the bus; the first user connects. Raises BusError if it cannot."""
        self._users += 1
        if self._users > 1:
            return
        async with self._lock:
            if self._client is None:
                self._client = self._make_client(self)
            try:
                await self._connect()
            except BusError:
                self._users -= 1
                raise

    async def close(self) -> None:
        """Give back a share; the last user closes the port. Extra calls do nothing."""
        if self._users == 0:
            return
        self._users -= 1
        if self._users == 0 and self._client is not None:
            self._client.close()

    async def read(self, unit_id: int, function_code: int, address: int, count: int) -> Exchange:
        """Read ``count`` registers; BusError on no reply, an exception reply or a bad count."""
        if self._users == 0:
            raise BusError(f"{self.name} is not open", retry=False)
        async with self._lock:
            self._sent = self._received = self._frames = 0
            try:
                registers = await self._read(unit_id, function_code, address, count)
            finally:
                cost = (self._frames, self._sent, self._received)
        return Exchange(registers, *cost)

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def _connect(self) -> None:
        assert self._client is not None
        if not await self._client.connect():
            raise BusError(f"cannot connect to {self.name}")

    async def _read(self, unit_id: int, function_code: int, address: int, count: int) -> list[int]:
        assert self._client is not None  # made by open()
        if not self._client.connected:
            await self._connect()
        call = self._client.read_input_registers if function_code == 4 else self._client.read_holding_registers
        try:
            reply = await call(address, count=count, device_id=unit_id)
            raise_if_cancelled()  # pymodbus waits with 3.11's wait_for, which can swallow a stop
        except ModbusIOException:
            raise BusError(f"no reply within {self.reply_timeout:g} s") from None
        except (ConnectionException, OSError) as exc:
            # The link died under the request: drop it so the next request reconnects.
            self._client.close()
            raise BusError(f"connection lost ({exc})") from None
        except ModbusException as exc:
            raise BusError(f"bad reply ({exc})") from None
        if reply.isError():
            code = getattr(reply, "exception_code", 0)
            raise BusError(f"exception code {code} ({EXCEPTION_CODES.get(code, 'unknown')}) "
                           f"reading {count} registers at {address} with function {function_code}",
                           retry=code in (5, 6, 10, 11))
        registers = list(reply.registers)
        if len(registers) != count:
            raise BusError(f"asked for {count} registers at {address}, got {len(registers)}")
        return registers

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        # Incoming data may be traced more than once while a frame is reassembled, so only
        # outgoing frames are counted here; replies are counted once decoded (_trace_pdu).
        if sending:
            self._frames += 1
            self._sent += len(data)
        return data

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            # ADU = PDU (function code + body) plus the framing: MBAP header (7 bytes) on
            # TCP, unit id and CRC (3 bytes) on RTU.
            self._received += 1 + len(pdu.encode()) + (7 if self.framing == "tcp" else 3)
        return pdu
