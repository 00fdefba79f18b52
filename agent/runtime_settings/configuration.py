"""The live runtime settings: defaults, then the TOML file, then the backend's changes.

Values the backend changes are persisted in the state database (they outlive
reboots and are never written to the technician's file); the TOML ``[ocpp]`` and
``[ocpp201.*]`` tables only give initial values. OCPP 1.6 sees the settings it names
(:meth:`report`, :meth:`change`); 2.0.1's device model reads them all and changes them
through :meth:`apply`. Listeners are told about each accepted change so that the
session policy, the heartbeat and the meter sampling follow it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog

from ..settings.rules import basic_auth_password
from ..store import ChargerState
from .keys import KEYS, KeySpec, Value, shown, unsupported_actions
from ..link.security import BASIC_AUTH_PROFILES, fingerprint

#: Stored beside a backend-set AuthorizationKey: the file's key it replaced (as a digest).
_KEY_BASE = "AuthorizationKey.replaces"

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    readonly: bool
    value: str


class Configuration:
    """Typed access to the configuration keys, with persistence and change listeners."""

    def __init__(
        self,
        initial: Mapping[str, object],
        state: ChargerState | None,
        number_of_connectors: int,
    ) -> None:
        self._state = state
        self._values: dict[str, Value] = {name: spec.default for name, spec in KEYS.items()}
        self._values["NumberOfConnectors"] = number_of_connectors
        for name, raw in initial.items():
            self._values[name] = KEYS[name].parse(raw)
        #: What the charger maker offers (the TOML's SupportedFeatureProfiles); the backend cannot change it.
        self.offered_profiles: frozenset[str] = frozenset(self.list("SupportedFeatureProfiles"))
        if not self.offers("LocalAuthListManagement"):
            self._values["LocalAuthListEnabled"] = False  # no list is in use (GetLocalListVersion answers -1)
        stored = state.config_values() if state is not None else {}
        self._stored_key_base = stored.get(_KEY_BASE)
        self._file_key = ""
        for name, raw in stored.items():
            spec = KEYS.get(name)
            if spec is None or spec.readonly or not self._known(spec):
                continue
            try:
                self._values[name] = spec.parse(raw)
            except ValueError:
                if name == "AuthorizationKey" and _plain_password(raw):
                    self._values[name] = raw  # set by a 2.0.1 backend (BasicAuthPassword)
                    continue
                log.warning("ignoring stored configuration value", key=name, value=shown(name, raw))
        self._listeners: list[Callable[[str, Value], None]] = []
        #: The backend's password is used as written (2.0.1 BasicAuthPassword: 16 to 40
        #: characters), not in the 1.6 whitepaper's forms (hexadecimal digits decoded).
        self._passwords_as_written = False
        #: Checks a value must also pass that the table cannot know (e.g. that a slot is set).
        self._checks: dict[str, Callable[[Value], str | None]] = {}

    @property
    def state(self) -> ChargerState | None:
        """The state database's small facts (None in tests without one)."""
        return self._state

    def add_check(self, name: str, check: Callable[[Value], str | None]) -> None:
        """Also refuse a change of ``name`` when ``check`` says why (the owner of the state it
        depends on registers it: the link's connection profiles, for the priority list)."""
        self._checks[name] = check

    def restore_default(self, name: str) -> None:
        """Use ``name``'s default for this run (its stored value was reset by its owner)."""
        self._values[name] = KEYS[name].default

    def use_security_profile(self, profile: int) -> None:
        """The active connection profile's security profile, reported as SecurityProfile
        (derived: never stored as a setting)."""
        self._values["SecurityProfile"] = profile

    def bind_backend_security(self, profile: int, file_key: str, passwords_as_written: bool = False) -> None:
        """Learn the configured security profile (reported as SecurityProfile) and the
        technician's HTTP Basic password, which a backend-set AuthorizationKey replaces
        only for as long as the file's password stays what it was when the backend set it.
        ``passwords_as_written``: the protocol's rule for a backend-set password (2.0.1)."""
        self._values["SecurityProfile"] = profile
        self._file_key = file_key
        self._passwords_as_written = passwords_as_written
        if self._values["AuthorizationKey"] and self._stored_key_base != fingerprint(file_key):
            log.warning("the password in the configuration file changed since the backend set AuthorizationKey; "
                        "using the file's")

    def authorization_key(self) -> bytes | None:
        """The HTTP Basic password to send: the backend's AuthorizationKey if it set one for
        the current file password, else the file's (its hexadecimal form decoded); None when
        there is none."""
        stored = self._values["AuthorizationKey"]
        if isinstance(stored, str) and stored and self._stored_key_base == fingerprint(self._file_key):
            return stored.encode() if self._passwords_as_written else basic_auth_password(stored)
        return basic_auth_password(self._file_key) or None

    def offers(self, profile: str) -> bool:
        """Whether the charger offers a feature profile (Core always)."""
        return profile in self.offered_profiles

    def unsupported_actions(self) -> frozenset[str]:
        """The backend's requests the dispatcher must answer CALLERROR NotSupported: those of the
        profiles not offered, except SendLocalList and GetLocalListVersion, whose handlers
        answer NotSupported and -1 themselves (LocalAuthListEnabled reads false then)."""
        return unsupported_actions(self.offered_profiles)

    def _known(self, spec: KeySpec) -> bool:
        """A key exists for the backend only when its profile is offered."""
        return spec.profile in self.offered_profiles

    def __getitem__(self, name: str) -> Value:
        return self._values[name]

    def int(self, name: str) -> int:
        value = self._values[name]
        assert isinstance(value, int)
        return int(value)

    def bool(self, name: str) -> bool:
        return bool(self._values[name])

    def list(self, name: str) -> tuple[str, ...]:
        value = self._values[name]
        assert isinstance(value, tuple)
        return value

    def subscribe(self, listener: Callable[[str, Value], None]) -> None:
        self._listeners.append(listener)

    def report(self, names: Iterable[str] | None) -> tuple[list[KeyValue], list[str]]:
        """GetConfiguration: (known keys with values, unknown key names)."""
        # A secret is never read back; a key of a profile not offered does not exist.
        readable = {n for n, spec in KEYS.items() if not spec.writeonly and spec.ocpp16 and self._known(spec)}
        wanted = [n for n in KEYS if n in readable] if not names else list(names)
        known = [
            KeyValue(name, KEYS[name].readonly and not KEYS[name].writable16, KeySpec.render(self._values[name]))
            for name in wanted
            if name in readable
        ]
        unknown = [name for name in wanted if name not in readable]
        return known, unknown

    async def change(self, name: str, raw: str) -> str:
        """ChangeConfiguration: Accepted, Rejected, RebootRequired or NotSupported. A setting
        only OCPP 2.0.1 names is as unknown to it as a key no one defined."""
        spec = KEYS.get(name)
        if spec is None or not spec.ocpp16 or not self._known(spec):
            return "NotSupported"
        status, _ = await self.apply(name, raw)
        return status

    async def apply(self, name: str, raw: str) -> tuple[str, str | None]:
        """Change a known setting from its wire form, for either protocol: (Accepted,
        RebootRequired or Rejected; why when Rejected, never naming a secret's value)."""
        spec = KEYS[name]
        if spec.readonly:
            return "Rejected", "read-only"
        if spec.writeonly and self.int("SecurityProfile") not in BASIC_AUTH_PROFILES:
            # Profiles 0 and 3 send no password: accepting one would claim a change that never applies.
            log.info("configuration change rejected", key=name, reason="the security profile sends no password",
                     security_profile=self.int("SecurityProfile"))
            return "Rejected", "the security profile in use sends no password"
        try:
            value = _parse_plain_password(raw) if name == "AuthorizationKey" and self._passwords_as_written \
                else spec.parse(raw)
        except ValueError as exc:
            log.info("configuration change rejected", key=name, value=shown(name, raw), reason=str(exc))
            return "Rejected", str(exc)
        check = self._checks.get(name)
        why = check(value) if check is not None else None
        if why is not None:
            log.info("configuration change rejected", key=name, value=shown(name, raw), reason=why)
            return "Rejected", why
        if name == "AuthorizationKey":
            await self._remember_key_base()
        await self.set(name, value)
        return ("RebootRequired" if spec.reboot_required else "Accepted"), None

    async def _remember_key_base(self) -> None:
        base = fingerprint(self._file_key)
        if self._state is not None:
            await self._state.db.run(self._state.set_config_value, _KEY_BASE, base)
        self._stored_key_base = base

    async def set(self, name: str, value: Value) -> None:
        """Set, persist (on the database thread) and announce a value; also used by the
        agent itself, e.g. for the heartbeat interval a backend gives at boot."""
        if self._state is not None:
            await self._state.db.run(self._state.set_config_value, name, KeySpec.render(value))
        self._values[name] = value
        for listener in self._listeners:
            listener(name, value)


#: OCPP 2.0.1's bounds of BasicAuthPassword (A00/A01; TC_A_10_CS: fewer is Rejected).
PLAIN_PASSWORD_MIN, PLAIN_PASSWORD_MAX = 16, 40


def _plain_password(raw: object) -> bool:
    return (isinstance(raw, str) and PLAIN_PASSWORD_MIN <= len(raw) <= PLAIN_PASSWORD_MAX and raw.isprintable()
            and raw == raw.strip())


def _parse_plain_password(raw: object) -> str:
    """A 2.0.1 BasicAuthPassword: 16 to 40 printable characters, sent as written."""
    if not _plain_password(raw):
        raise ValueError(f"must be {PLAIN_PASSWORD_MIN} to {PLAIN_PASSWORD_MAX} printable characters "
                         "without spaces around them")
    return str(raw)
