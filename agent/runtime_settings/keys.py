"""The OCPP 1.6 configuration keys this charge point supports, as data.

One table answers GetConfiguration, validates ChangeConfiguration and the TOML file's
``[ocpp]`` initial values alike, so the three can never disagree. Values are held as
Python values (int, bool, tuple of str for comma-separated lists) and rendered in the
spec's string form only on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["int", "bool", "csl", "key"]
Value = int | bool | tuple[str, ...] | str

#: Measurands the metering code can produce from a :class:`MeterReading`.
MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "Current.Offered",
    "Power.Offered",
)
MEASURAND_LIST_MAX = 5

#: The feature profiles this agent implements (OCPP 1.6 section 3); Core is always offered.
PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation", "RemoteTrigger", "SmartCharging")
#: The backend's requests each optional profile brings. A charger that does not offer the
#: profile answers them CALLERROR NotSupported (OCPP-J 4.2.3: known, but not supported)...
PROFILE_ACTIONS: dict[str, tuple[str, ...]] = {
    "FirmwareManagement": ("GetDiagnostics", "UpdateFirmware"),
    "LocalAuthListManagement": ("GetLocalListVersion", "SendLocalList"),
    "Reservation": ("CancelReservation", "ReserveNow"),
    "RemoteTrigger": ("TriggerMessage",),
    "SmartCharging": ("ClearChargingProfile", "GetCompositeSchedule", "SetChargingProfile"),
}
#: ChargingScheduleAllowedChargingRateUnit's words (OCPP 1.6 §9.4.2) for a schedule's unit.
RATE_UNIT_WORDS = {"Current": "A", "Power": "W"}
#: ... except these, whose answers say so themselves (OCPP 1.6 sections 5.15 and 5.10):
#: SendLocalList status NotSupported, GetLocalListVersion listVersion -1.
ANSWERED_IN_BAND = frozenset({"GetLocalListVersion", "SendLocalList"})
_HEX = re.compile(r"[0-9A-Fa-f]*")
_PHASE_ROTATION = re.compile(r"^\d+\.(NotApplicable|Unknown|RST|RTS|SRT|STR|TRS|TSR)$")


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One configuration key: its type, default, limits and how a change applies."""

    name: str
    kind: Kind
    default: Value
    readonly: bool = False
    reboot_required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    items: tuple[str, ...] | None = None  # allowed list items (csl)
    pattern: re.Pattern[str] | None = None  # allowed list item shape (csl)
    max_items: int | None = None
    writeonly: bool = False  # never reported (a secret the backend may set, not read back)
    maker: bool = False  # read-only to the backend, but the charger maker sets it in the TOML file
    profile: str = "Core"  # the feature profile the key belongs to: unknown when it is not offered

    def parse(self, raw: object) -> Value:
        """Turn a wire string (or a TOML value) into a typed value; ValueError if invalid."""
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
                return raw.strip().lower() == "true"
            raise ValueError("must be true or false")
        if self.kind == "int":
            if isinstance(raw, bool):
                raise ValueError("must be an integer")
            if isinstance(raw, int):
                number = raw
            elif isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
                number = int(raw)
            else:
                raise ValueError("must be an integer")
            if self.minimum is not None and number < self.minimum:
                raise ValueError(f"must be an integer >= {self.minimum}")
            if self.maximum is not None and number > self.maximum:
                raise ValueError(f"must be an integer <= {self.maximum}")
            return number
        if self.kind == "key":
            return self._parse_key(raw)
        if isinstance(raw, (list, tuple)):
            parts = [str(p).strip() for p in raw]
        elif isinstance(raw, str):
            parts = [p.strip() for p in raw.split(",")] if raw.strip() else []
        else:
            raise ValueError("must be a comma-separated list")
        if any(not p for p in parts):
            raise ValueError("must be a comma-separated list without empty items")
        if self.items is not None:
            bad = [p for p in parts if p not in self.items]
            if bad:
                raise ValueError(f"unsupported item(s) {', '.join(bad)}; allowed: {', '.join(self.items)}")
        if self.pattern is not None:
            bad = [p for p in parts if not self.pattern.match(p)]
            if bad:
                raise ValueError(f"malformed item(s) {', '.join(bad)}")
        if self.max_items is not None and len(parts) > self.max_items:
            raise ValueError(f"at most {self.max_items} items")
        return tuple(parts)

    def _parse_key(self, raw: object) -> str:
        """An authorization key in either form: 32 to 40 hexadecimal digits (the whitepaper's
        16 to 20 bytes, decoded before use), or a password of 16 to 20 characters used as
        written (what many backends send)."""
        if not isinstance(raw, str):
            raise ValueError("must be text")
        if _HEX.fullmatch(raw) and len(raw) % 2 == 0 and 32 <= len(raw) <= 40:
            return raw
        if 16 <= len(raw) <= 20 and raw.isprintable() and raw == raw.strip():
            return raw
        raise ValueError("must be 32 to 40 hexadecimal digits (16 to 20 bytes) or a password of 16 to 20 "
                         "printable characters")

    @staticmethod
    def render(value: Value) -> str:
        """The spec's string form of a value."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, tuple):
            return ",".join(value)
        return str(value)


def _measurands(name: str, default: tuple[str, ...]) -> KeySpec:
    return KeySpec(name, "csl", default, items=MEASURANDS, max_items=MEASURAND_LIST_MAX)


def _readonly_int(name: str, value: int) -> KeySpec:
    return KeySpec(name, "int", value, readonly=True)


_ENERGY = ("Energy.Active.Import.Register",)

KEYS: dict[str, KeySpec] = {
    spec.name: spec
    for spec in (
        KeySpec("AllowOfflineTxForUnknownId", "bool", False),
        KeySpec("AuthorizationCacheEnabled", "bool", True),
        # Security whitepaper: the HTTP Basic password as 16 to 20 bytes in hexadecimal, or
        # (as many backends send it) 16 to 20 characters used as written.
        KeySpec("AuthorizationKey", "key", "", writeonly=True),
        KeySpec("AuthorizeRemoteTxRequests", "bool", False),
        KeySpec("ClockAlignedDataInterval", "int", 0, minimum=0, maximum=86400),
        KeySpec("ConnectionTimeOut", "int", 60, minimum=1, maximum=3600),
        KeySpec("ConnectorPhaseRotation", "csl", ("0.Unknown",), pattern=_PHASE_ROTATION),
        _readonly_int("ConnectorPhaseRotationMaxLength", 9),
        _readonly_int("GetConfigurationMaxKeys", 64),
        KeySpec("HeartbeatInterval", "int", 300, minimum=0, maximum=86400),
        KeySpec("LocalAuthorizeOffline", "bool", True),
        KeySpec("LocalPreAuthorize", "bool", False),
        _measurands("MeterValuesAlignedData", _ENERGY),
        _readonly_int("MeterValuesAlignedDataMaxLength", MEASURAND_LIST_MAX),
        _measurands("MeterValuesSampledData", _ENERGY),
        _readonly_int("MeterValuesSampledDataMaxLength", MEASURAND_LIST_MAX),
        KeySpec("MeterValueSampleInterval", "int", 60, minimum=0, maximum=86400),
        KeySpec("NumberOfConnectors", "int", 1, readonly=True),
        KeySpec("ReserveConnectorZeroSupported", "bool", True, readonly=True, maker=True, profile="Reservation"),
        KeySpec("ResetRetries", "int", 1, minimum=0, maximum=10),
        KeySpec("SecurityProfile", "int", 0, readonly=True),  # from [backend] security_profile
        KeySpec("StopTransactionOnEVSideDisconnect", "bool", True),
        KeySpec("StopTransactionOnInvalidId", "bool", True),
        _measurands("StopTxnAlignedData", ()),
        _readonly_int("StopTxnAlignedDataMaxLength", MEASURAND_LIST_MAX),
        _measurands("StopTxnSampledData", _ENERGY),
        _readonly_int("StopTxnSampledDataMaxLength", MEASURAND_LIST_MAX),
        KeySpec("SupportedFeatureProfiles", "csl",
                ("Core", "FirmwareManagement", "RemoteTrigger", "LocalAuthListManagement", "Reservation",
                 "SmartCharging"),
                readonly=True, maker=True, items=PROFILES, max_items=len(PROFILES)),
        _readonly_int("SupportedFeatureProfilesMaxLength", 6),
        KeySpec("TransactionMessageAttempts", "int", 3, minimum=1, maximum=100),
        KeySpec("TransactionMessageRetryInterval", "int", 60, minimum=0, maximum=86400),
        KeySpec("UnlockConnectorOnEVSideDisconnect", "bool", True),
        KeySpec("WebSocketPingInterval", "int", 60, minimum=0, maximum=3600, reboot_required=True),
        # Local Auth List Management profile (OCPP 1.6 section 9.4)
        KeySpec("LocalAuthListEnabled", "bool", True, profile="LocalAuthListManagement"),
        KeySpec("LocalAuthListMaxLength", "int", 10000, readonly=True, profile="LocalAuthListManagement"),
        KeySpec("SendLocalListMaxLength", "int", 1000, readonly=True, profile="LocalAuthListManagement"),
        # Smart Charging profile (OCPP 1.6 section 9.4): what SetChargingProfile may install.
        # Read-only to the backend; a charger maker may lower them in the TOML file.
        KeySpec("ChargeProfileMaxStackLevel", "int", 10, readonly=True, maker=True, minimum=0, maximum=100,
                profile="SmartCharging"),
        KeySpec("ChargingScheduleAllowedChargingRateUnit", "csl", ("Current", "Power"), readonly=True, maker=True,
                items=("Current", "Power"), max_items=2, profile="SmartCharging"),
        KeySpec("ChargingScheduleMaxPeriods", "int", 48, readonly=True, maker=True, minimum=1, maximum=1000,
                profile="SmartCharging"),
        KeySpec("ConnectorSwitch3to1PhaseSupported", "bool", False, readonly=True, profile="SmartCharging"),
        KeySpec("MaxChargingProfilesInstalled", "int", 32, readonly=True, maker=True, minimum=1, maximum=1000,
                profile="SmartCharging"),
    )
}

#: Keys whose value comes from the charger itself, never from the TOML file.
DERIVED_KEYS = frozenset({"NumberOfConnectors", "SecurityProfile"})


def shown(name: str, value: str) -> str:
    """A value as it may appear in a log line: only a known key's that is not a secret. A
    key this charger does not know may be a vendor's password (``CentralSystemPassword``)
    or a secret misspelt (``authorizationkey``): its value is never shown either."""
    spec = KEYS.get(name)
    return "****" if spec is None or spec.writeonly else value


def check_initial(name: str, value: object) -> str | None:
    """Validate one ``[ocpp]`` entry of the TOML file; None when fine, else why not."""
    spec = KEYS.get(name)
    if spec is None:
        import difflib

        close = difflib.get_close_matches(name, KEYS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(KEYS))}"
        return f"unknown OCPP configuration key; {hint}"
    if spec.readonly and not spec.maker:
        return "read-only key: the charger reports it, it cannot be set"
    try:
        parsed = spec.parse(value)
    except ValueError as exc:
        return str(exc)
    if name == "SupportedFeatureProfiles":
        return _check_profiles(parsed)
    if name == "ChargingScheduleAllowedChargingRateUnit" and not parsed:
        return "must name Current, Power or both (a charger that accepts no unit takes no profile)"
    return None


def _check_profiles(parsed: Value) -> str | None:
    assert isinstance(parsed, tuple)
    if "Core" not in parsed:
        return "must include Core (every charge point offers it)"
    twice = sorted({p for p in parsed if parsed.count(p) > 1})
    if twice:
        return f"lists {', '.join(twice)} twice"
    return None


def offered_profiles(initial: Mapping[str, object]) -> frozenset[str]:
    """The profiles a TOML ``[ocpp]`` table offers: its SupportedFeatureProfiles, else the default."""
    spec = KEYS["SupportedFeatureProfiles"]
    raw = initial.get("SupportedFeatureProfiles", spec.default)
    try:
        value = spec.parse(raw)
    except ValueError:
        value = spec.default
    assert isinstance(value, tuple)
    return frozenset(value)


def check_offered(initial: Mapping[str, object]) -> list[tuple[str, str]]:
    """``[ocpp]`` keys that belong to a profile the table does not offer: (key, why)."""
    offered = offered_profiles(initial)
    return [(name, f"belongs to the {KEYS[name].profile} profile, which SupportedFeatureProfiles does not offer; "
                   f"remove it, or add {KEYS[name].profile} to SupportedFeatureProfiles")
            for name in initial if name in KEYS and KEYS[name].profile not in offered]


def unsupported_actions(offered: Iterable[str]) -> frozenset[str]:
    """The backend's requests to answer CALLERROR NotSupported for a charger offering `offered`."""
    wanted = set(offered)
    return frozenset(action for profile, actions in PROFILE_ACTIONS.items() if profile not in wanted
                     for action in actions if action not in ANSWERED_IN_BAND)
