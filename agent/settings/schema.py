"""The shape of the configuration file, as frozen dataclasses plus per-key rules.

Each key is declared once, with its default, its rule and its unit, in the field's
metadata. The loader validates from that, the renderer prints from it, and nothing
else has to be kept in step.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

METER_DRIVERS: tuple[str, ...] = ("sim",)
READER_DRIVERS: tuple[str, ...] = ("sim",)
PILOT_DRIVERS: tuple[str, ...] = ("sim",)
CONTACTOR_DRIVERS: tuple[str, ...] = ("sim",)
LOCK_DRIVERS: tuple[str, ...] = ("none", "sim")
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")
RECOVERY_POLICIES: tuple[str, ...] = ("stop", "resume")
CLOCK_MODES: tuple[str, ...] = ("auto", "system", "backend")
LOG_FORMATS: tuple[str, ...] = ("auto", "json", "console")
SECURITY_PROFILES: tuple[int, ...] = (0, 1, 2, 3)

OcppValue = str | int | bool | float


class Invalid(ValueError):
    """A value broke its rule; the message says what is allowed.

    `shown` replaces the value in the error when the value itself holds a secret.
    """

    def __init__(self, message: str, shown: str | None = None) -> None:
        super().__init__(message)
        self.shown = shown


def type_name(value: object) -> str:
    """The TOML name of a value's type, with its article, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.datetime):
        return "a date-time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, datetime.time):
        return "a time"
    return type(value).__name__


