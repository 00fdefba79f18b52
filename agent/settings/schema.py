"""The shape of the configuration file, as frozen dataclasses plus per-key rules.

Each key is declared once, with its default, its rule and its unit, in the field's
metadata. The loader validates from that, the renderer prints from it, and nothing
else has to be kept in step.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.settings.hardware import (
    DRIVER_SECTIONS,
    ContactorSettings,
    DisplaySettings,
    GpioSettings,
    GridMeterSettings,
    IndicatorSettings,
    LockSettings,
    MeterSettings,
    PilotSettings,
    ReaderSettings,
    SafetySettings,
)
from agent.settings.screen import OperatorSettings, ScreenSettings
from agent.settings.site import SiteSettings
from agent.settings.tariff import TariffSettings
from agent.settings.rules import (  # noqa: F401 - re-exported: the loader and tests use them from here
    Argv,
    AuthorizationKey,
    Choice,
    Identity,
    Integer,
    Invalid,
    Number,
    OptionalPath,
    PathValue,
    Rule,
    Text,
    WebSocketUrl,
    closest,
    setting,
    type_name,
)

LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")
RECOVERY_POLICIES: tuple[str, ...] = ("stop", "resume")
CLOCK_MODES: tuple[str, ...] = ("auto", "system", "backend")
LOG_FORMATS: tuple[str, ...] = ("auto", "json", "console")
SECURITY_PROFILES: tuple[int, ...] = (0, 1, 2, 3)
OCPP_VERSIONS: tuple[str, ...] = ("1.6", "2.0.1")

OcppValue = str | int | bool | float


@dataclass(frozen=True, slots=True)
class ChargePointSettings:
    """Who this charger is to the backend (BootNotification and the URL)."""

    id: str = setting(Identity(), example='"LADDA-0001"',
                      doc="chargeBoxIdentity, appended to backend.url as the last path segment")
    vendor: str = setting(Text(1, 20), "Ladda", doc="chargePointVendor in BootNotification")
    model: str = setting(Text(1, 20), "Ladda", doc="chargePointModel in BootNotification")
    serial_number: str = setting(
        Text(0, 25), "",
        doc="chargePointSerialNumber and chargeBoxSerialNumber in BootNotification; empty = not sent")


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """How to reach the CSMS and how patiently."""

    url: str = setting(WebSocketUrl(), example='"wss://csms.example.com/ocpp"',
                       doc="CSMS websocket URL; the charge point id is appended")
    ocpp: str = setting(
        Choice(OCPP_VERSIONS), "1.6",
        doc='the OCPP version the backend speaks: "1.6" (OCPP 1.6J) or "2.0.1"; the journal carries over a change')
    authorization_key: str = setting(
        AuthorizationKey(), "", secret=True,
        doc="HTTP Basic password (security profiles 1 and 2): 16 to 20 characters sent as they are, or 32 to 40 "
            "hexadecimal digits sent as the bytes they spell; empty = none; better: authorization_key_file")
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
    certificate_renew_days: int = setting(
        Integer(0, 3650, "days"), 30, unit="days",
        doc="ask the backend for a new client certificate (SignCertificate) when the one in use expires within "
            "this many days; checked at start and daily; 0 = never on its own (only when the backend triggers it)")


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
    sample_sync_seconds: float = setting(
        Number(0, 300, "seconds"), 5.0, unit="s",
        doc="meter samples are made durable together, at most once every this many seconds (at once when the "
            "last time is longer ago), and sent only then: a power cut can lose the samples of the last this "
            "many seconds, none of them sent, never a start or a stop; a MeterValues may wait this long; 0 "
            "commits each sample at once (most card wear)")


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """Log verbosity and shape."""

    level: str = setting(Choice(LOG_LEVELS), "info", doc="least severe level logged")
    format: str = setting(Choice(LOG_FORMATS), "auto",
                          doc="auto = JSON lines under systemd ($JOURNAL_STREAM), console otherwise")
    file_mb: float = setting(
        Number(0, 1024, "MiB"), 8.0, unit="MiB",
        doc="the agent's own log file, <state directory>/logs/ladda.log, JSON lines rotated by size: the most "
            "kept in all (current file and 3 older ones), for diagnostics (GetDiagnostics); 0 = no file")
    security_file_mb: float = setting(
        Number(0, 64, "MiB"), 1.0, unit="MiB",
        doc="the security log, <state directory>/logs/security.log: every security event as JSON lines, rotated "
            "by size: the most kept in all (current file and 3 older ones); 0 = no file (the events are still "
            "sent to the backend)")


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
class FirmwareSettings:
    """Firmware updates from the backend (docs/operations.md)."""

    signing_ca: Path | None = setting(
        OptionalPath(), None,
        doc="PEM file of the manufacturer's firmware signing CA(s): SignedUpdateFirmware is accepted only with a "
            "certificate they issued; empty = every signed update is refused (InvalidCertificate)")
    install_timeout: float = setting(
        Number(60, 86_400, "seconds"), 1800.0, unit="seconds",
        doc="how long to wait for the root installer (ladda-update.service) to build a release, or to switch to "
            "it, before reporting InstallationFailed")
    max_download_mb: float = setting(
        Number(1, 4096, "MiB"), 256.0, unit="MiB",
        doc="the largest firmware bundle downloaded: a larger one is refused (DownloadFailed), before it is "
            "fetched when the server tells its size; a download also stops if it would leave less free space "
            "on the state directory's disk than the journal may still need ([state] journal_max_mb less what the "
            "database takes, at least 16 MiB)")


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
    safety: SafetySettings
    indicator: IndicatorSettings
    display: DisplaySettings
    gpio: GpioSettings
    sim: SimSettings
    state: StateSettings
    logging: LoggingSettings
    system: SystemSettings
    firmware: FirmwareSettings
    screen: ScreenSettings
    operator: OperatorSettings
    #: Initial values of runtime settings by their names: 1.6 keys from [ocpp], settings only
    #: 2.0.1 names ("TxCtrlr.TxStartPoint") from [ocpp201.<Component>].
    ocpp: Mapping[str, OcppValue]
    source: Path
    #: Things that work but should be fixed (a secret file others can read); shown, never fatal.
    warnings: tuple[str, ...] = ()
    #: The building's limit; None without a [site] table (the connectors' maximum alone applies).
    site: SiteSettings | None = None
    #: The meter at the building's connection; None without a [grid_meter] table (no grid meter).
    grid_meter: GridMeterSettings | None = None
    #: The local tariff; None without a [tariff] table (no cost is computed or shown).
    tariff: TariffSettings | None = None


#: Sections holding fixed keys, in file order; [ocpp] is free-form and handled apart.
#: A hardware role's class here is the one for its default driver; the keys allowed
#: depend on the driver chosen (``DRIVER_SECTIONS``).
SECTIONS: dict[str, type] = {
    "charge_point": ChargePointSettings,
    "backend": BackendSettings,
    "connectors": ConnectorSettings,
    "meter": MeterSettings,
    "reader": ReaderSettings,
    "pilot": PilotSettings,
    "contactor": ContactorSettings,
    "lock": LockSettings,
    "safety": SafetySettings,
    "indicator": IndicatorSettings,
    "display": DisplaySettings,
    "gpio": GpioSettings,
    "sim": SimSettings,
    "state": StateSettings,
    "logging": LoggingSettings,
    "system": SystemSettings,
    "firmware": FirmwareSettings,
    "screen": ScreenSettings,
    "operator": OperatorSettings,
}
#: Sections that may be left out altogether (then the setting is None, and nothing of
#: theirs applies); a hardware role's class here is the one of its default driver.
OPTIONAL_SECTIONS: dict[str, type] = {
    "site": SiteSettings,
    "grid_meter": GridMeterSettings,
    "tariff": TariffSettings,
}
OCPP_SECTION = "ocpp"
#: Initial values of settings only OCPP 2.0.1 names: one table per component,
#: [ocpp201.<Component>], a variable with an instance written ``Variable.Instance = value``.
OCPP201_SECTION = "ocpp201"
ALL_SECTIONS: tuple[str, ...] = (*SECTIONS, *OPTIONAL_SECTIONS, OCPP_SECTION, OCPP201_SECTION)


def keys_of(section_cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The key declarations of one section, in declaration order."""
    return dataclasses.fields(section_cls)


#: Dotted names whose values must never be printed or logged.
SECRET_KEYS: frozenset[str] = frozenset(
    {f"{name}.{f.name}" for name, cls in (SECTIONS | OPTIONAL_SECTIONS).items() for f in keys_of(cls)
     if f.metadata["secret"]}
    | {f"{name}.{f.name}" for name, drivers in DRIVER_SECTIONS.items() for cls in drivers.values()
       for f in keys_of(cls) if f.metadata["secret"]}
    | {f"{OCPP_SECTION}.AuthorizationKey", f"{OCPP201_SECTION}.SecurityCtrlr.BasicAuthPassword"}
)


def frozen_mapping(values: Mapping[str, OcppValue]) -> Mapping[str, OcppValue]:
    """A read-only copy, so a Settings object really is immutable."""
    return types.MappingProxyType(dict(values))
