"""Connection profiles: which backend the link calls, how securely, and what it tries next.

A *connection profile* is what one connection attempt needs besides the charger's own
identity and files: the backend's URL, the OCPP version, the security profile (0-3), the
message timeout and the transport. The technician's profile is the configuration file's
``[backend]``; the backend may store more in numbered *slots* (OCPP 2.0.1
SetNetworkProfile, B09; OCPP 1.6's SecurityProfile upgrade is stored the same way) and
order them with NetworkConfigurationPriority. Each profile the backend sets is one
durable commit in the state database, so it survives a restart and a power cut.

The order the link tries them in (the *rotation*) is fixed when the agent starts, so a
new priority applies at the next reset, as B10 says: the slots of the priority list,
then the profile that last connected, then the technician's file profile, each once
(the same URL and security profile are not tried twice in a row). After
NetworkProfileConnectionAttempts failed attempts the link moves to the next, and after
the last it starts over. The charger is never locked out: the file profile is always in
the rotation, whatever the backend set, unless a security profile upgrade made it too
weak (below).

Security profiles only go up (A05, B09.FR.04, the 1.6 security whitepaper). A profile
with a higher security profile than the one that connected last is an *upgrade on
trial*: once it connects, its level becomes the *floor* and no profile below it is
tried again (a backend that cannot be reached with TLS must not be able to talk the
charger back to plain websockets); if it never connects, the link falls back to the
next profile and raises a security event. The profile that connected at the floor stays
in the rotation, so there is always one to go back to. When the technician changes the
file's ``[backend]`` URL or security profile, everything the backend set is put aside:
the person on site has the last word.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

import structlog

from .security import BASIC_AUTH_PROFILES, TLS_PROFILES, fingerprint

if TYPE_CHECKING:
    from ..settings import BackendSettings
    from ..store import ChargerState

log = structlog.get_logger("agent.link")

#: The slots a backend may store a profile in (NetworkConfigurationPriority's values).
SLOTS = (1, 2, 3, 4)
#: The slot that holds the configuration file's profile until the backend sets another there.
FILE_SLOT = 1
#: The transport this charger speaks (OCPP-J over websockets).
TRANSPORTS = ("JSON",)
_NOTE = "network_profile."
_SLOT_NOTE = _NOTE + "slot."
_FLOOR_NOTE = _NOTE + "floor"
_GOOD_NOTE = _NOTE + "last_good"
_BASE_NOTE = _NOTE + "file"

Source = Literal["file", "backend"]


@dataclass(frozen=True, slots=True)
class ConnectionProfile:
    """What one connection attempt needs besides the charger's identity, password and files."""

    url: str  # the backend's websocket URL, without the charge point id
    security_profile: int
    ocpp: str  # "1.6" or "2.0.1": the charger speaks its configured version only
    message_timeout: float
    transport: str = "JSON"
    interface: str = "Wired0"  # reported as given: the operating system chooses the route
    slot: int = FILE_SLOT
    source: Source = "file"

    @classmethod
    def from_file(cls, backend: BackendSettings) -> ConnectionProfile:
        return cls(url=backend.url, security_profile=backend.security_profile, ocpp=backend.ocpp,
                   message_timeout=backend.call_timeout)

    def applied_to(self, backend: BackendSettings) -> BackendSettings:
        """The file's ``[backend]`` with this profile's URL, security profile and timeout; the
        certificate files, password and reconnect pace stay the technician's."""
        return replace(backend, url=self.url, security_profile=self.security_profile,
                       call_timeout=self.message_timeout)

    def same_endpoint(self, other: ConnectionProfile) -> bool:
        return self.url.rstrip("/") == other.url.rstrip("/") and self.security_profile == other.security_profile

    def describe(self) -> str:
        where = "the configuration file's profile" if self.source == "file" else f"slot {self.slot}"
        return f"{where} ({self.url}, security profile {self.security_profile})"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ConnectionProfile:
        data = json.loads(text)
        return cls(url=str(data["url"]), security_profile=int(data["security_profile"]), ocpp=str(data["ocpp"]),
                   message_timeout=float(data["message_timeout"]), transport=str(data.get("transport", "JSON")),
                   interface=str(data.get("interface", "Wired0")), slot=int(data.get("slot", FILE_SLOT)),
                   source="backend" if data.get("source") == "backend" else "file")


