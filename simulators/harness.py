"""Starts the whole stack as real processes: test CSMS, simulated bench, and the agent.

Used by ``ladda demo`` and by the end-to-end tests, so both exercise exactly what a
user runs: the agent process talks over a real websocket (through the bench's link
proxy, so the link can be cut) to a real CSMS process, reads the bench's meters with its
real Modbus driver (TCP by default, RTU over a pseudo-terminal on request), and drives
the rest of the simulated hardware through the bench's socket. Each process logs to its
own file in the work directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bench_wiring import BenchWiring
from .control import ControlClient

READY_TIMEOUT_S = 20.0
#: How a stack's agent reads its meters: the Modbus driver over TCP or RTU, or the sim driver.
METER_KINDS = ("tcp", "rtu", "sim")
#: ``[meter]`` timings for tests: the runtime's polling and failure bounds, and a reply
#: timeout short enough that a silent meter costs a poll little.
TEST_METER_TIMINGS: dict[str, Any] = {"poll_interval": 1.0, "fault_after": 5.0, "timeout": 0.3}


class HarnessError(Exception):
    """A process of the stack did not start or misbehaved; the message has its log's tail."""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    """One child process with its log file."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                env=dict(self.env) if self.env is not None else None, cwd=self.cwd,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def wait_ready_file(self, path: Path) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline:
            if path.exists():
                with contextlib.suppress(ValueError):
                    return json.loads(path.read_text())
            if not self.running:
                raise HarnessError(f"{self.name} exited during start-up:\n{_tail(self.log_path)}")
            await asyncio.sleep(0.05)
        raise HarnessError(f"{self.name} not ready within {READY_TIMEOUT_S:g} s:\n{_tail(self.log_path)}")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the process and wait; SIGKILL if it does not end in time."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode


