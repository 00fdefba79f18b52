"""Wiring: builds the agent from its settings and runs it under one TaskGroup.

Order matters for safety: the state database opens first (a charger that cannot
record must not charge), then the hardware with its outputs driven safe, then the
charger runtime, and only then the backend link: charging never waits for a backend.
On the way out, whatever ended the run, contactors open and offers are withdrawn while
the transports still work, then the journal is checkpointed and cable locks released.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial
from pathlib import Path

import structlog

from drivers.protocols import DeviceError

from . import __version__, clock, heap, security_events
from .ack_notes import notes_path, runtime_dir
from .charging_profiles import Electrical
from .charger import ChargerRuntime, MeterPolicy, RestartRequested
from .diagnostics import Diagnostics
from .errors import leaves
from .certificates import MANUFACTURER_ROOT
from .firmware.layout import Layout
from .firmware.updater import FirmwareUpdater, on_trial
from .hardware import Hardware, build_hardware
from .housekeeping import JournalKeeper
from .journal import FIRMWARE, SIDE_FILE_SUFFIX, Journal
from .live_limits import live_path
from .runtime_settings.configuration import Configuration
from .screen import DriverFeedback
from .security_log import SecurityLog
from .link.connection import BackendLink
from .settings import EX_CONFIG, Settings
from .site_limiter import site_limiter
from .store import ChargerState, Database, StoreError
from .tariff import price_lines
from .systemd import Notifier, supervise
from .tariff import Tariff, price_text
from .tariff import money as money_text

log = structlog.get_logger(__name__)

HARDWARE_RETRY_S = 2.0
#: Between the two tries of the Hard Reset's reboot command.
REBOOT_RETRY_S = 3.0
#: Whether free connectors take new sessions while a firmware install waits for the
#: running ones to end (a 2.0.1 variable; False, its default, under 1.6).
ALLOW_NEW_SESSIONS = "ChargingStation.AllowNewSessionsPendingFirmwareUpdate"
#: The least free space a firmware download leaves on the journal's disk.
FIRMWARE_FREE_MARGIN = 16 * 2**20
#: The longest the switch to a new release waits for its firmware statuses to reach the
#: backend (offline, it goes on: they are journaled and sent after the restart).
FIRMWARE_TOLD_S = 10.0
#: Where make install puts the releases (the root installer's side; the agent only uses
#: the state directory's firmware/ files).
INSTALLED_OPT = Path("/opt/ladda")


async def _open_hardware(hardware: Hardware, notifier: Notifier) -> None:
    """Open every device; keep trying while the failure is one that can pass (telling
    systemd that the start is still going on, and why)."""
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
            notifier.waiting(str(exc), HARDWARE_RETRY_S)
            await asyncio.sleep(HARDWARE_RETRY_S)


class PowerFailing(Exception):
    """The supply is failing: the transactions were ended (PowerLoss); leave the run loop."""


async def _power_watch(failing: asyncio.Event, runtime: ChargerRuntime, grace: float) -> None:
    await failing.wait()
    await runtime.power_down(grace)
    raise PowerFailing()


async def run_agent(
    settings: Settings, state_dir: Path, power_failing: asyncio.Event | None = None,
    notifier: Notifier | None = None,
) -> RestartRequested | None:
    """Run until cancelled (SIGTERM), until a reset asks for a restart, or until the
    supply fails (``power_failing`` set, from SIGPWR). ``notifier`` hears of readiness
    and health (systemd; a silent one by default)."""
    notifier = notifier or Notifier({})
    started = time.monotonic()
    charger_clock = clock.install(clock.Clock(settings.system.clock))
    log.info("clock", mode=settings.system.clock, source=charger_clock.source)
    db = Database(state_dir)
    db.open()
    db.use_small_pages()
    journal = Journal(db, settings.state.sample_sync_seconds, db.path.with_name(db.path.name + SIDE_FILE_SUFFIX),
                      notes_path(db.path, runtime_dir()))
    journal.adopt_older_entries()  # a rollback's release may have journaled without ids and numbers
    security_log_bytes = int(settings.logging.security_file_mb * 2**20)
    if security_log_bytes > 0:
        journal.security_event_heard = SecurityLog(state_dir, security_log_bytes).append
    state = ChargerState(db)
    config = Configuration(settings.ocpp, state, settings.connectors.count)
    hardware = build_hardware(settings, state_dir)
    trial = on_trial(Layout(INSTALLED_OPT, state_dir), __version__)
    if trial:
        log.warning("this release is on trial after a firmware update: connectors held Unavailable until it is "
                    "confirmed", version=__version__)
    runtime = ChargerRuntime(
        hardware=hardware, config=config, db=db, journal=journal, state=state,
        max_current=settings.connectors.max_current, recovery=settings.state.unfinished_transactions,
        meter=MeterPolicy(settings.meter.poll_interval, settings.meter.fault_after,
                          settings.meter.on_failure == "stop"),
        held=trial,
        electrical=Electrical(settings.connectors.phases, settings.connectors.voltage),
        live_limits=live_path(db.path, runtime_dir()),
        feedback=_driver_feedback(settings, hardware),
    )
    runtime.tariff = settings.tariff.tariff() if settings.tariff is not None else None
    if runtime.tariff is not None:
        log.info("local tariff", prices="; ".join(price_lines(runtime.tariff, clock.current().now())),
                 timezone=str(runtime.tariff.zone))
    running = _running_marker(db.path)
    abrupt = running is not None and running.exists()
    if abrupt:
        log.warning("the previous run of the agent ended abruptly (killed, or crashed)")
    if running is not None:
        with contextlib.suppress(OSError):
            running.touch()
    start = "FirmwareUpdate" if trial else "Watchdog" if abrupt else "PowerUp"
    link = _backend_link(settings, runtime, journal, db, config, state, Diagnostics(settings, state_dir, db, started),
                         start)
    runtime.uplink = link
    link.firmware = _firmware_updater(settings, state_dir, db, journal, runtime, link)
    _record_start(db, journal, start)
    log.info("starting", charge_point=settings.charge_point.id, connectors=settings.connectors.count,
             state_dir=str(state_dir), backend=link.url)
    restart: RestartRequested | None = None
    try:
        # Transports (bus pollers, the bench link) live in an outer group so that they still
        # work while the charger is made safe on the way out, whatever ended it.
        async with asyncio.TaskGroup() as transports:
            services = [transports.create_task(service(), name="hardware-service") for service in hardware.services]
            try:
                await _open_hardware(hardware, notifier)
                # The building's share: the limiter hands the limit core its first (safe)
                # shares when it is made, before a transaction resumed at start-up sees an offer.
                site = site_limiter(settings, runtime, hardware.grid_meter)
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(runtime.run(), name="charger")
                    await runtime.ready.wait()
                    log.info("charger ready")
                    if site is not None:
                        tg.create_task(site.run(), name="site-limit")

                    async def status_line() -> str:
                        queued = await db.run(journal.pending_count)
                        link_state = ("backend online" if link.online else "backend offline") + link.profile_note
                        line = f"connectors {runtime.summary()}; {link_state}; {queued} messages queued"
                        if getattr(hardware, "display", None) is None:  # what a display would show
                            line += f"; screen {runtime.feedback.status_text()}"
                        return line

                    try:
                        first_status = await status_line()
                    except Exception as exc:  # noqa: BLE001 - readiness never depends on the status line
                        log.warning("status line unavailable", error=str(exc) or type(exc).__name__)
                        first_status = f"connectors {runtime.summary()}; status unavailable"
                    notifier.ready(first_status)
                    heap.release_freed()  # what start-up freed, before the charger idles for months
                    tg.create_task(supervise(notifier, runtime.healthy, status_line), name="systemd-watchdog")
                    # The link's jobs (a diagnostics upload) belong to this group: they outlive
                    # a reconnect, and end with the charger.
                    tg.create_task(link.run(tg), name="ocpp-link")
                    tg.create_task(link.firmware.run(), name="firmware-updates")
                    keeper = JournalKeeper(
                        db, journal, int(settings.state.journal_max_mb * 2**20), settings.state.keep_delivered_days,
                        wake=link.wake,
                    )
                    tg.create_task(keeper.run(), name="journal-housekeeping")
                    tg.create_task(keeper.keep_synced(), name="journal-sync")
                    if power_failing is not None:
                        tg.create_task(
                            _power_watch(power_failing, runtime, settings.system.power_fail_grace), name="power-watch"
                        )
            finally:
                await _make_safe(hardware, runtime)
                for task in services:
                    task.cancel()
    except* RestartRequested as group:
        restart = next((e for e in leaves(group) if isinstance(e, RestartRequested)), None)  # type: ignore[assignment]
    except* PowerFailing:
        log.warning("stopped for a power failure")
    finally:
        await hardware.close()
        db.close()
        if running is not None:
            with contextlib.suppress(OSError):
                running.unlink()
    return restart


def _record_start(db: Database, journal: Journal, start: str) -> None:
    """The security events of a start (before the backend link runs, in the journal, so
    they reach the backend whenever it is reachable): the device started, and a release
    on trial after a firmware update was installed. A reset the backend asked for was
    recorded (ResetOrReboot) when it was carried out. A journal that cannot take them
    does not keep the charger from starting."""
    why = {"FirmwareUpdate": "after a firmware update", "Watchdog": "after the previous run ended abruptly",
           "PowerUp": "power up, or a restart of the service"}.get(start, start)
    try:
        journal.record_security_event(security_events.STARTUP_OF_THE_DEVICE, f"ladda {__version__} started: {why}")
        if start == "FirmwareUpdate":
            journal.record_security_event(security_events.FIRMWARE_UPDATED, f"now running ladda {__version__}")
    except StoreError as exc:
        log.error("start not journaled as a security event", error=str(exc))


def _running_marker(database: Path) -> Path | None:
    """A file that exists while the agent runs, in the runtime directory (a tmpfs): found
    at start, it says the previous run ended abruptly (a kill, a crash, the watchdog)
    rather than with the system (a power cut or a reboot empties the tmpfs)."""
    notes = notes_path(database, runtime_dir())
    return None if notes is None else notes.with_suffix(".running")


def _driver_feedback(settings: Settings, hardware: Hardware) -> DriverFeedback:
    """The screen: its languages, the operator to call, and the local tariff's prices
    (when the configuration has a local tariff: agent.tariff)."""
    tariff = settings.tariff.tariff() if settings.tariff is not None else None
    price = money = None
    if tariff is not None:
        price = partial(price_text, tariff)
        money = partial(_money, tariff=tariff)
    return DriverFeedback(range(1, settings.connectors.count + 1), settings.screen, settings.operator,
                          price=price, money=money)


def _money(amount: Decimal, tariff: Tariff) -> str:
    return money_text(amount, tariff)


def _backend_link(settings: Settings, runtime: ChargerRuntime, journal: Journal, db: Database,
                  config: Configuration, state: ChargerState, diagnostics: Diagnostics, start: str) -> BackendLink:
    """The link in the configured OCPP version. Only that version's adapter is imported
    (with its library modules and schemas): a charger carries one protocol in memory.
    ``start``: why this run started, as far as the agent can tell (2.0.1 says it at boot)."""
    if settings.backend.ocpp == "2.0.1":
        from .ocpp201 import CORE_RULES
        from .ocpp201.session import DRAIN_BATCH, Ocpp201Link

        runtime.adopt(CORE_RULES)
        journal.sending_window = DRAIN_BATCH  # seqNo loaded for sending never changes (Journal.shed_to)
        return Ocpp201Link(settings, runtime, journal, db, config, state, start, diagnostics)
    from .ocpp16.session import Ocpp16Link

    return Ocpp16Link(settings, runtime, journal, db, config, diagnostics)


def _firmware_updater(settings: Settings, state_dir: Path, db: Database, journal: Journal,
                      runtime: ChargerRuntime, link: BackendLink) -> FirmwareUpdater:
    """UpdateFirmware jobs: their statuses and security events go through the journal
    (they must reach the backend across the restart an update makes)."""

    async def report(status: str, request_id: int | None) -> None:
        await db.run(journal.record_firmware_status, status, request_id)
        link.wake()

    async def security_event(kind: str, tech_info: str) -> None:
        await db.run(journal.record_security_event, kind, tech_info)
        link.wake()

    async def told() -> None:
        """Until no firmware status waits to be sent, or FIRMWARE_TOLD_S (offline: go on)."""
        deadline = time.monotonic() + FIRMWARE_TOLD_S
        while time.monotonic() < deadline:
            pending = await db.run(journal.pending, 0, 200)
            if not any(entry.kind == FIRMWARE for entry in pending):
                return
            await asyncio.sleep(0.1)

    return FirmwareUpdater(
        Layout(INSTALLED_OPT, state_dir), __version__, report=report, download=_firmware_download(settings, db),
        security_event=security_event, release=lambda: runtime.hold(False), busy=runtime.busy,
        hold=lambda: runtime.hold_until_idle(allow_new_sessions=runtime.config.bool(ALLOW_NEW_SESSIONS)),
        signing_ca=settings.firmware.signing_ca,
        extra_roots=lambda: link.certificates.roots(MANUFACTURER_ROOT),  # installed over OCPP
        told=told,
        install_timeout=settings.firmware.install_timeout,
    )


def _firmware_download(settings: Settings, db: Database) -> Callable[[str, Path], Awaitable[int]]:
    """Downloads capped at ``[firmware] max_download_mb`` that leave the journal the room
    it may still need: ``[state] journal_max_mb`` less what the database takes already,
    and never less than FIRMWARE_FREE_MARGIN."""
    cap = int(settings.firmware.max_download_mb * 2**20)
    budget = int(settings.state.journal_max_mb * 2**20)

    async def download(url: str, dest: Path) -> int:
        from . import transfer  # the FTP and HTTP clients, loaded when a download runs

        used = sum(p.stat().st_size for p in (db.path, db.path.with_name(db.path.name + "-wal")) if p.exists())
        keep = max(FIRMWARE_FREE_MARGIN, budget - used)
        return await transfer.download(url, dest, max_bytes=cap, keep_free=keep)

    return download


async def _make_safe(hardware: Hardware, runtime: ChargerRuntime) -> None:
    """On the way out: contactors open and offers withdrawn first, then the running
    transactions' meter values noted, and only then the cable locks released."""

    async def attempt(what: str, action: Awaitable[object], timeout: float = 2.0) -> None:
        try:
            await asyncio.wait_for(action, timeout)
        except Exception as exc:  # noqa: BLE001 - keep going: every output gets its chance
            log.error("could not make safe", device=what, error=str(exc) or type(exc).__name__)

    for n, contactor in hardware.contactors.items():
        await attempt(f"contactor {n}", contactor.switch(False))
    for n, pilot in hardware.pilots.items():
        await attempt(f"pilot {n}", pilot.offer(0.0))
    await attempt("journal checkpoint", runtime.checkpoint_running(), 3.0)
    for n, lock in hardware.locks.items():
        await attempt(f"cable lock {n}", lock.set_locked(False))


