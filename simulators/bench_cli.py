"""``ladda-sim bench``: run the simulated charger hardware until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import structlog

from drivers.modbus.registers import MeterModelError
from simulators import control
from simulators.bench import Bench, HardwareServer, check_meters
from simulators.bench_wiring import BenchWiring
from simulators.link_proxy import LinkProxy, parse_address
from simulators.grid_meter import DEFAULT_GRID_UNIT
from simulators.modbus_meter import MeterSimulator, PtyPair

if TYPE_CHECKING:
    from simulators.bench_reader import PcscCardDesk

log = structlog.get_logger(__name__)
T = TypeVar("T")


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ladda-sim bench",
        description="Simulated charger hardware and EVs for a running agent. "
        "See docs/control-channel.md for both sockets.",
    )
    parser.add_argument("--connectors", type=int, default=1, help="number of connectors (default 1)")
    parser.add_argument(
        "--phases", type=int, choices=(1, 3), default=3, help="phases per connector (default 3)"
    )
    parser.add_argument("--voltage", type=_positive, default=230.0, help="phase voltage in V (default 230)")
    parser.add_argument(
        "--initial-energy-wh", type=float, default=0.0, help="meter register at start, Wh (default 0)"
    )
    parser.add_argument(
        "--hardware-socket", required=True, metavar="PATH", help="Unix socket for the agent's sim drivers"
    )
    parser.add_argument("--control", required=True, metavar="PATH", help="Unix socket for control commands")
    parser.add_argument(
        "--link-listen", type=_address, metavar="HOST:PORT",
        help="where the agent reaches the backend (port 0: any free port)",
    )  # fmt: skip
    parser.add_argument(
        "--link-upstream",
        type=_address,
        metavar="HOST:PORT",
        help="the backend (CSMS) the link proxy forwards to",
    )
    parser.add_argument(
        "--meter-model", default="sdm630", metavar="NAME",
        help="meter model of every connector's Modbus meter: a name in config/meters/ or a model file "
        "(default sdm630)",
    )  # fmt: skip
    parser.add_argument(
        "--meter-transport", choices=("tcp", "rtu"), default="tcp",
        help="serve the meters over Modbus TCP (default) or RTU on a pseudo-terminal pair",
    )  # fmt: skip
    parser.add_argument(
        "--meter-listen", type=_address, default=("127.0.0.1", 0), metavar="HOST:PORT",
        help="where the Modbus TCP meters listen (default 127.0.0.1:0, any free port)",
    )  # fmt: skip
    parser.add_argument(
        "--meter-pty", type=Path, metavar="PATH",
        help="rtu: the agent's end of the serial line (default meter-tty next to the control socket)",
    )  # fmt: skip
    parser.add_argument(
        "--wiring", choices=("gpio", "none"), default="gpio",
        help="gpio (default): contactors, RCDs, e-stop, locks and LEDs on GPIO pins, the pilot on an ADS1115 "
        "and PWM, for the agent's real drivers (docs/hardware.md); none: the sim drivers' JSON requests only",
    )  # fmt: skip
    parser.add_argument(
        "--reader", choices=("pcsc", "socket"), default="pcsc",
        help="pcsc (default): cards are tapped on a virtual card on vpcd's reader through pcscd (started here "
        "when none runs, which needs root), for the agent's PC/SC driver; socket: cards go to the sim reader "
        "over the hardware socket",
    )  # fmt: skip
    parser.add_argument(
        "--pwm-root", type=Path, metavar="DIR",
        help="gpio wiring: where the PWM tree (a stand-in for /sys/class/pwm) is made "
        "(default pwm/ next to the control socket)",
    )  # fmt: skip
    parser.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help='once listening, write {"pid": ..., "link_port": ..., "meter": {...}, "wiring": {...}, '
        '"reader": {...}} here',
    )
    parser.add_argument(
        "--grid-unit", type=int, default=DEFAULT_GRID_UNIT, metavar="ID",
        help="unit id of the grid meter (the building's connection: house load plus the EVs) on the meters' "
        f"Modbus server (default {DEFAULT_GRID_UNIT}; 0: no grid meter)",
    )  # fmt: skip
    parser.add_argument(
        "--tick", type=_positive, default=0.2, help="physics integration step in s (default 0.2)"
    )
    return parser


def _write_atomically(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


async def _listen(what: str, start: Awaitable[T]) -> T:
    """Start a listener; a failure names which one and where."""
    try:
        return await start
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on the {what}: {exc.strerror or exc}") from exc


#: The RTU line's settings: what a meter ships with; parity N because pseudo-terminals
#: here do not carry parity.
RTU_LINE = {"baudrate": 9600, "parity": "N", "stopbits": 1}


def meter_model_reference(model: str) -> str:
    """A model name as it is; a model file as an absolute path, so the ready file's
    reader (another process, another directory) finds the same file."""
    path = Path(model)
    if path.suffix == ".toml" or path.parent != Path("."):
        return str(path.resolve())
    return model


async def _serve_meters(meters: MeterSimulator, opts: argparse.Namespace,
                        stack: contextlib.AsyncExitStack) -> dict[str, object]:
    """Start the Modbus server; returns how the agent reaches it (the ready file's "meter")."""
    grid = opts.grid_unit or None
    about: dict[str, object] = {"model": meter_model_reference(opts.meter_model),
                                "unit_ids": sorted(u for u in meters.units if u != grid), "grid_unit_id": grid}
    if opts.meter_transport == "tcp":
        stack.push_async_callback(meters.stop)
        host, port = opts.meter_listen
        port = await _listen(f"Modbus TCP meters on {host}:{port}", meters.start_tcp(host, port))
        return {"transport": "tcp", "host": host, "port": port, **about}
    agent_end = opts.meter_pty or Path(opts.control).resolve().parent / "meter-tty"
    pair = PtyPair(agent_end.with_name(agent_end.name + ".bench"), agent_end)
    try:
        bench_end, agent_end_path = await stack.enter_async_context(pair)
    except RuntimeError as exc:
        raise OSError(f"cannot make the meters' serial line at {agent_end}: {exc}") from exc
    stack.push_async_callback(meters.stop)  # before the line goes
    await _listen(f"Modbus RTU meters on {bench_end}", meters.start_rtu(bench_end, **RTU_LINE))
    return {"transport": "rtu", "port": agent_end_path, **RTU_LINE, **about}


def _card_desk(opts: argparse.Namespace) -> PcscCardDesk | None:
    if opts.reader != "pcsc":
        return None
    from simulators.bench_reader import PcscCardDesk

    return PcscCardDesk()


async def _start_card_desk(desk: PcscCardDesk) -> None:
    """pcscd with the virtual reader; what is missing becomes the bench's start-up error."""
    from simulators.pcscd import PcscdError

    try:
        await desk.start()
    except PcscdError as exc:
        raise OSError(f"cannot set up the PC/SC card reader: {exc} (or start the bench with --reader socket)") from exc


async def run(opts: argparse.Namespace, meters: MeterSimulator) -> int:
    proxy = LinkProxy(opts.link_listen, opts.link_upstream) if opts.link_listen else None
    wiring = BenchWiring.for_connectors(opts.connectors) if opts.wiring == "gpio" else None
    pwm_root = (opts.pwm_root or Path(opts.control).resolve().parent / "pwm").resolve()
    bench = Bench(
        opts.connectors,
        phases=opts.phases,
        voltage=opts.voltage,
        initial_energy_wh=opts.initial_energy_wh,
        proxy=proxy,
        meters=meters,
        wiring=wiring,
        pwm_root=pwm_root if wiring is not None else None,
        card_desk=_card_desk(opts),
        grid_unit=opts.grid_unit or None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    hardware = HardwareServer(bench, opts.hardware_socket)
    control_server: asyncio.AbstractServer | None = None
    wire = contextlib.AsyncExitStack()
    try:
        await _listen(f"hardware socket {opts.hardware_socket}", hardware.start())
        control_server = await _listen(
            f"control socket {opts.control}", control.serve(opts.control, bench.commands())
        )
        if proxy is not None:
            await _listen(f"link proxy on {opts.link_listen[0]}:{opts.link_listen[1]}", proxy.start())
        meter = await _serve_meters(meters, opts, wire)
        reader: dict[str, object] = {"kind": "socket"}
        if bench.card_desk is not None:
            wire.push_async_callback(bench.card_desk.close)
            await _start_card_desk(bench.card_desk)
            from simulators.bench_reader import READER_NAME

            reader = {"kind": "pcsc", "name": READER_NAME}
        if opts.ready_file is not None:
            _write_atomically(
                opts.ready_file,
                {"pid": os.getpid(), "link_port": proxy.port if proxy else None, "meter": meter,
                 "wiring": None if wiring is None else {"connectors": opts.connectors, "pwm_root": str(pwm_root)},
                 "reader": reader},
            )
        log.info(
            "bench ready",
            connectors=opts.connectors,
            hardware_socket=opts.hardware_socket,
            control=opts.control,
            link_port=proxy.port if proxy else None,
            meter=meter,
            reader=reader,
        )
        async with asyncio.TaskGroup() as tg:
            physics = tg.create_task(bench.run(opts.tick))
            await stop.wait()
            physics.cancel()
            with contextlib.suppress(TimeoutError):
                await bench.stop()
    finally:
        if control_server is not None:
            control_server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(control_server.wait_closed(), 1.0)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(opts.control)
        await hardware.close()
        if bench.wired is not None:
            bench.wired.close()
        if proxy is not None:
            await proxy.close()
        await wire.aclose()
    log.info("bench stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    opts = parser.parse_args(argv)
    if (opts.link_listen is None) != (opts.link_upstream is None):
        parser.error("--link-listen and --link-upstream go together")
    if opts.connectors < 1:
        parser.error("--connectors must be at least 1")
    if opts.wiring == "gpio":
        try:
            BenchWiring.for_connectors(opts.connectors)
        except ValueError as exc:
            parser.error(f"--connectors: {exc}; use --wiring none for more")
    if not 0 <= opts.grid_unit <= 247 or 1 <= opts.grid_unit <= opts.connectors:
        parser.error(f"--grid-unit must be 0 (none) or a unit id from {opts.connectors + 1} to 247, "
                     f"not {opts.grid_unit}")
    if opts.initial_energy_wh < 0:
        parser.error("--initial-energy-wh must not be negative")
    try:
        grid = [opts.grid_unit] if opts.grid_unit else []
        meters = MeterSimulator(opts.meter_model, units=[*range(1, opts.connectors + 1), *grid])
        check_meters(meters, opts.connectors, opts.phases, opts.grid_unit or None)
    except (MeterModelError, ValueError) as exc:
        parser.error(f"--meter-model: {exc}")
    try:
        return asyncio.run(run(opts, meters))
    except OSError as exc:
        print(f"ladda-sim bench: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