def upgraded_url(url: str, security_profile: int) -> str:
    """The same backend at another security profile: wss:// for 2 and 3, ws:// for 0 and 1
    (host, port and path unchanged; what OCPP 1.6's SecurityProfile upgrade asks for)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="wss" if security_profile in TLS_PROFILES else "ws"))


def file_fingerprint(profile: ConnectionProfile) -> str:
    """What identifies the technician's profile: a change of it sets the backend's aside."""
    return fingerprint(f"{profile.url.rstrip('/')}|{profile.security_profile}|{profile.ocpp}")


@dataclass(frozen=True, slots=True)
class Prerequisites:
    """What the charger holds for a security profile: a CSMS root, a client certificate, a password."""

    csms_root: bool
    client_certificate: bool
    password: bool

    def missing(self, security_profile: int) -> str | None:
        """Why ``security_profile`` cannot be used, or None (A05.FR.02/03, TC_A_20/21, TC_084)."""
        if security_profile in TLS_PROFILES and not self.csms_root:
            return f"security profile {security_profile} needs a CSMS root certificate, and the charger has none"
        if security_profile == 3 and not self.client_certificate:
            return "security profile 3 needs a client certificate and its key, and the charger has none"
        if security_profile in BASIC_AUTH_PROFILES and not self.password:
            return f"security profile {security_profile} needs a basic authentication password, and none is set"
        return None


def has_csms_root(backend: BackendSettings, installed: Sequence[object] = ()) -> bool:
    """Whether the charger can check a CSMS's certificate: with the file's ``ca_file`` or
    a CSMS root the backend installed (``installed``, from the certificate store)."""
    return bool(installed) or (backend.ca_file is not None and backend.ca_file.is_file())


def has_client_certificate(backend: BackendSettings) -> bool:
    """Whether the charger has its own certificate and key for security profile 3."""
    return (backend.client_certificate is not None and backend.client_key is not None
            and backend.client_certificate.is_file() and backend.client_key.is_file())


class ConnectionProfiles:
    """The stored profiles, the rotation the link follows and the security floor.

    Reads and writes the state database on the caller's thread: the link calls the
    writers through ``db.run``; construction happens before the event loop serves anyone.
    """

    def __init__(self, file_profile: ConnectionProfile, state: ChargerState | None,
                 priority: Iterable[str] = ("1",), attempts: int = 3) -> None:
        self.file_profile = file_profile
        self._state = state
        self._slots: dict[int, ConnectionProfile] = {}
        self.floor = file_profile.security_profile
        self._last_good: ConnectionProfile | None = None
        #: The file's profile changed since the backend set its own: those were forgotten.
        self.put_aside = False
        if state is not None:
            self._load(state)
        self.attempts = max(1, attempts)
        self.rotation = self._rotation(priority)
        self._index = 0
        self._failures = 0
        #: Why the link uses the profile it uses (logged once per change).
        self.reason = "first in NetworkConfigurationPriority"

    # ------------------------------------------------------------ loading
    def _load(self, state: ChargerState) -> None:
        base = file_fingerprint(self.file_profile)
        stored_base = state.read_note(_BASE_NOTE)
        if stored_base is not None and stored_base != base:
            log.warning("the configuration file's backend profile changed; the profiles the backend set are "
                        "put aside", profile=self.file_profile.describe())
            self._forget(state)
            self.put_aside = True
        if stored_base != base:
            state.leave_note(_BASE_NOTE, base)
        for slot in SLOTS:
            text = state.read_note(f"{_SLOT_NOTE}{slot}")
            if text is None:
                continue
            try:
                self._slots[slot] = ConnectionProfile.from_json(text)
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring an unreadable stored connection profile", slot=slot)
        floor = state.read_note(_FLOOR_NOTE)
        if floor is not None and floor.isdigit():
            self.floor = max(self.floor, int(floor))
        good = state.read_note(_GOOD_NOTE)
        if good is not None:
            try:
                self._last_good = ConnectionProfile.from_json(good)
            except (ValueError, KeyError, TypeError):
                self._last_good = None

    def _forget(self, state: ChargerState) -> None:
        for slot in SLOTS:
            state.drop_note(f"{_SLOT_NOTE}{slot}")
        for name in (_FLOOR_NOTE, _GOOD_NOTE):
            state.drop_note(name)
        state.set_config_value("OCPPCommCtrlr.NetworkConfigurationPriority", str(FILE_SLOT))

    # ------------------------------------------------------------ what is stored
    def profile(self, slot: int) -> ConnectionProfile | None:
        """The profile in ``slot``: the backend's, or for slot 1 the file's until the backend sets one."""
        if slot in self._slots:
            return self._slots[slot]
        return self.file_profile if slot == FILE_SLOT else None

    def set_slots(self) -> tuple[int, ...]:
        return tuple(slot for slot in SLOTS if self.profile(slot) is not None)

    def store(self, profile: ConnectionProfile) -> None:
        """Keep a backend's profile in its slot (one durable commit; database thread)."""
        if self._state is not None:
            self._state.leave_note(f"{_SLOT_NOTE}{profile.slot}", profile.to_json())
        self._slots[profile.slot] = profile
        log.info("connection profile stored", slot=profile.slot, url=profile.url,
                 security_profile=profile.security_profile)

    def free_slot(self) -> int | None:
        """A slot the backend has not set and the active connection does not use (for a 1.6
        upgrade), else the first one the active connection does not use."""
        candidates = [slot for slot in SLOTS if slot not in (FILE_SLOT, self.slot_in_use)]
        unset = [slot for slot in candidates if slot not in self._slots]
        return (unset or candidates or [None])[0]

    @property
    def current_level(self) -> int:
        """The security profile a new profile must at least have: the active connection's,
        or the floor a final upgrade set, whichever is higher (never downgrade)."""
        return max(self.active.security_profile, self.floor)

    def check_priority(self, slots: Iterable[str], prerequisites: Prerequisites | None = None) -> str | None:
        """Why a NetworkConfigurationPriority cannot be taken, or None: each item names a set
        slot, at most once, none below the current security profile (A05.FR.02), each with
        what its security profile needs still on hand (A05.FR.04: "all prerequisites met")."""
        seen: set[int] = set()
        for item in slots:
            if not item.isdigit() or int(item) not in SLOTS:
                return f"{item!r} is not a configuration slot (slots are {', '.join(map(str, SLOTS))})"
            slot = int(item)
            if slot in seen:
                return f"slot {slot} is listed twice"
            seen.add(slot)
            profile = self.profile(slot)
            if profile is None:
                return f"slot {slot} holds no connection profile"
            if profile.security_profile < self.current_level:
                return (f"slot {slot} has security profile {profile.security_profile}, lower than the current "
                        f"{self.current_level}")
            missing = prerequisites.missing(profile.security_profile) if prerequisites is not None else None
            if missing is not None:
                return f"slot {slot}: {missing}"
        return None

    # ------------------------------------------------------------ the rotation
    def _rotation(self, priority: Iterable[str]) -> list[ConnectionProfile]:
        wanted: list[ConnectionProfile] = []
        for item in priority:
            profile = self.profile(int(item)) if item.isdigit() else None
            if profile is not None:
                wanted.append(profile)
        if self._last_good is not None:
            wanted.append(self._last_good)
        wanted.append(self.file_profile)
        rotation: list[ConnectionProfile] = []
        for profile in wanted:
            if profile.security_profile < self.floor:
                if profile.source == "file":
                    log.warning("the configuration file's profile is below the security profile an upgrade made "
                                "final; it is not tried", profile=profile.describe(), floor=self.floor)
                continue
            if not any(p.same_endpoint(profile) for p in rotation):
                rotation.append(profile)
        return rotation or [self.file_profile]

    @property
    def active(self) -> ConnectionProfile:
        """The profile the next (or current) connection attempt uses."""
        return self.rotation[self._index]

    @property
    def on_trial(self) -> bool:
        """The active profile raises the security profile and has not connected yet."""
        return self.active.security_profile > self.floor

    def connected(self) -> ConnectionProfile | None:
        """The active profile connected: its failures are forgotten; an upgrade on trial
        becomes final (returns it then, for the caller's security event). Database thread."""
        self._failures = 0
        profile = self.active
        upgraded = profile if profile.security_profile > self.floor else None
        if self._state is not None and (self._last_good is None or self._last_good != profile):
            self._state.leave_note(_GOOD_NOTE, profile.to_json())
        self._last_good = profile
        if upgraded is not None:
            self.floor = profile.security_profile
            if self._state is not None:
                self._state.leave_note(_FLOOR_NOTE, str(self.floor))
            log.warning("security profile upgrade is final", profile=profile.describe())
            # No going back below it, from now on either (not only after the next start).
            self.rotation = [p for p in self.rotation if p.security_profile >= self.floor]
            self._index = self.rotation.index(profile)
        return upgraded

    def failed(self) -> tuple[ConnectionProfile, ConnectionProfile] | None:
        """An attempt with the active profile failed. After NetworkProfileConnectionAttempts
        of them the next profile becomes active: returns (left, now active) then."""
        self._failures += 1
        if self._failures < self.attempts or len(self.rotation) == 1:
            return None
        left = self.active
        self._failures = 0
        self._index = (self._index + 1) % len(self.rotation)
        self.reason = (f"{left.describe()} failed {self.attempts} connection attempt(s)"
                       + ("; starting over with the first" if self._index == 0 else ""))
        return left, self.active

    # ------------------------------------------------------------ what the backend may set
    @property
    def slot_in_use(self) -> int | None:
        """The slot of the active connection's profile (None: the file's profile, used as
        the last resort while the backend's profile sits in slot 1)."""
        if self.active.source == "backend":
            return self.active.slot
        return None if FILE_SLOT in self._slots else FILE_SLOT

    def refusal(self, profile: ConnectionProfile, prerequisites: Prerequisites, speaks: str) -> str | None:
        """Why the backend's ``profile`` cannot be stored (B09.FR.02, B09.FR.04, A05), or None."""
        if profile.slot not in SLOTS:
            return f"configuration slot {profile.slot} does not exist (slots are {', '.join(map(str, SLOTS))})"
        if profile.slot == self.slot_in_use:
            return f"configuration slot {profile.slot} holds the profile of the active connection"
        if profile.ocpp != speaks:
            return f"this charger speaks OCPP {speaks} only"
        if profile.transport not in TRANSPORTS:
            return f"transport {profile.transport} is not supported (only {', '.join(TRANSPORTS)})"
        if profile.security_profile not in (0, 1, 2, 3):
            return f"security profile {profile.security_profile} does not exist"
        if profile.security_profile < self.current_level:
            return (f"security profile {profile.security_profile} is lower than the current "
                    f"{self.current_level} (never downgraded)")
        url_problem = _url_problem(profile.url, profile.security_profile)
        if url_problem is not None:
            return url_problem
        return prerequisites.missing(profile.security_profile)

    def upgrade(self, level: int, prerequisites: Prerequisites) -> tuple[ConnectionProfile | None, str | None]:
        """OCPP 1.6's SecurityProfile upgrade: the active profile at ``level`` (same host, wss://
        for 2 and 3) in a free slot, to be tried first after the next reset. Returns (the
        profile to store, None), (None, None) when ``level`` is the current one (nothing to
        do), or (None, why) when refused (lower, unknown, or its prerequisites missing)."""
        if level not in (0, 1, 2, 3):
            return None, f"security profile {level} does not exist"
        if level == self.current_level:
            return None, None
        if level < self.current_level:
            return None, f"security profile {level} is lower than the current {self.current_level} (never downgraded)"
        missing = prerequisites.missing(level)
        if missing is not None:
            return None, missing
        slot = self.free_slot()
        if slot is None:
            return None, "no configuration slot is free"
        active = self.active
        return replace(active, security_profile=level, url=upgraded_url(active.url, level), slot=slot,
                       source="backend"), None


def _url_problem(url: str, security_profile: int) -> str | None:
    """Why ``url`` cannot reach a backend at ``security_profile``, or None."""
    if len(url) > 512:
        return "ocppCsmsUrl is longer than 512 characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"ocppCsmsUrl {url[:80]!r} is not a URL"
    wanted = "wss" if security_profile in TLS_PROFILES else "ws"
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return f"ocppCsmsUrl {url[:80]!r} is not a ws:// or wss:// URL with a host"
    if parts.scheme != wanted:
        return f"security profile {security_profile} needs a {wanted}:// URL, not {parts.scheme}://"
    if port == 0 or parts.query or parts.fragment:
        return f"ocppCsmsUrl {url[:80]!r} has no usable port, or a query or fragment"
    return None