def _reboot(command: list[str], attempts: int = 2, pause: float = REBOOT_RETRY_S) -> bool:
    """Run the configured reboot command; False (and why, in the log) if it failed.

    Tried twice: systemd 252's logind refuses a reboot ("Stale file handle") when a login
    session comes or goes while polkit is asked, as a technician's ssh login may. The
    command does not inherit NOTIFY_SOCKET: only the agent speaks to systemd."""
    log.warning("hard reset: rebooting the controller", command=command)
    env = {key: value for key, value in os.environ.items() if key != "NOTIFY_SOCKET"}
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(pause)
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.error("reboot command failed", command=command, attempt=attempt, error=str(exc))
            continue
        if result.returncode == 0:
            return True
        log.error("reboot command failed", command=command, attempt=attempt, exit_code=result.returncode,
                  stderr=result.stderr.strip()[-500:])
    log.error("could not reboot; restarting the agent instead", command=command)
    return False


class StartFailed(Exception):
    """The agent cannot run here (state directory, hardware); the message says why.
    ``permanent``: only devices that cannot work as configured (a missing library, an
    unknown pin factory, the wrong model), which no restart mends."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


#: The signals that ask the service to stop (systemctl stop sends SIGTERM; a console, SIGINT).
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


class _Stopped(Exception):
    """A stop signal arrived while a reset's reboot command ran (the event loop is gone)."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signal.Signals(signum).name)


