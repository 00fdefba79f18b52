"""The connection to the backend, whichever OCPP version it speaks: connect, secure,
boot, keep alive, reconnect.

:class:`BackendLink` keeps the charger connected for as long as the agent runs: each
websocket connection gets a fresh endpoint (the adapter's handlers) and its own TaskGroup,
so a dropped connection cancels all of its work at once and nothing waits on a dead
socket. The adapters (``agent.ocpp16``, ``agent.ocpp201``) subclass it and say how their
version spells the boot, the heartbeat and the journal's entries; the reconnect backoff,
the security profiles, the boot retry rules and learning the backend's time are the
same for both, and live here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import CloseCode

from drivers.cancellation import raise_if_cancelled  # noqa: F401 - the adapters take it from here

from .. import clock, security_events
from ..certificates import CSMS_ROOT, CertificateStore
from ..certificates.store import DIRECTORY as CERTIFICATES_DIRECTORY
from ..errors import leaves
from ..journal import Journal
from ..redaction import register_secret
from ..runtime_settings.configuration import Configuration
from ..runtime_settings.keys import KEYS
from ..settings import BackendSettings, Settings
from ..store import Database, StoreError
from .profiles import (ConnectionProfile, ConnectionProfiles, Prerequisites, has_client_certificate,
                       has_csms_root)
from .own_certificate import own_certificate_signing, tls_refused
from .rpc import CallFailed, Endpoint
from .security import (
    TLS_PROFILES,
    SecurityError,
    describe_closed_handshake,
    describe_tls_failure,
    link_security,
    security_event_for,
)
from .throttle import Throttle
from .trust import InstalledRootsNotice, ca_file_certificates, verified_chain

if TYPE_CHECKING:
    from ..charger import ChargerRuntime
    from ..firmware.updater import FirmwareUpdater

#: Handshakes in a row that end like a refused client certificate before a renewed pair
#: on trial gives way to the previous one.
REFUSALS_TO_GIVE_WAY = 3

log = structlog.get_logger("agent.link")


class BackendLink:
    """Keeps the charger connected to its backend; the adapter says what flows over it."""

    #: The websocket subprotocol the adapter speaks ("ocpp1.6", "ocpp2.0.1").
    SUBPROTOCOL: ClassVar[str]
    #: How the version takes a backend-set HTTP Basic password: as written (2.0.1
    #: BasicAuthPassword) or in the 1.6 whitepaper's forms (hexadecimal digits decoded).
    PASSWORDS_AS_WRITTEN: ClassVar[bool] = False

    def __init__(self, settings: Settings, runtime: ChargerRuntime, journal: Journal, db: Database,
                 config: Configuration) -> None:
        self.settings = settings
        self.runtime = runtime
        self.journal = journal
        self.db = db
        self.config = config
        self._jobs: asyncio.TaskGroup | None = None
        self._cp: Any = None
        #: Bad input is logged once a minute per kind across connections, not per connection.
        self.throttle = Throttle()
        self._accepted = False
        self._booted = False
        #: The backend's last answer to a BootNotification on this connection (None: none
        #: yet): a Pending charger may send what the backend asks for, a Rejected one not.
        self.registration: str | None = None
        self._wake = asyncio.Event()
        self._boot_now = asyncio.Event()
        #: Whether this attempt's profile reached a backend that accepted the charger.
        self._reached = False
        #: The connection profiles and the order they are tried in (fixed at start: a new
        #: NetworkConfigurationPriority applies at the next reset, B10).
        self.profiles = ConnectionProfiles(
            ConnectionProfile.from_file(settings.backend), config.state,
            config.list("OCPPCommCtrlr.NetworkConfigurationPriority"),
            config.int("OCPPCommCtrlr.NetworkProfileConnectionAttempts"))
        if self.profiles.put_aside:
            config.restore_default("OCPPCommCtrlr.NetworkConfigurationPriority")  # the database has it already
        config.add_check("OCPPCommCtrlr.NetworkConfigurationPriority", self._check_priority)
        #: The [backend] settings of the active connection profile.
        self.backend: BackendSettings = self.profiles.active.applied_to(settings.backend)
        self._announced: ConnectionProfile | None = None
        self.connected = asyncio.Event()
        self._redial = asyncio.Event()
        #: UpdateFirmware jobs (set by the agent before run()).
        self.firmware: FirmwareUpdater | None = None
        #: The root certificates the backend installs (beside the database, in the state
        #: directory); the CSMS roots are trusted by every connection from the next on.
        self.certificates = CertificateStore(
            db.path.parent / CERTIFICATES_DIRECTORY,
            max_entries=lambda: config.int("CertificateStoreMaxLength"),
            csms_root_needed=lambda: self.backend.security_profile in TLS_PROFILES and self.backend.ca_file is None,
            client_certificate=settings.backend.client_certificate,
            server_chain=lambda: self.server_chain,
            fixed_roots=lambda: ca_file_certificates(self.backend.ca_file),
        )
        #: The current connection's verified server chain (leaf first; empty when not on TLS).
        self.server_chain: list[Any] = []
        self._roots_notice = InstalledRootsNotice()
        self.certificates.load()
        #: The charger's own client certificate and the requests to renew it (A02/A03).
        self.own_certificate, self.signing = own_certificate_signing(self)
        config.bind_backend_security(self.backend.security_profile, settings.backend.authorization_key,
                                     self.PASSWORDS_AS_WRITTEN)
        config.subscribe(self._on_config_change)
        journal.online = lambda: self.online

    @property
    def url(self) -> str:
        """The websocket URL of the active connection profile, with the charge point id."""
        return self.backend.url.rstrip("/") + "/" + self.settings.charge_point.id

    @property
    def profile_note(self) -> str:
        """For the status line: which profile the backend set is in use ("" for the file's)."""
        profile = self.profiles.active
        if profile.source == "file":
            return ""
        return f" (connection profile slot {profile.slot}, security profile {profile.security_profile})"

    # ------------------------------------------------------------ what the adapter says
    def _endpoint(self, ws: ClientConnection) -> Endpoint:
        """The adapter's handlers for one connection."""
        raise NotImplementedError

    async def _operate(self, cp: Any, tg: asyncio.TaskGroup) -> None:
        """Everything one connection does once it is open (boot first)."""
        raise NotImplementedError

    def _boot_request(self) -> Any:
        raise NotImplementedError

    def _heartbeat_request(self) -> Any:
        raise NotImplementedError

    def _sign_certificate_request(self, csr: str) -> Any:
        """SignCertificate for the charger's own client certificate, with this CSR."""
        raise NotImplementedError

    def _before_first_connection(self) -> None:
        """Work left by an earlier run that waits for a connection (none by default)."""

    def _on_connection_end(self) -> None:
        """A connection ended (whatever ended it)."""

    def _on_registration(self) -> None:
        """The backend answered a BootNotification (``registration`` holds its status)."""

    def _on_booted(self) -> None:
        """The backend accepted this run's boot (once per process)."""
        if self.firmware is not None:
            self.firmware.booted()  # a release on trial has proved itself

    # ------------------------------------------------------------ what the runtime sees
    @property
    def online(self) -> bool:
        return self._cp is not None and self._accepted

    def wake(self) -> None:
        self._wake.set()

    @property
    def booted(self) -> bool:
        """BootNotification was Accepted since this process started."""
        return self._booted

    # ------------------------------------------------------------ connection loop
    async def run(self, jobs: asyncio.TaskGroup) -> None:
        """Stay connected until cancelled; ``jobs`` (the agent's TaskGroup) owns the work
        the backend starts that must outlive a connection."""
        self._jobs = jobs
        jobs.create_task(self.signing.run(), name="certificate-signing")
        self._before_first_connection()
        failures = handshake_refusals = 0
        last_problem: str | None = None
        while True:
            redial = opened = False
            self._reached = False
            try:
                # Built per attempt: a renewed certificate or a new AuthorizationKey applies at once.
                self._use(self.profiles.active)
                key = self.config.authorization_key()
                if key:
                    register_secret(key.decode("utf-8", "replace"))
                    register_secret(key.hex())
                roots = self.certificates.roots(CSMS_ROOT)
                security = link_security(self.backend, self.settings.charge_point.id, key, roots,
                                         self.own_certificate.renewed())
                async with connect(
                    self.url,
                    subprotocols=[self.SUBPROTOCOL],  # type: ignore[list-item]
                    additional_headers=security.headers,
                    ssl=security.ssl,
                    proxy=None,
                    open_timeout=self.backend.call_timeout,
                    ping_interval=self.config.int("WebSocketPingInterval") or None,
                    ping_timeout=self.settings.backend.ping_timeout,
                    # A dead link cannot complete a closing handshake: do not wait long for it.
                    close_timeout=min(5.0, self.settings.backend.ping_timeout),
                ) as ws:
                    opened = True
                    if ws.subprotocol != self.SUBPROTOCOL:
                        raise ConnectionError(f"backend did not select subprotocol {self.SUBPROTOCOL}")
                    log.info("connected to backend", url=self.url, security_profile=security.profile,
                             slot=self.profiles.active.slot)
                    if security.ssl is not None:
                        self.server_chain = verified_chain(ws.transport.get_extra_info("ssl_object"))
                        self._roots_notice.connected(roots, self.backend.ca_file)
                    if security.profile == 3:
                        handshake_refusals = 0
                        await asyncio.to_thread(self.own_certificate.connected)  # a renewed pair proved itself
                    failures, last_problem = 0, None
                    if self._booted:  # a reconnect: no BootNotification to wait for
                        await self._profile_proven()
                    await self._serve(ws)
            except Exception as exc:  # noqa: BLE001 - the link must survive anything and retry
                redial = any(isinstance(e, Redial) for e in leaves(exc))
                problem = describe(exc, replace(self.settings, backend=self.backend), handshake=not opened)
                event = None
                if redial:
                    log.info("reconnecting with the new authorization key", url=self.url)
                elif problem != last_problem:
                    log.warning("backend link down", url=self.url, problem=problem)
                    last_problem = problem
                    # A security event once per change of problem, like the warning: a
                    # backend refusing every attempt for a week is one event, not thousands.
                    event = next(filter(None, map(security_event_for, leaves(exc))), None)
                refused = refused_by_backend(exc)
                # The attempt's own profile (the backend may have raised it to 3). A renewed pair
                # on trial gives way only after REFUSALS_TO_GIVE_WAY handshakes in a row ended
                # like a refusal: one reset is the network's, not the backend's verdict.
                if not opened and self.backend.security_profile == 3 and tls_refused(problem):
                    handshake_refusals += 1
                    if handshake_refusals >= REFUSALS_TO_GIVE_WAY:
                        handshake_refusals = 0
                        await asyncio.to_thread(self.own_certificate.refused)
                if event is not None:
                    await self.security_event(*event)
            else:
                refused = False
            finally:
                self._cp = None
                self._accepted = False
                self.server_chain = []
                self.connected.clear()
                if opened:
                    self._on_connection_end()
            if redial:
                continue  # the backend asked for it (a new AuthorizationKey): no failure, no wait
            failures += 1
            # A backend that answered the handshake without OCPP (no subprotocol) counts too.
            if not self._reached and await self._next_profile_after_failure():
                failures, last_problem = 0, None
                continue
            # A backend that refuses this charger (HTTP 401/403/404) will not change its mind
            # in a second: ask again, but only at the slowest pace. A TLS failure is retried
            # like any link failure, within the connection profiles' rotation, which never
            # goes below the security profile an upgrade made final (agent/link/profiles.py).
            await asyncio.sleep(self.settings.backend.reconnect_max if refused else self._backoff(failures))

    def _use(self, profile: ConnectionProfile) -> None:
        """Make ``profile`` the one this attempt uses; say so once per change, with why."""
        self.backend = profile.applied_to(self.settings.backend)
        self.config.use_security_profile(profile.security_profile)
        if profile != self._announced:
            log.info("using connection profile", slot=profile.slot, source=profile.source, url=self.url,
                     security_profile=profile.security_profile, reason=self.profiles.reason)
            self._announced = profile

    async def _next_profile_after_failure(self) -> bool:
        """Count a failed attempt against the active profile; True when the link moved on to
        the next one (B10: after NetworkProfileConnectionAttempts). An upgrade that never
        connected is a security event: the backend asked for more security than it got."""
        on_trial = self.profiles.on_trial
        moved = self.profiles.failed()
        if moved is None:
            return False
        left, now = moved
        log.warning("connection profile failed; trying the next", left=left.describe(), next=now.describe(),
                    attempts=self.profiles.attempts)
        if on_trial:
            await self.security_event(
                "ReconfigurationOfSecurityParameters",
                f"security profile {left.security_profile} ({left.describe()}) did not connect after "
                f"{self.profiles.attempts} attempt(s); falling back to {now.describe()}", send=True)
        return True

    # ------------------------------------------------------------ profiles the backend sets
    def _check_priority(self, value: object) -> str | None:
        """NetworkConfigurationPriority's check beyond the table's (set slots, levels, prerequisites)."""
        assert isinstance(value, tuple)
        return self.profiles.check_priority(value, self.prerequisites())

    def prerequisites(self) -> Prerequisites:
        """What the charger holds now for each security profile (A05's prerequisites)."""
        backend = self.settings.backend
        return Prerequisites(csms_root=has_csms_root(backend, self.certificates.roots(CSMS_ROOT)),
                             client_certificate=(has_client_certificate(backend)
                                                 or self.own_certificate.renewed() is not None),
                             password=bool(self.config.authorization_key()))

    async def set_network_profile(self, profile: ConnectionProfile) -> str | None:
        """Store a profile the backend sent (2.0.1 SetNetworkProfile); None when stored,
        else why not. Used from the next reset, when NetworkConfigurationPriority names it."""
        why = self.profiles.refusal(profile, self.prerequisites(), self.settings.backend.ocpp)
        if why is not None:
            log.info("connection profile refused", slot=profile.slot, url=profile.url[:120],
                     security_profile=profile.security_profile, reason=why)
            return why
        await self.db.run(self.profiles.store, profile)
        return None

    async def raise_security_profile(self, raw: str) -> tuple[str, str | None]:
        """OCPP 1.6's ChangeConfiguration SecurityProfile (security whitepaper): a higher
        profile whose prerequisites are met is stored in a free slot and put first in the
        priority, to be used from the next reset; the current one stays second, so a new
        profile that cannot connect falls back to it (and raises a security event).
        Returns (Accepted or Rejected, why when Rejected)."""
        try:
            level = int(raw.strip())
        except ValueError:
            return "Rejected", f"{raw[:20]!r} is not a security profile (0 to 3)"
        profile, why = self.profiles.upgrade(level, self.prerequisites())
        if why is not None:
            log.info("security profile change rejected", requested=level, reason=why)
            return "Rejected", why
        if profile is None:
            return "Accepted", None  # the profile in use already
        await self.db.run(self.profiles.store, profile)
        keep = self.profiles.slot_in_use
        order = (str(profile.slot),) + ((str(keep),) if keep is not None else ())
        await self.config.set("OCPPCommCtrlr.NetworkConfigurationPriority", order)
        log.warning("security profile upgrade accepted; used from the next reset", security_profile=level,
                    slot=profile.slot, url=profile.url)
        return "Accepted", None

    async def _drop_lower_slots_from_priority(self) -> None:
        """A final upgrade: NetworkConfigurationPriority keeps only the slots still allowed,
        so what the backend reads is what the charger will try (A05: no lower profile)."""
        name = "OCPPCommCtrlr.NetworkConfigurationPriority"
        kept = tuple(item for item in self.config.list(name)
                     if (p := self.profiles.profile(int(item))) is not None
                     and p.security_profile >= self.profiles.floor)
        if kept and kept != self.config.list(name):
            await self.config.set(name, kept)

    def _backoff(self, failures: int) -> float:
        """The wait before the next attempt: reconnect_initial doubled per failure, at most
        reconnect_max, plus up to a fifth more at random so a fleet that lost its backend
        together does not call back together. Never shorter than the doubled wait (OCPP
        2.0.1 reports it as RetryBackOffWaitMinimum and RetryBackOffRandomRange)."""
        base = self.settings.backend.reconnect_initial * 2 ** min(failures - 1, 16)
        return min(self.settings.backend.reconnect_max, base) * random.uniform(1.0, 1.2)

    def _on_config_change(self, name: str, value: object) -> None:
        """A new AuthorizationKey: answer first, then reconnect with it (security whitepaper,
        TC_073: the charge point disconnects and reconnects with the new password), and
        note the change in the security log (2.0.1 A01, TC_A_09_CS: "store and log"; never the password)."""
        if name != "AuthorizationKey":
            return
        if self._jobs is not None:
            self._jobs.create_task(self.security_event(
                security_events.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                "the HTTP Basic password was changed by the backend"), name="security-event")
        if self._cp is not None:
            self._cp.after_reply(self._redial.set)

    async def security_event(self, kind: str, tech_info: str, send: bool | None = None) -> None:
        """Record a security event (journal and security log) and let the drain send it
        (``send``: whether the backend is told, when not as the catalogue says). A journal
        that cannot take it (a full disk) is logged: the link goes on."""
        try:
            await self.db.run(self.journal.record_security_event, kind, tech_info, send)
        except StoreError as exc:
            log.error("security event not journaled", type=kind, error=str(exc))
        self.wake()

    async def _redial_when_asked(self) -> None:
        await self._redial.wait()
        raise Redial()

    async def _serve(self, ws: ClientConnection) -> None:
        cp = self._endpoint(ws)
        self._cp = cp
        self._redial.clear()
        self.connected.set()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(cp.start(), name="ocpp-reader")
                tg.create_task(self._operate(cp, tg), name="ocpp-operate")
                tg.create_task(self._redial_when_asked(), name="ocpp-redial")
        except asyncio.CancelledError:
            # The agent stops (SIGTERM, a reset): an orderly close, RFC 6455 1001 Going Away.
            await close(ws, CloseCode.GOING_AWAY, "charge point stopping")
            raise
        except BaseExceptionGroup as group:
            if any(isinstance(e, Redial) for e in leaves(group)):
                await close(ws, CloseCode.NORMAL_CLOSURE, "reconnecting with new credentials")
            elif any(isinstance(e, ConnectionError) for e in leaves(group)):
                await close(ws, CloseCode.GOING_AWAY, "the link is not answering; reconnecting")
            raise

    async def _profile_proven(self) -> None:
        """The active connection profile reached a backend that accepted this charger (its
        BootNotification Accepted, or a reconnect after one): only now are its failures
        forgotten, is it the last good one, and does an upgrade become final. A backend that
        opens the websocket but never accepts the charger must not take it from the old one."""
        self._reached = True
        upgraded = await self.db.run(self.profiles.connected)
        if upgraded is not None:
            await self._drop_lower_slots_from_priority()
            # Not critical in the catalogue, but the backend asked for this change: it hears how it went.
            await self.security_event(
                "ReconfigurationOfSecurityParameters",
                f"security profile {upgraded.security_profile} is in use from now on "
                f"({upgraded.describe()}); lower ones are no longer tried", send=True)

    async def _boot(self, cp: Endpoint) -> None:
        """BootNotification until Accepted; nothing else is sent before (OCPP 1.6, 4.2;
        2.0.1 B02/B03: a Pending or Rejected charger only answers and asks again).

        A boot the backend answers with a CALLERROR, an unusable answer or no answer is
        asked again on the same connection, after a growing pause (the reconnect backoff's
        settings): dropping a link that works would restart the backoff with each new
        connection, and a backend that cannot take the boot would see one every second.
        """
        failures = 0
        self.registration = None
        while True:
            # Cleared before asking, so a trigger that arrives with (or before) the answer counts.
            self._boot_now.clear()
            sent_at = time.monotonic()
            try:
                answer = await cp.request(self._boot_request())
            except CallFailed as exc:
                if exc.code == "ConnectionLost":
                    raise ConnectionError(f"{exc}; reconnecting") from exc
                failures += 1
                pause = self._backoff(failures)
                if failures == 1 or failures % 10 == 0:
                    log.warning("boot notification not answered; asking again on this connection",
                                error=str(exc), attempts=failures, retry_in_s=round(pause, 1))
                await self._until_boot_due(pause)
                continue
            failures = 0
            await self._learn_time(answer.current_time, sent_at)
            interval = int(answer.interval)
            log.info("boot notification", status=answer.status, interval=interval)
            self.registration = answer.status
            self._on_registration()
            if answer.status == "Accepted":
                await self._adopt_heartbeat_interval(interval)
                self._booted = True
                self._on_booted()
                await self._profile_proven()
                return
            await self._until_boot_due(interval if interval > 0 else 30)

    async def _until_boot_due(self, seconds: float) -> None:
        """Until ``seconds`` pass, or the backend triggers a BootNotification.
        (asyncio.timeout, not wait_for: Python 3.11's wait_for can drop a cancellation.)"""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._boot_now.wait()

    async def _adopt_heartbeat_interval(self, interval: int) -> None:
        if interval <= 0:
            return
        try:
            value = KEYS["HeartbeatInterval"].parse(interval)
        except ValueError as exc:
            log.warning("ignoring the backend's heartbeat interval", interval=interval, reason=str(exc))
            return
        await self.config.set("HeartbeatInterval", value)

    async def _heartbeat(self, cp: Endpoint) -> None:
        waited = 0.0
        while True:
            await asyncio.sleep(1.0)
            waited += 1.0
            interval = self.config.int("HeartbeatInterval")
            if interval > 0 and waited >= interval:
                waited = 0.0
                await self._heartbeat_once(cp)

    async def _heartbeat_once(self, cp: Endpoint) -> None:
        clock.current().recheck()
        sent_at = time.monotonic()
        try:
            answer = await cp.request(self._heartbeat_request())
        except CallFailed as exc:
            log.warning("heartbeat failed", error=str(exc))
            return
        await self._learn_time(answer.current_time, sent_at)

    async def _learn_time(self, current_time: str, sent_at: float) -> None:
        """The backend's time: the charger's clock follows it when the system clock is not
        synchronised, and this process's provisional stamps are corrected once. A time
        the clock refuses as implausible is reported once (a warning and a security event,
        stamped with the time kept) until the backend offers a plausible one again."""
        charger_clock = clock.current()
        try:
            shift = charger_clock.adopt_backend_time(current_time, sent_at, time.monotonic())
        except clock.ImplausibleTime as exc:
            if exc.first:
                log.warning("refused the backend's time; keeping the charger's", current_time=exc.offered[:40],
                            allowed=f"{clock.EARLIEST:%Y-%m-%d} to {clock.LATEST:%Y-%m-%d}")
                await self.security_event(clock.REFUSED_EVENT, str(exc))
            return
        if abs(charger_clock.last_jump) > clock.TIME_REPORT_S:
            await self.security_event(
                security_events.SETTING_SYSTEM_TIME,
                f"the charger's time moved by {charger_clock.last_jump:+.1f} s to the backend's time {current_time[:40]}")
        if shift is None:
            return
        changed = await self.db.run(
            self.journal.correct_provisional, charger_clock.provisional_tag, shift, charger_clock.tag
        )
        self.runtime.shift_status_stamps(shift)
        if shift:
            log.warning("corrected provisional timestamps", shift_s=round(shift, 3), entries=changed)

def refused_by_backend(error: BaseException) -> bool:
    return any(
        isinstance(e, websockets.exceptions.InvalidStatus) and e.response.status_code in (401, 403, 404)
        for e in leaves(error)
    )


async def close(ws: ClientConnection, code: CloseCode, reason: str) -> None:
    """Close with ``code`` (instead of the 1011 an exception would give), without waiting
    long on a peer that does not answer the closing handshake."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2.0):
            await ws.close(code, reason)


class Redial(Exception):
    """Ends a connection on purpose so the next one uses new credentials."""


def _describe_close(exc: websockets.exceptions.ConnectionClosed) -> str:
    """Why a connection closed, in words: who closed it, with which code."""
    if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
        return ("the backend sent a message over the 1 MiB limit; the charge point closed the connection "
                "(RFC 6455 code 1009)")
    if exc.rcvd is not None:
        reason = f": {exc.rcvd.reason[:80]}" if exc.rcvd.reason else ""
        return f"connection closed by the backend (code {exc.rcvd.code}{reason})"
    if exc.sent is not None:
        return f"connection closed by the charge point (code {exc.sent.code})"
    return "connection lost (no closing handshake)"


def describe(error: BaseException, settings: Settings, handshake: bool = False) -> str:
    """One stable line for a link failure, so a repeating failure is logged once."""
    backend = settings.backend
    for exc in leaves(error):
        if isinstance(exc, websockets.exceptions.InvalidStatus):
            return f"HTTP {exc.response.status_code}"
        if isinstance(exc, websockets.exceptions.ConnectionClosed):
            return _describe_close(exc)
        if isinstance(exc, SecurityError):
            return f"cannot secure the link: {exc}"
        tls = describe_tls_failure(exc, backend)
        if tls is not None:
            return tls
        if handshake and (isinstance(exc, ConnectionResetError) or (
                isinstance(exc, websockets.exceptions.InvalidMessage) and isinstance(exc.__cause__, EOFError))):
            return describe_closed_handshake(backend.security_profile)
    return "; ".join(f"{type(e).__name__}: {e}" for e in leaves(error)) or "unknown"