def toml_value(value: Any) -> str:
    """``value`` as TOML: a table inline (e.g. ``[tariff] bands``, an array of tables), a
    list of them, or a scalar (JSON's strings, numbers and booleans are TOML's)."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


@dataclass
class Csms:
    """The test backend process and its control client."""

    workdir: Path
    process: Process | None = None
    control: ControlClient | None = None
    port: int = 0
    # Security profiles (see ladda-sim csms --help); the default is plain ws:// without auth.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    #: The port to listen on (0: any free one); a backend restarted at the same address
    #: with another security profile, as a security profile upgrade test needs.
    listen_port: int = 0

    @property
    def scheme(self) -> str:
        return "wss" if self.tls_cert is not None else "ws"

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / "csms.ready"
        ready.unlink(missing_ok=True)
        sock = self.workdir / "csms.sock"
        security: list[str] = []
        if self.tls_cert is not None and self.tls_key is not None:
            security += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        if self.client_ca is not None:
            security += ["--client-ca", str(self.client_ca)]
        for cp, password in self.passwords.items():
            security += ["--password", f"{cp}={password}"]
        self.process = Process(
            "csms",
            _python("simulators", "csms", "--listen", f"127.0.0.1:{self.listen_port}", "--control", str(sock), "--ready-file", str(ready),
                    *security),
            self.workdir / "csms.log",
        )
        await self.process.start()
        info = await self.process.wait_ready_file(ready)
        self.port = int(info["port"])
        self.control = ControlClient(sock)

    async def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.control is not None
        return await self.control.request(cmd, **args)

    async def stop(self) -> None:
        if self.control is not None:
            await self.control.close()
        if self.process is not None:
            await self.process.stop()


@dataclass
class Stack:
    """A bench and an agent for one charge point, against a (possibly shared) CSMS."""

    workdir: Path
    csms: Csms
    cp_id: str = "LADDA-TEST"
    connectors: int = 1
    ocpp: dict[str, Any] = field(default_factory=dict)
    max_current: float = 32.0
    initial_energy_wh: float = 0.0
    lock: bool = False  # a socket outlet with a cable lock, instead of a tethered cable
    ping_timeout: float = 20.0  # [backend] ping_timeout
    unfinished_transactions: str = "stop"  # [state] recovery policy
    clock: str = "auto"  # [system] clock
    backend: dict[str, Any] = field(default_factory=dict)  # more [backend] keys (security profile, files)
    scheme: str = ""  # of backend.url: "" follows the CSMS (wss:// when it serves TLS)
    #: backend.url itself (e.g. straight to a CSMS, past the bench's link proxy); "": the proxy.
    backend_url: str = ""
    meter: str = "tcp"  # one of METER_KINDS
    meter_model: str = "sdm630"  # the bench's Modbus meters (ignored by the sim driver)
    meter_settings: dict[str, Any] = field(default_factory=dict)  # [meter] keys over TEST_METER_TIMINGS
    #: True: the agent's real GPIO and pilot drivers on the bench's pins, ADS1115 and PWM;
    #: False: the sim contactor, pilot and lock drivers over the bench's JSON requests.
    wired: bool = True
    wiring_info: dict[str, Any] | None = None  # the bench ready file's "wiring"
    #: "socket": cards go to the sim reader over the bench socket (fast, the default for
    #: tests); "pcsc": the agent's PC/SC driver reads a virtual card through pcscd.
    reader: str = "socket"
    reader_info: dict[str, Any] = field(default_factory=dict)  # the bench ready file's "reader"
    agent_env: dict[str, str] = field(default_factory=dict)  # more environment for the agent (NOTIFY_SOCKET)
    #: The interpreter the agent runs under (default this one): an installed release's
    #: ``<opt>/current/bin/python`` runs whatever release ``current`` points at.
    agent_python: str | None = None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # more sections, e.g. [firmware]
    #: ``[site]`` keys (e.g. {"max_current": 32}); None: no site limit.
    site: dict[str, Any] | None = None
    #: True: ``[grid_meter]`` reads the bench's grid meter with the Modbus driver (needs ``site``
    #: and a Modbus ``meter``); ``grid_meter_settings`` are more of its keys.
    grid_meter: bool = False
    grid_meter_settings: dict[str, Any] = field(default_factory=dict)
    bench_process: Process | None = None
    agent_process: Process | None = None
    bench: ControlClient | None = None
    link_port: int = 0
    meter_info: dict[str, Any] = field(default_factory=dict)  # the bench ready file's "meter"
    _runtime: Path | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.meter not in METER_KINDS:
            raise ValueError(f"meter must be one of {', '.join(METER_KINDS)}, not {self.meter!r}")
        if self.reader not in ("socket", "pcsc"):
            raise ValueError(f'reader must be "socket" or "pcsc", not {self.reader!r}')

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    @property
    def config_path(self) -> Path:
        return self.workdir / "ladda.toml"

    async def start(self) -> None:
        await self.start_bench()
        self.write_config()
        await self.start_agent()

    async def start_bench(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / "bench.ready"
        ready.unlink(missing_ok=True)
        control = self.workdir / "bench-control.sock"
        self.bench_process = Process(
            "bench",
            _python(
                "simulators", "bench",
                "--connectors", str(self.connectors),
                "--initial-energy-wh", str(self.initial_energy_wh),
                "--hardware-socket", str(self.state_dir / "bench.sock"),
                "--control", str(control),
                "--link-listen", "127.0.0.1:0",
                "--link-upstream", f"127.0.0.1:{self.csms.port}",
                "--ready-file", str(ready),
                "--meter-model", self.meter_model,
                "--meter-transport", "rtu" if self.meter == "rtu" else "tcp",
                "--wiring", "gpio" if self.wired else "none",
                "--reader", self.reader,
            ),
            self.workdir / "bench.log",
        )
        await self.bench_process.start()
        info = await self.bench_process.wait_ready_file(ready)
        self.link_port = int(info["link_port"])
        self.meter_info = dict(info["meter"])
        self.wiring_info = info.get("wiring")
        self.reader_info = dict(info["reader"])
        self.bench = ControlClient(control)

    def meter_section(self) -> list[str]:
        """``[meter]``: the Modbus driver pointed at the bench's meters, or the sim driver."""
        if self.meter == "sim":
            keys: dict[str, Any] = {"driver": "sim"}
        else:
            info = self.meter_info
            keys = {"driver": "modbus", "model": info["model"], "transport": info["transport"],
                    "unit_ids": info["unit_ids"]}
            if info["transport"] == "tcp":
                keys |= {"host": info["host"], "tcp_port": info["port"]}
            else:
                keys |= {k: info[k] for k in ("port", "baudrate", "parity", "stopbits")}
        timings = {k: v for k, v in TEST_METER_TIMINGS.items() if keys["driver"] == "modbus" or k != "timeout"}
        keys |= timings | self.meter_settings
        return ["[meter]", *(f"{key} = {json.dumps(value)}" for key, value in keys.items())]

    def site_sections(self) -> list[str]:
        """``[site]`` and ``[grid_meter]`` (the bench's grid meter, on the connector meters' line)."""
        lines = [] if self.site is None else ["[site]", *(f"{k} = {json.dumps(v)}" for k, v in self.site.items())]
        if self.grid_meter:
            info = self.meter_info
            if self.meter == "sim" or not info.get("grid_unit_id"):
                raise HarnessError("a grid meter needs the bench's Modbus meters (meter = \"tcp\" or \"rtu\")")
            keys: dict[str, Any] = {"driver": "modbus", "model": info["model"], "transport": info["transport"],
                                    "unit_id": info["grid_unit_id"], "poll_interval": 1.0, "fault_after": 3.0,
                                    "timeout": TEST_METER_TIMINGS["timeout"]}
            if info["transport"] == "tcp":
                keys |= {"host": info["host"], "tcp_port": info["port"]}
            else:
                keys |= {k: info[k] for k in ("port", "baudrate", "parity", "stopbits")}
            keys |= self.grid_meter_settings
            lines += ["[grid_meter]", *(f"{k} = {json.dumps(v)}" for k, v in keys.items())]
        return lines

    def hardware_sections(self) -> list[str]:
        """The contactor, pilot, lock, safety inputs, LEDs and display: on the bench's
        wiring, or the sim drivers. A section the test gives in ``sections`` replaces the
        wiring's (e.g. ``{"display": {"driver": "none"}}``: a charger without a display)."""
        if self.wiring_info is None:
            return [] if "lock" in self.sections else ["[lock]", f'driver = "{"sim" if self.lock else "none"}"']
        wiring = BenchWiring.for_connectors(int(self.wiring_info["connectors"]))
        lines: list[str] = []
        for section, keys in wiring.agent_sections(pwm_root=Path(self.wiring_info["pwm_root"]), lock=self.lock).items():
            if section in self.sections:
                continue  # written with the test's sections
            lines += [f"[{section}]", *(f"{key} = {json.dumps(value)}" for key, value in keys.items())]
        return lines

    def reader_section(self) -> list[str]:
        """``[reader]``: the PC/SC driver on the bench's virtual reader, or the sim reader."""
        if self.reader_info.get("kind") == "pcsc":
            return ["[reader]", 'driver = "pcsc"', f"name = {json.dumps(self.reader_info['name'])}"]
        return ["[reader]", 'driver = "sim"']

    def write_config(self) -> None:
        lines = [
            "[charge_point]",
            f'id = "{self.cp_id}"',
            'serial_number = "SIM-0001"',
            "[backend]",
            f'url = "{self.backend_url or f"{self.scheme or self.csms.scheme}://127.0.0.1:{self.link_port}/ocpp"}"',
            *(f"{key} = {json.dumps(value)}" for key, value in
              {"call_timeout": 10.0, "reconnect_initial": 0.2, "reconnect_max": 2.0, **self.backend}.items()),
            f"ping_timeout = {self.ping_timeout}",
            "[connectors]",
            f"count = {self.connectors}",
            f"max_current = {self.max_current}",
            *self.meter_section(),
            *self.hardware_sections(),
            *self.reader_section(),
            *self.site_sections(),
            "[state]",
            f'directory = "{self.state_dir}"',
            f'unfinished_transactions = "{self.unfinished_transactions}"',
            "[system]",
            f'clock = "{self.clock}"',
            *(f"{key} = {json.dumps(value)}" for key, value in self.sections.get("system", {}).items()),
            "[logging]",
            'level = "info"',
            'format = "json"',
            "[ocpp]",
        ]
        v201: dict[str, list[str]] = {}
        for key, value in self.ocpp.items():
            if "." in key:  # a 2.0.1-only variable, "Component.Variable[.Instance]": its own table
                component, variable = key.split(".", 1)
                v201.setdefault(component, []).append(f"{variable} = {json.dumps(value)}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
        for component, entries in v201.items():
            lines += [f"[ocpp201.{component}]", *entries]
        for section, keys in self.sections.items():
            if section == "system":
                continue  # merged into the [system] table above
            lines += [f"[{section}]", *(f"{key} = {toml_value(value)}" for key, value in keys.items())]
        self.config_path.write_text("\n".join(lines) + "\n")

    async def start_agent(self) -> None:
        runtime = self.runtime_dir()
        self.agent_process = Process(
            "agent",
            [self.agent_python or sys.executable, "-m", "agent", "run", "-c", str(self.config_path)],
            self.workdir / "agent.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1", "RUNTIME_DIRECTORY": str(runtime), **self.agent_env},
            # An installed release must import its own code, not a source tree in the cwd.
            cwd=self.workdir if self.agent_python else None,
        )
        await self.agent_process.start()

    async def stop_agent(self, sig: int = signal.SIGTERM) -> int | None:
        if self.agent_process is None:
            return None
        return await self.agent_process.stop(sig)

    @property
    def station_statuses(self) -> int:
        """Status reports of the charger as a whole at boot: OCPP 1.6's connector 0; none in 2.0.1."""
        return 0 if self.backend.get("ocpp") == "2.0.1" else 1

    async def wait_booted(self, since_seq: int = 0, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait for the agent's BootNotification and its first status reports (0..N),
        and for the security event every start sends (StartupOfTheDevice): a test that
        looks at what comes after the boot then sees only what it caused.

        Fails at once, with the agent's log, if the agent process exits meanwhile (a bad
        configuration exits with status 78 before it ever connects).
        """

        async def booted() -> list[dict[str, Any]]:
            await self.csms.request("wait_for", cp=self.cp_id, action="BootNotification", since_seq=since_seq, timeout=timeout)
            reply = await self.csms.request(
                "wait_for", cp=self.cp_id, action="StatusNotification", count=self.connectors + self.station_statuses,
                since_seq=since_seq, timeout=timeout,
            )
            await self.csms.request("wait_for", cp=self.cp_id, action="SecurityEventNotification",
                                    since_seq=since_seq, timeout=timeout)
            return list(reply["messages"])

        if self.agent_process is None or self.agent_process.proc is None:
            return await booted()  # an agent run some other way (e.g. in-process)
        waiting = asyncio.ensure_future(booted())
        exited = asyncio.ensure_future(self.agent_process.proc.wait())
        try:
            await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if not waiting.done():
            waiting.cancel()
            raise HarnessError(f"agent exited with status {self.agent_process.proc.returncode}:\n{self.agent_log()}")
        try:
            return waiting.result()
        except Exception as exc:
            raise HarnessError(f"agent did not boot: {exc}\n{self.agent_log()}") from exc

    async def bench_request(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.bench is not None
        return await self.bench.request(cmd, **args)

    async def screen(self) -> list[str]:
        """The display's rows as a driver reads them, trailing blanks cut (wired bench only).
        The agent rewrites a screen row by row, so a read can fall between two rows of one
        redraw: the rows are read until two reads in a row agree (a driver's eye does the same)."""
        rows: list[str] | None = None
        for _ in range(20):
            now = [line.rstrip() for line in (await self.bench_request("screen"))["lines"]]
            if now == rows:
                return now
            rows = now
            await asyncio.sleep(0.05)
        return rows or []

    async def wait_screen(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` is on the display (rows joined by newlines); the whole screen."""
        reply = await self.bench_request("wait_for", field="screen", value=text, op="contains", timeout=timeout)
        return str(reply["value"])

    async def stop(self) -> None:
        await self.stop_agent()
        if self.bench is not None:
            await self.bench.close()
        if self.bench_process is not None:
            await self.bench_process.stop()
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._runtime = None

    def runtime_dir(self) -> Path:
        """The agent's ``$RUNTIME_DIRECTORY``: what systemd gives the service (``/run/ladda``,
        a tmpfs kept across restarts until a reboot), one per charger, kept across the
        agent's kills and removed by :meth:`stop`. On a tmpfs where there is one, so that
        the disk-write benchmark sees what a charger's card would."""
        if self._runtime is None:
            shm = Path("/dev/shm")
            tmpfs = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
            self._runtime = Path(tempfile.mkdtemp(prefix=f"ladda-run-{self.cp_id}-", dir=tmpfs or self.workdir))
        return self._runtime

    def agent_log(self) -> str:
        return _tail(self.workdir / "agent.log", 80)