def serve(settings: Settings, state_dir: Path) -> int:
    """The ``ladda run`` process: run, and carry out a reset by restarting.

    A stop signal ends the process at any moment, also during a reset (under systemd,
    ``systemctl stop`` would otherwise end in SIGKILL): the reset's restart or reboot is
    then dropped. Between the end of the run and the re-exec the stop signals are
    blocked, so one that arrives then stays pending for the new image, which unblocks
    them once its handlers are in place and stops at once."""

    notifier = Notifier()
    stop_signals = set(STOP_SIGNALS)

    async def main() -> RestartRequested | None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        stopping = False

        def stop() -> None:
            # Only the first signal cancels: a second one must not cut the safe shutdown short.
            nonlocal stopping
            if stopping:
                log.warning("already stopping; opening contactors and closing the journal first")
                return
            stopping = True
            log.info("stopping")
            notifier.stopping()
            task.cancel()

        for sig in stop_signals:
            loop.add_signal_handler(sig, stop)
        # A restart by re-exec keeps a stop signal that came during it pending: take it now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        # SIGPWR: what init and UPS daemons send when the supply is about to fail.
        power_failing = asyncio.Event()
        loop.add_signal_handler(signal.SIGPWR, power_failing.set)
        try:
            restart = await run_agent(settings, state_dir, power_failing, notifier)
            if restart is not None:
                # From here on a stop signal waits (see above); one caught before the
                # block is seen once the loop has run its handler.
                signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
                await asyncio.sleep(0.01)
            if stopping:
                # The TaskGroup lets a reset's RestartRequested win over the cancellation.
                log.info("stopped", dropped_reset=restart is not None)
                return None
            return restart
        except asyncio.CancelledError:
            log.info("stopped")
            return None
        except Exception as exc:
            causes = leaves(exc)
            if causes and all(isinstance(e, (StoreError, DeviceError)) for e in causes):
                permanent = all(isinstance(e, DeviceError) and not e.retry for e in causes)
                raise StartFailed("; ".join(str(e) for e in causes), permanent) from None
            raise

    try:
        restart = asyncio.run(main())
    except StartFailed as exc:
        log.error("cannot run", error=str(exc))
        # 78 (EX_CONFIG): the unit's RestartPreventExitStatus keeps a charger whose
        # configuration asks for what this controller lacks from restarting in a loop.
        return EX_CONFIG if exc.permanent else 1
    if restart is None:
        return 0
    try:
        if restart.hard and settings.system.reboot_command:
            # The loop is gone: a stop signal now interrupts the command (and kills it).
            for sig in stop_signals:
                signal.signal(sig, _raise_stopped)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
            rebooted = _reboot(list(settings.system.reboot_command))
            signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
            if rebooted:
                return 0
        log.warning("restarting the agent", reason=str(restart))
        notifier.send("STATUS=restarting for a reset")
        sys.stdout.flush()
        sys.stderr.flush()
    except _Stopped as exc:
        log.warning("stopped during a reset; not restarting", signal=str(exc))
        return 0
    os.execv(sys.executable, [sys.executable, "-m", "agent", *sys.argv[1:]])
    return 0  # not reached
