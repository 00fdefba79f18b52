"""A Modbus energy meter simulator at the wire: any shipped meter model, several units.

The register image of each unit is built from the same model file the driver reads, so
the simulator encodes values with the model's data types, word order and scale, and
serves them on the addresses the model names (plus the gaps the model lets a request
span). Values are live: the caller (the bench's EV model, or a test) sets ``energy_wh``,
``power_w``, ``currents`` and ``voltages`` on a unit, and each request encodes them anew
with a little voltage noise, as a real meter's readings never repeat exactly.

Faults per unit: ``silent`` (no reply at all, like a meter without power or with a
wrong unit id; unknown unit ids are silent too, as on an RS-485 line) and ``stale``
(registers frozen at their current bytes, like a hung meter firmware).

Command line, for people::

    python -m simulators.modbus_meter --model sdm630 --tcp 127.0.0.1:5020 --units 1,2
    python -m simulators.modbus_meter --model em340 --rtu-link /tmp/meter-a   # creates the pty pair
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from drivers.modbus.codec import encode
from drivers.modbus.registers import MeterModel, Quantity, load_meter_model


@dataclass
class MeterValues:
    """What a unit measures now, in driver units (Wh, W, A, V), one entry per phase."""

    energy_wh: float = 0.0
    power_w: float = 0.0
    currents: list[float] = field(default_factory=list)
    voltages: list[float] = field(default_factory=list)


class SimulatedMeter:
    """One unit id on the simulated line: its model, live values and fault switches."""

    def __init__(self, unit_id: int, model: MeterModel, *, rng: random.Random) -> None:
        self.unit_id = unit_id
        self.model = model
        self.values = MeterValues(currents=[0.0] * model.phases, voltages=[230.0] * model.phases)
        self.silent = False
        self.stale = False
        self.requests = 0  # requests this unit answered
        self._rng = rng
        self._noise = [0.0] * model.phases
        # Each voltage step must move the register by at least one count, or a live meter
        # could repeat a frame; integer models show 0.1 V, float models far less.
        self._noise_step = max(0.05, 1.5 * model.voltage.resolution(230.0))

    def simdata(self) -> list[SimData]:
        """The served address ranges: exactly the requests the model plans."""
        return [SimData(b.start, count=b.count, values=0, datatype=SimType.REGISTERS) for b in self.model.blocks]

    def image(self) -> dict[int, int]:
        """Register words for the current values, with fresh voltage noise."""
        words: dict[int, int] = {}
        v = self.values
        voltages = [nominal + self._next_noise(i) for i, nominal in enumerate(v.voltages)]
        self._put(words, self.model.energy, [v.energy_wh])
        self._put(words, self.model.power, [v.power_w])
        self._put(words, self.model.current, v.currents)
        self._put(words, self.model.voltage, voltages)
        return words

    def _next_noise(self, phase: int) -> float:
        step = self._rng.uniform(self._noise_step, 2 * self._noise_step)
        value = self._noise[phase] + self._rng.choice((-step, step))
        if abs(value) > 1.0:  # stay within about a volt of nominal
            value = self._noise[phase] - (value - self._noise[phase])
        self._noise[phase] = value
        return value

    @staticmethod
    def _put(words: dict[int, int], quantity: Quantity, values: Iterable[float]) -> None:
        values = list(values)
        if len(values) != len(quantity.addresses):
            raise ValueError(f"{quantity.name}: {len(values)} values for {len(quantity.addresses)} registers")
        for address, value in zip(quantity.addresses, values):
            for i, word in enumerate(encode(value / quantity.scale, quantity.dtype, quantity.word_order)):
                words[address + i] = word

    async def action(self, function_code: int, start_address: int, address: int, count: int,
                     registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """Called by the pymodbus server before it answers a request for this unit."""
        if self.silent:
            raise NoSuchIdException(f"unit {self.unit_id} is silent")  # the server then sends nothing
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # a meter's measurement registers are read-only
        if function_code != self.model.function_code:
            return ExcCodes.ILLEGAL_ADDRESS
        self.requests += 1
        if not self.stale:
            for reg, word in self.image().items():
                registers[reg - start_address] = word
        return None


async def _nobody(*_args: object) -> ExcCodes | None:
    raise NoSuchIdException("no meter with this unit id")


class MeterSimulator:
    """A Modbus server (TCP or RTU) with one simulated meter per unit id.

    ``MeterSimulator("sdm630", units=[1, 2])`` or with a model per unit:
    ``MeterSimulator({1: "sdm630", 2: "em340"})``. Start with :meth:`start_tcp` or
    :meth:`start_rtu`, or use it as an async context manager after choosing a transport.
    """

    def __init__(self, models: str | MeterModel | Mapping[int, str | MeterModel], units: Iterable[int] = (1,),
                 *, seed: int | None = None) -> None:
        rng = random.Random(seed)
        if isinstance(models, Mapping):
            chosen = {unit: _model(m) for unit, m in models.items()}
        else:
            chosen = {unit: _model(models) for unit in units}
        self.units = {unit: SimulatedMeter(unit, model, rng=rng) for unit, model in chosen.items()}
        self.port: int | None = None  # TCP port once started
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    def __getitem__(self, unit_id: int) -> SimulatedMeter:
        return self.units[unit_id]

    def _devices(self) -> list[SimDevice]:
        devices = [SimDevice(id=u.unit_id, simdata=u.simdata(), action=u.action) for u in self.units.values()]
        # id 0 answers for every other unit id: stay silent, as an empty RS-485 address does.
        everywhere = SimData(0, count=65535, values=0, datatype=SimType.REGISTERS)
        devices.append(SimDevice(id=0, simdata=[everywhere], action=_nobody))
        return devices

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve Modbus TCP; port 0 picks a free port. Returns the port."""
        server = ModbusTcpServer(self._devices(), address=(host, port), ignore_missing_devices=True)
        await server.serve_forever(background=True)
        self._server = server
        self.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def start_rtu(self, port: str, *, baudrate: int = 9600, parity: str = "N", stopbits: int = 1) -> None:
        """Serve Modbus RTU on a serial device (one end of a :class:`PtyPair`)."""
        server = ModbusSerialServer(self._devices(), framer=FramerType.RTU, port=port, baudrate=baudrate,
                                    parity=parity, stopbits=stopbits, ignore_missing_devices=True,
                                    reconnect_delay=0)
        await server.serve_forever(background=True)
        self._server = server

    async def stop(self) -> None:
        """Stop serving (idempotent). Open client connections are closed."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    async def __aenter__(self) -> MeterSimulator:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


def _model(model: str | MeterModel) -> MeterModel:
    return model if isinstance(model, MeterModel) else load_meter_model(model)


class PtyPair:
    """Two connected pseudo-terminals made by socat, reachable at two symlinks.

    ``async with PtyPair() as (a, b)``: a simulator serves on one end, the driver opens the
    other as its serial port. Parity N only: pseudo-terminals here do not carry parity.
    """

    def __init__(self, link_a: str | Path | None = None, link_b: str | Path | None = None,
                 *, timeout: float = 5.0) -> None:
        self._tmp: str | None = None
        if link_a is None or link_b is None:
            self._tmp = tempfile.mkdtemp(prefix="ladda-pty-")
        self.a = Path(link_a) if link_a else Path(self._tmp or ".") / "a"
        self.b = Path(link_b) if link_b else Path(self._tmp or ".") / "b"
        self.timeout = timeout
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> tuple[str, str]:
        socat = shutil.which("socat")
        if socat is None:
            raise RuntimeError("socat is not installed (Debian package socat)")
        self._proc = await asyncio.create_subprocess_exec(
            socat, f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not (self.a.exists() and self.b.exists()):
            if self._proc.returncode is not None or loop.time() > deadline:
                await self.__aexit__()
                raise RuntimeError(f"socat did not create {self.a} and {self.b}")
            await asyncio.sleep(0.01)
        return str(self.a), str(self.b)

    async def __aexit__(self, *_exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


async def _serve(args: argparse.Namespace) -> None:
    units = [int(u) for u in args.units.split(",")]
    sim = MeterSimulator(args.model, units)
    for unit in sim.units.values():
        unit.values.energy_wh = args.energy_wh
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(sim)
        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            port_no = await sim.start_tcp(host or "127.0.0.1", int(port))
            print(json.dumps({"model": args.model, "units": units, "tcp": f"{host}:{port_no}"}), flush=True)
        else:
            link = Path(args.rtu_link)
            a, b = await stack.enter_async_context(PtyPair(link.with_name(link.name + ".sim"), link))
            await sim.start_rtu(a, baudrate=args.baudrate)
            print(json.dumps({"model": args.model, "units": units, "rtu": b, "baudrate": args.baudrate,
                              "parity": "N"}), flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.modbus_meter", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="sdm630", help="meter model name (config/meters/NAME.toml) or file")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", metavar="HOST:PORT", help="serve Modbus TCP (port 0 picks a free one)")
    where.add_argument("--rtu-link", metavar="PATH", help="serve RTU on a new pty pair; the driver opens PATH")
    parser.add_argument("--units", default="1", help="comma-separated unit ids (default 1)")
    parser.add_argument("--baudrate", type=int, default=9600)
    parser.add_argument("--energy-wh", type=float, default=0.0, help="starting energy register value")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