def closest(word: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """The candidate a typo most likely meant, if any is close enough."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


_ID_CHARS = re.compile(r"[A-Za-z0-9_.:-]+")


def _num(x: float) -> str:
    return f"{x:g}"


class Rule:
    """How one key's TOML value is checked and converted to its Python value."""

    __slots__ = ()

    def describe(self) -> str:
        """What is allowed, phrased to follow 'must be'."""
        raise NotImplementedError

    def convert(self, value: object) -> Any:
        """The Python value for a TOML value; raises Invalid with the reason."""
        raise NotImplementedError

    def _wrong_type(self, value: object) -> Invalid:
        return Invalid(f"must be {self.describe()}, not {type_name(value)}")


@dataclass(frozen=True, slots=True)
class Text(Rule):
    """A string with length limits and optionally a character set."""

    min_len: int
    max_len: int
    allow_empty: bool = False  # besides min_len..max_len, "" is also fine
    show_length: bool = True  # False for secrets: not even their length is echoed

    def describe(self) -> str:
        span = f"{self.min_len} to {self.max_len} characters"
        if self.allow_empty:
            span = f"empty or {span}"
        return f"a string of {span}"

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if self.allow_empty and value == "":
            return value
        if not self.min_len <= len(value) <= self.max_len:
            got = f" (it has {len(value)})" if self.show_length else ""
            empty = "empty or " if self.allow_empty else ""
            raise Invalid(f"must be {empty}{self.min_len} to {self.max_len} characters long{got}")
        return value


@dataclass(frozen=True, slots=True)
class Identity(Rule):
    """The chargeBoxIdentity: it becomes the last segment of the backend URL path."""

    max_len: int = 48

    def describe(self) -> str:
        return f"a string of 1 to {self.max_len} letters, digits, '-', '_', '.' or ':'"

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if not 1 <= len(value) <= self.max_len:
            raise Invalid(f"must be 1 to {self.max_len} characters long (it has {len(value)})")
        if not _ID_CHARS.fullmatch(value):
            bad = sorted({c for c in value if not _ID_CHARS.fullmatch(c)})
            shown = " ".join(repr(c) for c in bad)
            raise Invalid(f"may contain only letters, digits, '-', '_', '.' and ':' (found {shown})")
        if set(value) == {"."}:
            raise Invalid("must not be only dots (it is a URL path segment)")
        return value


@dataclass(frozen=True, slots=True)
class Number(Rule):
    """A float within a range; a TOML integer is accepted, a boolean is not."""

    low: float
    high: float
    unit: str = ""

    def _range(self) -> str:
        return f"between {_num(self.low)} and {_num(self.high)}" + (f" ({self.unit})" if self.unit else "")

    def describe(self) -> str:
        return f"a number {self._range()}"

    def convert(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong_type(value)
        number = float(value)
        if not self.low <= number <= self.high:  # also rejects nan
            raise Invalid(f"must be {self._range()}")
        return number


@dataclass(frozen=True, slots=True)
class Integer(Rule):
    """An integer within a range; a boolean or a float is not an integer."""

    low: int
    high: int
    unit: str = ""

    def _range(self) -> str:
        return f"between {self.low} and {self.high}" + (f" ({self.unit})" if self.unit else "")

    def describe(self) -> str:
        return f"an integer {self._range()}"

    def convert(self, value: object) -> int:
        if isinstance(value, float) and value.is_integer():
            raise Invalid(f"must be {self.describe()}, not a float (write {int(value)}, not {value})")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong_type(value)
        if not self.low <= value <= self.high:
            raise Invalid(f"must be {self._range()}")
        return value


@dataclass(frozen=True, slots=True)
class Choice(Rule):
    """One of a fixed set of strings or integers."""

    options: tuple[str, ...] | tuple[int, ...]

    def _listing(self) -> str:
        shown = [f'"{o}"' if isinstance(o, str) else str(o) for o in self.options]
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]

    def describe(self) -> str:
        return self._listing() if len(self.options) <= 2 else f"one of {self._listing()}"

    def convert(self, value: object) -> str | int:
        kind = type(self.options[0])
        if type(value) is not kind:  # exact: bool is not an int
            raise self._wrong_type(value)
        if value not in self.options:
            hint = ""
            if isinstance(value, str):
                near = closest(value, [str(o) for o in self.options])
                hint = f'; did you mean "{near}"?' if near else ""
            raise Invalid(f"must be {self.describe()}{hint}")
        return value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class WebSocketUrl(Rule):
    """The backend URL without the charge point id, which the agent appends."""

    def describe(self) -> str:
        return "a ws:// or wss:// URL with a host"

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if not value.startswith(("ws://", "wss://")):
            raise Invalid("must start with ws:// or wss://")
        try:
            parts = urlsplit(value)
            port = parts.port  # raises for a malformed port
        except ValueError as exc:
            raise Invalid(f"must be a valid URL ({str(exc)[:1].lower()}{str(exc)[1:]})") from None
        if not parts.hostname:
            raise Invalid("must name a host, e.g. wss://csms.example.com/ocpp")
        if parts.username is not None or parts.password is not None:
            shown = value.replace(parts.password, "****") if parts.password else value
            raise Invalid("must not contain credentials; put the password in backend.authorization_key", shown)
        if parts.query or parts.fragment or value.endswith(("?", "#")):
            raise Invalid("must not have a query or fragment: the charge point id is appended to its path")
        if port == 0:
            raise Invalid("must not use port 0")
        if any(c.isspace() for c in value):
            raise Invalid("must not contain spaces")
        return value


@dataclass(frozen=True, slots=True)
class PathValue(Rule):
    """A filesystem path written as a non-empty string."""

    def describe(self) -> str:
        return "a non-empty path string"

    def convert(self, value: object) -> Path:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if not value.strip():
            raise Invalid("must not be empty")
        if "\0" in value:
            raise Invalid("must not contain a NUL character")
        return Path(value)


@dataclass(frozen=True, slots=True)
class OptionalPath(Rule):
    """A filesystem path, or "" for none (so a template can list the key unset)."""

    def describe(self) -> str:
        return 'a path string, or "" for none'

    def convert(self, value: object) -> Path | None:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if value == "":
            return None
        if not value.strip():
            raise Invalid('must not be only spaces; write "" for none')
        if "\0" in value:
            raise Invalid("must not contain a NUL character")
        return Path(value)


@dataclass(frozen=True, slots=True)
class Argv(Rule):
    """A command as an argument vector (no shell): a list of non-empty strings."""

    def describe(self) -> str:
        return 'an array of non-empty strings, e.g. ["systemctl", "reboot"]'

    def convert(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self._wrong_type(value)
        bad = [i for i, item in enumerate(value) if not isinstance(item, str) or not item]
        if bad:
            raise Invalid(f"must be {self.describe()} (bad item at index {', '.join(map(str, bad))})")
        return tuple(value)


def setting(rule: Rule, default: Any = dataclasses.MISSING, *, doc: str, unit: str = "",
            secret: bool = False, example: str = "") -> Any:
    """Declare one configuration key: its rule, default, unit, meaning and, if required, an example."""
    meta = {"rule": rule, "doc": doc, "unit": unit, "secret": secret, "example": example}
    return field(default=default, metadata=meta, repr=not secret)


@dataclass(frozen=True, slots=True)
class ChargePointSettings:
    """Who this charger is to the backend (BootNotification and the URL)."""

    id: str = setting(Identity(), example='"LADDA-0001"',
                      doc="chargeBoxIdentity, appended to backend.url as the last path segment")
    vendor: str = setting(Text(1, 20), "Ladda", doc="chargePointVendor in BootNotification")
    model: str = setting(Text(1, 20), "Ladda", doc="chargePointModel in BootNotification")
    serial_number: str = setting(Text(0, 25), "", doc="chargePointSerialNumber; empty = not sent")


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """How to reach the CSMS and how patiently."""

    url: str = setting(WebSocketUrl(), example='"wss://csms.example.com/ocpp"',
                       doc="CSMS websocket URL; the charge point id is appended")
    authorization_key: str = setting(
        Text(16, 40, allow_empty=True, show_length=False), "", secret=True,
        doc="HTTP Basic password (security profiles 1 and 2); empty = none; better: authorization_key_file")
    call_timeout: float = setting(Number(1, 300, "seconds"), 30.0, unit="seconds",
                                  doc="how long to wait for the backend's reply to a message")
    reconnect_initial: float = setting(Number(0.1, 600, "seconds"), 1.0, unit="seconds",
                                       doc="first reconnect delay")
    reconnect_max: float = setting(Number(1, 3600, "seconds"), 60.0, unit="seconds",
                                   doc="cap of the exponential reconnect backoff; >= reconnect_initial")
    ping_timeout: float = setting(Number(1, 300, "seconds"), 20.0, unit="seconds",
                                  doc="how long a websocket ping may go unanswered before the link counts as dead; "
                                      "a dead link is noticed within WebSocketPingInterval + ping_timeout")
    security_profile: int = setting(
        Choice(SECURITY_PROFILES), 0,
        doc="OCPP security profile: 0 ws://, 1 ws:// + HTTP Basic, 2 wss:// + HTTP Basic, 3 wss:// + client "
            "certificate; when absent it follows from url and the keys set (never lower than they imply)")
    authorization_key_file: Path | None = setting(
        OptionalPath(), None,
        doc="file holding the HTTP Basic password instead of authorization_key; mode 600, owned by the service user")
    ca_file: Path | None = setting(
        OptionalPath(), None,
        doc="PEM file of the CA(s) the backend's certificate must chain to; required for profiles 2 and 3")
    client_certificate: Path | None = setting(
        OptionalPath(), None, doc="PEM certificate (chain) of this charger; required for profile 3")
    client_key: Path | None = setting(
        OptionalPath(), None,
        doc="PEM private key of client_certificate, unencrypted, mode 600; required for profile 3")


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """The charging outlets and their electrical limits."""

    count: int = setting(Integer(1, 8), 1, doc="number of connectors")
    max_current: float = setting(Number(6, 80, "amperes"), 32.0, unit="amperes",
                                 doc="the most the charger may offer per connector")
    phases: int = setting(Choice((1, 3)), 3, doc="phases wired to each connector")
    voltage: float = setting(Number(100, 480, "volts"), 230.0, unit="volts",
                             doc="nominal phase voltage (simulation and reports)")


@dataclass(frozen=True, slots=True)
class MeterSettings:
    """The energy meter role."""

    driver: str = setting(Choice(METER_DRIVERS), "sim", doc="meter driver module")


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """The RFID card reader role."""

    driver: str = setting(Choice(READER_DRIVERS), "sim", doc="card reader driver module")


@dataclass(frozen=True, slots=True)
class PilotSettings:
    """The control pilot (IEC 61851-1) role."""

    driver: str = setting(Choice(PILOT_DRIVERS), "sim", doc="control pilot driver module")


@dataclass(frozen=True, slots=True)
class ContactorSettings:
    """The contactor role."""

    driver: str = setting(Choice(CONTACTOR_DRIVERS), "sim", doc="contactor driver module")


@dataclass(frozen=True, slots=True)
class LockSettings:
    """The cable lock role: socket outlets have one, tethered cables do not."""

    driver: str = setting(Choice(LOCK_DRIVERS), "none",
                          doc='cable lock driver; "none" for a tethered cable (UnlockConnector answers NotSupported)')


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Where the simulated hardware bench listens."""

    socket: Path = setting(PathValue(), Path("bench.sock"),
                           doc="Unix socket of the simulated bench; relative = inside the state directory")

    def socket_path(self, state_dir: Path) -> Path:
        """The socket's absolute location once the state directory is known."""
        return self.socket if self.socket.is_absolute() else state_dir / self.socket


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where durable state lives; the loader makes it absolute (relative to the file)."""

    directory: Path = setting(PathValue(), Path("./state"),
                              doc="directory of the SQLite database; relative = to the config file's directory")
    unfinished_transactions: str = setting(
        Choice(RECOVERY_POLICIES), "stop",
        doc='a transaction still open at start-up (crash, power cut): "stop" ends it with reason PowerLoss '
            'and the last meter value on record; "resume" carries it on when the same EV is still plugged in')
    journal_max_mb: float = setting(
        Number(1, 100_000, "MiB"), 64.0, unit="MiB",
        doc="undelivered journal data kept while offline; beyond it, meter values are thinned (starts and "
            "stops are never dropped)")
    keep_delivered_days: int = setting(
        Integer(1, 3650, "days"), 30, unit="days",
        doc="how long messages the backend acknowledged stay in the journal (for `ladda sessions`)")


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """Log verbosity and shape."""

    level: str = setting(Choice(LOG_LEVELS), "info", doc="least severe level logged")
    format: str = setting(Choice(LOG_FORMATS), "auto",
                          doc="auto = JSON lines under systemd ($JOURNAL_STREAM), console otherwise")


@dataclass(frozen=True, slots=True)
class SystemSettings:
    """How the controller itself is managed."""

    reboot_command: tuple[str, ...] = setting(
        Argv(), (), doc="argv run for a Hard Reset; empty = the agent restarts its own process")
    clock: str = setting(
        Choice(CLOCK_MODES), "auto",
        doc='where timestamps come from: "auto" = the system clock when the kernel says it is synchronised '
            "(NTP) or the backend confirms it, else the backend's currentTime; \"system\" = always the system "
            'clock; "backend" = always the backend\'s time once known')
    power_fail_grace: float = setting(
        Number(0, 60, "seconds"), 5.0, unit="seconds",
        doc="on SIGPWR (supply failing), how long to try to deliver the PowerLoss stops before exiting")


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole validated configuration file."""

    charge_point: ChargePointSettings
    backend: BackendSettings
    connectors: ConnectorSettings
    meter: MeterSettings
    reader: ReaderSettings
    pilot: PilotSettings
    contactor: ContactorSettings
    lock: LockSettings
    sim: SimSettings
    state: StateSettings
    logging: LoggingSettings
    system: SystemSettings
    ocpp: Mapping[str, OcppValue]
    source: Path
    #: Things that work but should be fixed (a secret file others can read); shown, never fatal.
    warnings: tuple[str, ...] = ()


#: Sections holding fixed keys, in file order; [ocpp] is free-form and handled apart.
SECTIONS: dict[str, type] = {
    "charge_point": ChargePointSettings,
    "backend": BackendSettings,
    "connectors": ConnectorSettings,
    "meter": MeterSettings,
    "reader": ReaderSettings,
    "pilot": PilotSettings,
    "contactor": ContactorSettings,
    "lock": LockSettings,
    "sim": SimSettings,
    "state": StateSettings,
    "logging": LoggingSettings,
    "system": SystemSettings,
}
OCPP_SECTION = "ocpp"
ALL_SECTIONS: tuple[str, ...] = (*SECTIONS, OCPP_SECTION)


def keys_of(section_cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The key declarations of one section, in declaration order."""
    return dataclasses.fields(section_cls)


#: Dotted names whose values must never be printed or logged.
SECRET_KEYS: frozenset[str] = frozenset(
    {f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in keys_of(cls) if f.metadata["secret"]}
    | {f"{OCPP_SECTION}.AuthorizationKey"}
)


def frozen_mapping(values: Mapping[str, OcppValue]) -> Mapping[str, OcppValue]:
    """A read-only copy, so a Settings object really is immutable."""
    return types.MappingProxyType(dict(values))
