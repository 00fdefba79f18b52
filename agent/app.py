"""Wiring: builds the agent from its settings and runs it under one TaskGroup.

Order matters for safety: the state database opens first (a charger that cannot
record must not charge), then the hardware with its outputs driven safe, then the
charger runtime, and only then the backend link: charging never waits for a backend.
On the way out, the hardware closes (contactors open) whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import structlog

from drivers.protocols import DeviceError

from .charger import ChargerRuntime, RestartRequested
from .hardware import Hardware, build_hardware
from .journal import Journal
from .ocpp16.configuration import Configuration
from .ocpp16.session import Ocpp16Link
from .settings import Settings
from .store import ChargerState, Database

log = structlog.get_logger(__name__)

HARDWARE_RETRY_S = 2.0


async def _open_hardware(hardware: Hardware) -> None:
    """Open every device; keep trying while the failure is one that can pass."""
    reported: str | None = None
    while True:
        try:
            await hardware.open()
            if reported:
                log.info("hardware ready")
            return
        except DeviceError as exc:
            if not exc.retry:
                raise
            if str(exc) != reported:
                log.warning("hardware not ready; retrying", error=str(exc))
                reported = str(exc)
            await asyncio.sleep(HARDWARE_RETRY_S)


async def run_agent(settings: Settings, state_dir: Path) -> RestartRequested | None:
    """Run until cancelled (SIGTERM) or until a reset asks for a restart."""
    db = Database(state_dir)
    db.open()
    journal = Journal(db)
    state = ChargerState(db)
    config = Configuration(settings.ocpp, state, settings.connectors.count)
    hardware = build_hardware(settings, state_dir)
    runtime = ChargerRuntime(
        hardware=hardware, config=config, db=db, journal=journal, state=state,
        max_current=settings.connectors.max_current,
    )
    link = Ocpp16Link(settings, runtime, journal, db, config)
    runtime.uplink = link
    log.info("starting", charge_point=settings.charge_point.id, connectors=settings.connectors.count,
             state_dir=str(state_dir), backend=link.url)
    restart: RestartRequested | None = None
    try:
        async with asyncio.TaskGroup() as tg:
            for service in hardware.services:
                tg.create_task(service(), name="hardware-service")
            await _open_hardware(hardware)
            tg.create_task(runtime.run(), name="charger")
            await runtime.ready.wait()
            log.info("charger ready")
            tg.create_task(link.run(), name="ocpp-link")
    except* RestartRequested as group:
        restart = _first(group, RestartRequested)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runtime.checkpoint_running(), 3.0)
        await hardware.close()
        db.close()
    return restart


def _first(error: BaseException, kind: type[RestartRequested]) -> RestartRequested | None:
    """The first ``kind`` inside (possibly nested) exception groups."""
    if isinstance(error, kind):
        return error
    for inner in getattr(error, "exceptions", ()):
        found = _first(inner, kind)
        if found is not None:
            return found
    return None


def serve(settings: Settings, state_dir: Path) -> int:
    """The ``ladda run`` process: run, and carry out a reset by restarting."""

    async def main() -> RestartRequested | None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await run_agent(settings, state_dir)
        except asyncio.CancelledError:
            log.info("stopped")
            return None

    restart = asyncio.run(main())
    if restart is None:
        return 0
    if restart.hard and settings.system.reboot_command:
        log.warning("hard reset: rebooting the controller", command=list(settings.system.reboot_command))
        with contextlib.suppress(OSError):
            subprocess.run(list(settings.system.reboot_command), check=False)
        return 0
    log.warning("restarting the agent", reason=str(restart))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "agent", *sys.argv[1:]])
    return 0  # not reached
