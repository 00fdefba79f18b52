"""The runtime settings a backend can read and change, as data.

One table answers 1.6's GetConfiguration and 2.0.1's GetVariables, validates
ChangeConfiguration, SetVariables and the TOML file's ``[ocpp]`` and ``[ocpp201.*]``
initial values alike, so none of them can disagree. Each setting is named by its OCPP 1.6
key (also its name in the state database) and, where 2.0.1 has a twin, by its 2.0.1
variable (``v201``); a setting only 2.0.1 names (``ocpp16=False``) is stored under its
2.0.1 spelling and does not exist for 1.6. Values are held as Python values (int, bool,
float, str, tuple of str for comma-separated lists) and rendered in the spec's string
form only on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .price_settings import (
    LANGUAGE_TAG_MAX,
    LANGUAGES,
    VALUE_MAX,
    default_price_rule,
    instant_rule,
    language_rule,
    offset_rule,
    primary_language,
)

Kind = Literal["int", "bool", "csl", "key", "str", "decimal"]
Value = int | bool | tuple[str, ...] | str | float

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
    #: The OCPP 2.0.1 variable naming the same setting, as "Component.Variable" or
    #: "Component.Variable.Instance"; None when 2.0.1 has no twin.
    v201: str | None = None
    #: False for a setting only OCPP 2.0.1 names (its name is then its ``v201`` spelling):
    #: 1.6's GetConfiguration never shows it and ChangeConfiguration answers NotSupported.
    ocpp16: bool = True
    min_items: int = 0  # csl: fewest items allowed
    #: Read-only to the device model, yet OCPP 1.6's ChangeConfiguration may change it
    #: through its own path (the adapter's): reported read-write to 1.6.
    writable16: bool = False
    #: csl: a rule on the list as a whole, giving why a list breaks it (None: it holds).
    rule: Callable[[tuple[str, ...]], str | None] | None = None
    #: str: a rule on the text as a whole (e.g. a JSON value's shape), giving why it breaks it.
    text_rule: Callable[[str], str | None] | None = None

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
        if self.kind == "str":
            return self._parse_text(raw)
        if self.kind == "decimal":
            return self._parse_decimal(raw)
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
        if len(parts) < self.min_items:
            raise ValueError(f"at least {self.min_items} item{'s' if self.min_items > 1 else ''}")
        broken = self.rule(tuple(parts)) if self.rule is not None else None
        if broken is not None:
            raise ValueError(broken)
        return tuple(parts)

    def _parse_text(self, raw: object) -> str:
        """One word of `items` when given (an OptionList), else text of at most `maximum` characters."""
        if not isinstance(raw, str):
            raise ValueError("must be text")
        if self.items is not None:
            if raw not in self.items:
                raise ValueError(f"must be one of {', '.join(self.items)}")
            return raw
        if self.maximum is not None and len(raw) > self.maximum:
            raise ValueError(f"must be at most {self.maximum} characters")
        if not raw.isprintable():
            raise ValueError("must be printable text")
        broken = self.text_rule(raw) if self.text_rule is not None else None
        if broken is not None:
            raise ValueError(broken)
        return raw

    def _parse_decimal(self, raw: object) -> float:
        if isinstance(raw, bool):
            raise ValueError("must be a number")
        if isinstance(raw, int | float):
            number = float(raw)
        elif isinstance(raw, str) and re.fullmatch(r"\s*-?(\d+(\.\d*)?|\.\d+)\s*", raw):
            number = float(raw)
        else:
            raise ValueError("must be a number")
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("must be a number")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"must be a number >= {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"must be a number <= {self.maximum}")
        return number

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
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        return str(value)


def _measurands(name: str, default: tuple[str, ...], v201: str | None = None) -> KeySpec:
    return KeySpec(name, "csl", default, items=MEASURANDS, max_items=MEASURAND_LIST_MAX, v201=v201)


def _readonly_int(name: str, value: int, v201: str | None = None) -> KeySpec:
    return KeySpec(name, "int", value, readonly=True, v201=v201)


def _v201(name: str, kind: Kind, default: Value, **rules: object) -> KeySpec:
    """A setting only OCPP 2.0.1 names; `name` is its "Component.Variable[.Instance]"."""
    return KeySpec(name, kind, default, v201=name, ocpp16=False, **rules)  # type: ignore[arg-type]


_ENERGY = ("Energy.Active.Import.Register",)
#: OCPP 2.0.1 MessageFormatEnumType and MessagePriorityEnumType (DisplayMessage, block O).
MESSAGE_FORMATS = ("ASCII", "HTML", "URI", "UTF8")
MESSAGE_PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
#: Where this charger's transactions start and stop (docs/ocpp201.md). A transaction
#: starts at the first of the points listed: the EV connected (EVConnected: its token is
#: identified later, no energy before), the driver authorized (Authorized: the EV must
#: come within EVConnectionTimeOut), or both (PowerPathClosed, the default: every
#: precondition of charging met). It stops at whichever ends first, the EV's connection
#: or the authorization (EVConnected,Authorized, the default, or PowerPathClosed, which
#: means the same), and with EnergyTransfer also when the EV stops drawing. EnergyTransfer
#: as a start point (alone: any other point comes first) starts it as the EV asks for the
#: energy offered, journaled before the contactor closes. DataSigned is not offered (no
#: signing meter), nor ParkingBayOccupancy (no bay sensor): a backend setting one is told
#: Rejected rather than see a value the charger does not act on.
TX_START_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")
TX_STOP_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")


def _stops_at_both_losses(points: tuple[str, ...]) -> str | None:
    """TxStopPoint: a transaction on this charger always stops when its EV leaves (as
    StopTxOnEVSideDisconnect says) or its authorization ends (PowerPathClosed, or
    EVConnected with Authorized); EnergyTransfer may add the end of the energy transfer.
    A list without both would promise a transaction kept open after one of them."""
    if "PowerPathClosed" in points or {"EVConnected", "Authorized"} <= set(points):
        return None
    return ("must contain PowerPathClosed, or both EVConnected and Authorized (this charger ends a "
            "transaction when its EV leaves or its authorization ends)")
#: ClockCtrlr.TimeSource values this charger can use (the system clock kept by NTP, the backend's time).
TIME_SOURCES = ("Heartbeat", "NTP", "RealTimeClock")

KEYS: dict[str, KeySpec] = {
    spec.name: spec
    for spec in (
        KeySpec("AllowOfflineTxForUnknownId", "bool", False, v201="AuthCtrlr.OfflineTxForUnknownIdEnabled"),
        KeySpec("AuthorizationCacheEnabled", "bool", True, v201="AuthCacheCtrlr.Enabled"),
        # Security whitepaper: the HTTP Basic password as 16 to 20 bytes in hexadecimal, or
        # (as many backends send it) 16 to 20 characters used as written.
        KeySpec("AuthorizationKey", "key", "", writeonly=True, v201="SecurityCtrlr.BasicAuthPassword"),
        KeySpec("AuthorizeRemoteTxRequests", "bool", False, v201="AuthCtrlr.AuthorizeRemoteStart"),
        # Security whitepaper / 2.0.1 M05: installed roots are not checked against a second
        # root (AdditionalRootCertificateCheck is not supported: false, read-only).
        KeySpec("AdditionalRootCertificateCheck", "bool", False, readonly=True,
                v201="SecurityCtrlr.AdditionalRootCertificateCheck"),
        # The most root certificates InstallCertificate may put in the store (agent/certificates).
        KeySpec("CertificateStoreMaxLength", "int", 20, readonly=True, maker=True, minimum=1, maximum=1000),
        # The longest certificateChain a CertificateSigned may carry (whitepaper: at most 10000
        # characters); a longer one is Rejected (agent/certificates/own.py).
        KeySpec("CertificateSignedMaxChainSize", "int", 10000, readonly=True, minimum=1, maximum=10000,
                v201="SecurityCtrlr.MaxCertificateChainSize"),
        # Security whitepaper CpoName / 2.0.1 SecurityCtrlr.OrganizationName: the organizationName
        # (O) of the charger's certificate signing requests (agent/link/own_certificate.py).
        KeySpec("CpoName", "str", "", maximum=64, v201="SecurityCtrlr.OrganizationName"),
        KeySpec("ClockAlignedDataInterval", "int", 0, minimum=0, maximum=86400, v201="AlignedDataCtrlr.Interval"),
        KeySpec("ConnectionTimeOut", "int", 60, minimum=1, maximum=3600, v201="TxCtrlr.EVConnectionTimeOut"),
        # 2.0.1 reports each connector's part as Connector.PhaseRotation.
        KeySpec("ConnectorPhaseRotation", "csl", ("0.Unknown",), pattern=_PHASE_ROTATION),
        _readonly_int("ConnectorPhaseRotationMaxLength", 9),
        _readonly_int("GetConfigurationMaxKeys", 64, v201="DeviceDataCtrlr.ItemsPerMessage.GetVariables"),
        KeySpec("HeartbeatInterval", "int", 300, minimum=0, maximum=86400, v201="OCPPCommCtrlr.HeartbeatInterval"),
        KeySpec("LocalAuthorizeOffline", "bool", True, v201="AuthCtrlr.LocalAuthorizeOffline"),
        KeySpec("LocalPreAuthorize", "bool", False, v201="AuthCtrlr.LocalPreAuthorize"),
        _measurands("MeterValuesAlignedData", _ENERGY, "AlignedDataCtrlr.Measurands"),
        _readonly_int("MeterValuesAlignedDataMaxLength", MEASURAND_LIST_MAX),
        _measurands("MeterValuesSampledData", _ENERGY, "SampledDataCtrlr.TxUpdatedMeasurands"),
        _readonly_int("MeterValuesSampledDataMaxLength", MEASURAND_LIST_MAX),
        KeySpec("MeterValueSampleInterval", "int", 60, minimum=0, maximum=86400,
                v201="SampledDataCtrlr.TxUpdatedInterval"),
        KeySpec("NumberOfConnectors", "int", 1, readonly=True),
        KeySpec("ReserveConnectorZeroSupported", "bool", True, readonly=True, maker=True, profile="Reservation",
                v201="ReservationCtrlr.NonEvseSpecific"),
        KeySpec("ResetRetries", "int", 1, minimum=0, maximum=10, v201="OCPPCommCtrlr.ResetRetries"),
        # The active connection profile's; 1.6 raises it with ChangeConfiguration (security
        # whitepaper), 2.0.1 with SetNetworkProfile and NetworkConfigurationPriority (A05).
        KeySpec("SecurityProfile", "int", 0, readonly=True, writable16=True, minimum=0, maximum=3,
                v201="SecurityCtrlr.SecurityProfile"),
        KeySpec("StopTransactionOnEVSideDisconnect", "bool", True, v201="TxCtrlr.StopTxOnEVSideDisconnect"),
        KeySpec("StopTransactionOnInvalidId", "bool", True, v201="TxCtrlr.StopTxOnInvalidId"),
        _measurands("StopTxnAlignedData", (), "AlignedDataCtrlr.TxEndedMeasurands"),
        _readonly_int("StopTxnAlignedDataMaxLength", MEASURAND_LIST_MAX),
        _measurands("StopTxnSampledData", _ENERGY, "SampledDataCtrlr.TxEndedMeasurands"),
        _readonly_int("StopTxnSampledDataMaxLength", MEASURAND_LIST_MAX),
        KeySpec("SupportedFeatureProfiles", "csl",
                ("Core", "FirmwareManagement", "RemoteTrigger", "LocalAuthListManagement", "Reservation",
                 "SmartCharging"),
                readonly=True, maker=True, items=PROFILES, max_items=len(PROFILES)),
        _readonly_int("SupportedFeatureProfilesMaxLength", 6),
        KeySpec("TransactionMessageAttempts", "int", 3, minimum=1, maximum=100,
                v201="OCPPCommCtrlr.MessageAttempts.TransactionEvent"),
        KeySpec("TransactionMessageRetryInterval", "int", 60, minimum=0, maximum=86400,
                v201="OCPPCommCtrlr.MessageAttemptInterval.TransactionEvent"),
        KeySpec("UnlockConnectorOnEVSideDisconnect", "bool", True, v201="OCPPCommCtrlr.UnlockOnEVSideDisconnect"),
        KeySpec("WebSocketPingInterval", "int", 60, minimum=0, maximum=3600, reboot_required=True,
                v201="OCPPCommCtrlr.WebSocketPingInterval"),
        # Local Auth List Management profile (OCPP 1.6 section 9.4)
        KeySpec("LocalAuthListEnabled", "bool", True, profile="LocalAuthListManagement",
                v201="LocalAuthListCtrlr.Enabled"),
        KeySpec("LocalAuthListMaxLength", "int", 10000, readonly=True, profile="LocalAuthListManagement"),
        KeySpec("SendLocalListMaxLength", "int", 1000, readonly=True, profile="LocalAuthListManagement",
                v201="LocalAuthListCtrlr.ItemsPerMessage"),
        # Smart Charging profile (OCPP 1.6 section 9.4): what SetChargingProfile may install.
        # Read-only to the backend; a charger maker may lower them in the TOML file.
        KeySpec("ChargeProfileMaxStackLevel", "int", 10, readonly=True, maker=True, minimum=0, maximum=100,
                profile="SmartCharging", v201="SmartChargingCtrlr.ProfileStackLevel"),
        KeySpec("ChargingScheduleAllowedChargingRateUnit", "csl", ("Current", "Power"), readonly=True, maker=True,
                items=("Current", "Power"), max_items=2, profile="SmartCharging",
                v201="SmartChargingCtrlr.RateUnit"),
        KeySpec("ChargingScheduleMaxPeriods", "int", 48, readonly=True, maker=True, minimum=1, maximum=1000,
                profile="SmartCharging", v201="SmartChargingCtrlr.PeriodsPerSchedule"),
        KeySpec("ConnectorSwitch3to1PhaseSupported", "bool", False, readonly=True, profile="SmartCharging",
                v201="SmartChargingCtrlr.Phases3to1"),
        KeySpec("MaxChargingProfilesInstalled", "int", 32, readonly=True, maker=True, minimum=1, maximum=1000,
                profile="SmartCharging"),
        # OCPP 1.6 California Pricing whitepaper (docs/ocpp16.md, "Prices and cost"). Whether
        # the charger shows the backend's prices and costs (SetUserPrice, RunningCost, FinalCost):
        # set by the charger maker; false answers those messages UnknownVendorId.
        KeySpec("CustomDisplayCostAndPrice", "bool", True, readonly=True, maker=True),
        # The price shown before a driver is identified, and while offline: a JSON object
        # {"priceText", "priceTextOffline", "chargingPrice": {"kWhPrice", "hourPrice", "flatFee"}};
        # "" means none. A value that breaks that shape is Rejected.
        KeySpec("DefaultPrice", "str", "", maximum=VALUE_MAX, text_rule=default_price_rule),
        # Idle time after a stop is billed until the cable is unplugged: the charger sends the
        # whitepaper's ConnectorUnplugged then and takes RunningCost for the ended transaction
        # until it did. The backend that bills so sets it; one that does not, leaves it off.
        KeySpec("CustomIdleFeeAfterStop", "bool", False),
        # Texts in several languages (priceTextExtra, DefaultPriceText,<language>) are taken.
        KeySpec("CustomMultiLanguageMessages", "bool", True, readonly=True),
        # The languages this charger can show (the maker's) and the one it shows by default.
        KeySpec("SupportedLanguages", "csl", ("en",), readonly=True, maker=True, items=LANGUAGES, min_items=1,
                max_items=len(LANGUAGES)),
        # An RFC 5646 tag; a region may follow (en-US): its primary language must be supported.
        KeySpec("Language", "str", "en", maximum=LANGUAGE_TAG_MAX, text_rule=language_rule),
        # The offset from UTC of the times shown to drivers, and a planned change of it
        # (summer/winter time): from NextTimeOffsetTransitionDateTime on, TimeOffsetNextTransition.
        KeySpec("TimeOffset", "str", "+00:00", text_rule=offset_rule),
        KeySpec("NextTimeOffsetTransitionDateTime", "str", "", maximum=40, text_rule=instant_rule),
        KeySpec("TimeOffsetNextTransition", "str", "+00:00", text_rule=offset_rule),
        # How long (ms) an accepted Authorize waits for the backend's SetUserPrice for that
        # idTag before the session may start, so the driver sees the price first. 0: no wait.
        KeySpec("WaitForSetUserPriceTimeout", "int", 0, minimum=0, maximum=30000),
        # The decimals the backend's costs (RunningCost, FinalCost) are shown with (rounded
        # half up); set by the charger maker.
        KeySpec("NumberOfDecimalsForCostValues", "int", 2, readonly=True, maker=True, minimum=0, maximum=6),
        # Settings only OCPP 2.0.1 names (Part 2 appendix 3, the controllers' variables),
        # stored under their 2.0.1 names; the [ocpp201.<Component>] tables give initial values.
        _v201("OCPPCommCtrlr.OfflineThreshold", "int", 60, minimum=0, maximum=86400),
        _v201("OCPPCommCtrlr.FileTransferProtocols", "csl", ("FTP", "HTTP", "HTTPS"), readonly=True),
        # The connection profiles' slots in the order tried (agent/link/profiles.py); applies at the next start.
        _v201("OCPPCommCtrlr.NetworkConfigurationPriority", "csl", ("1",), items=("1", "2", "3", "4"), min_items=1,
              max_items=4),
        # Failed attempts with one connection profile before the next is tried.
        _v201("OCPPCommCtrlr.NetworkProfileConnectionAttempts", "int", 3, minimum=1, maximum=100),
        # L01.FR.07: free EVSEs take new sessions while a firmware install waits for the running ones.
        _v201("ChargingStation.AllowNewSessionsPendingFirmwareUpdate", "bool", False),
        _v201("TxCtrlr.TxStartPoint", "csl", ("PowerPathClosed",), items=TX_START_POINTS, min_items=1),
        _v201("TxCtrlr.TxStopPoint", "csl", ("EVConnected", "Authorized"), items=TX_STOP_POINTS, min_items=1,
              rule=_stops_at_both_losses),
        _v201("DeviceDataCtrlr.ItemsPerMessage.GetReport", "int", 50, readonly=True, maker=True, minimum=1,
              maximum=1000),
        _v201("DeviceDataCtrlr.ItemsPerMessage.SetVariables", "int", 64, readonly=True, maker=True, minimum=1,
              maximum=1000),
        _v201("DeviceDataCtrlr.BytesPerMessage.GetReport", "int", 65536, readonly=True, maker=True,
              minimum=1024, maximum=1_048_576),
        _v201("DeviceDataCtrlr.BytesPerMessage.GetVariables", "int", 65536, readonly=True, maker=True,
              minimum=1024, maximum=1_048_576),
        _v201("DeviceDataCtrlr.BytesPerMessage.SetVariables", "int", 65536, readonly=True, maker=True,
              minimum=1024, maximum=1_048_576),
        # The order agent/clock.py follows: the kernel's clock once NTP synchronised it, else the backend's.
        _v201("ClockCtrlr.TimeSource", "csl", ("NTP", "Heartbeat"), readonly=True, items=TIME_SOURCES, min_items=1),
        # A02.FR.17: a certificate signing request left without a certificate is sent again
        # after this many seconds, the wait doubled each time, at most CertSigningRepeatTimes times.
        _v201("SecurityCtrlr.CertSigningWaitMinimum", "int", 60, minimum=1, maximum=86400),
        _v201("SecurityCtrlr.CertSigningRepeatTimes", "int", 3, minimum=0, maximum=100),
        _v201("SampledDataCtrlr.TxStartedMeasurands", "csl", _ENERGY, items=MEASURANDS,
              max_items=MEASURAND_LIST_MAX),
        _v201("AuthCtrlr.MasterPassGroupId", "str", "", maximum=36),
        # Energy a transaction refused after its start may still deliver (Wh; 0: none).
        _v201("TxCtrlr.MaxEnergyOnInvalidId", "int", 0, minimum=0, maximum=1_000_000),
        _v201("AuthCacheCtrlr.LifeTime", "int", 0, minimum=0, maximum=31_536_000),
        _v201("AuthCacheCtrlr.Policy", "str", "LRU", readonly=True, items=("LRU", "LFU", "FIFO", "Custom")),
        _v201("AuthCacheCtrlr.Storage", "int", 1_048_576, readonly=True, maker=True, minimum=0,
              maximum=1_073_741_824),
        _v201("LocalAuthListCtrlr.BytesPerMessage", "int", 1_048_576, readonly=True,
              profile="LocalAuthListManagement"),
        _v201("ReservationCtrlr.Enabled", "bool", True, profile="Reservation"),
        _v201("SmartChargingCtrlr.Enabled", "bool", True, profile="SmartCharging"),
        _v201("SmartChargingCtrlr.LimitChangeSignificance", "decimal", 10.0, minimum=0, maximum=100,
              profile="SmartCharging"),
        # O01-O06: the backend's messages for the screen (agent/ocpp201/display_handlers.py).
        _v201("DisplayMessageCtrlr.Enabled", "bool", True),
        # What a display can render: a character LCD shows plain text (ASCII, UTF8), not HTML or a URI.
        _v201("DisplayMessageCtrlr.SupportedFormats", "csl", ("ASCII", "UTF8"), readonly=True, maker=True,
              items=MESSAGE_FORMATS, min_items=1),
        _v201("DisplayMessageCtrlr.SupportedPriorities", "csl", MESSAGE_PRIORITIES, readonly=True, maker=True,
              items=MESSAGE_PRIORITIES, min_items=1),
        # The most characters of an IdTokenInfo's personalMessage shown (a 20x4 LCD holds 80).
        _v201("DisplayMessageCtrlr.PersonalMessageSize", "int", 80, readonly=True, maker=True, minimum=1,
              maximum=512),
        # The language of the charger's own texts (RFC 5646), for messages given without one.
        _v201("DisplayMessageCtrlr.Language", "str", "en", maximum=8),
        # I01-I06: tariff and cost texts from the backend (agent/ocpp201/tariff_handlers.py).
        _v201("TariffCostCtrlr.Enabled.Tariff", "bool", True),
        _v201("TariffCostCtrlr.Enabled.Cost", "bool", True),
        _v201("TariffCostCtrlr.TariffFallbackMessage", "str", "", maximum=255),
        _v201("TariffCostCtrlr.TotalCostFallbackMessage", "str", "", maximum=255),
        _v201("TariffCostCtrlr.Currency", "str", "EUR", maximum=3),
    )
}

#: The settings OCPP 1.6 names (its configuration keys); the rest only 2.0.1 knows.
OCPP16_KEYS = frozenset(name for name, spec in KEYS.items() if spec.ocpp16)

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
    if spec is None or not spec.ocpp16:
        import difflib

        only201 = [s.v201 for s in KEYS.values() if not s.ocpp16 and s.v201 and _variable_of(s.v201) == name]
        if only201:
            return f"an OCPP 2.0.1 variable, not a 1.6 key: set it under [ocpp201.{only201[0].split('.')[0]}]"
        close = difflib.get_close_matches(name, sorted(OCPP16_KEYS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(OCPP16_KEYS))}"
        return f"unknown OCPP configuration key; {hint}"
    return _check_value(spec, value)


def _check_value(spec: KeySpec, value: object) -> str | None:
    if spec.readonly and not spec.maker:
        return "read-only key: the charger reports it, it cannot be set"
    try:
        parsed = spec.parse(value)
    except ValueError as exc:
        return str(exc)
    if spec.name == "SupportedFeatureProfiles":
        return _check_profiles(parsed)
    if spec.name == "ChargingScheduleAllowedChargingRateUnit" and not parsed:
        return "must name Current, Power or both (a charger that accepts no unit takes no profile)"
    return None


def _variable_of(v201: str) -> str:
    return v201.split(".")[1]


#: Where the TOML gives a shared setting that 2.0.1 also names, when not in [ocpp].
_SET_ELSEWHERE = {"AuthorizationKey": "backend.authorization_key, which is kept secret",
                  "SecurityProfile": "backend.security_profile"}


def v201_components() -> tuple[str, ...]:
    """The components whose variables settings name (the [ocpp201.<Component>] tables allowed)."""
    return tuple(sorted({spec.v201.split(".")[0] for spec in KEYS.values() if spec.v201}))


def check_initial_v201(component: str, variable: str, instance: str | None,
                       value: object) -> tuple[str | None, str | None]:
    """Validate one ``[ocpp201.<component>]`` entry: (the setting's name, None) when fine,
    else (None, why not). A variable with an instance is written ``Variable.Instance``."""
    import difflib

    components = v201_components()
    if component not in components:
        close = difflib.get_close_matches(component, components, n=1)
        hint = f"did you mean [ocpp201.{close[0]}]?" if close else f"known components: {', '.join(components)}"
        return None, f"unknown OCPP 2.0.1 component; {hint}"
    wanted = f"{component}.{variable}" + (f".{instance}" if instance is not None else "")
    named = {spec.v201: spec for spec in KEYS.values() if spec.v201 and spec.v201.startswith(component + ".")}
    spec = named.get(wanted)
    if spec is None:
        instances = sorted(v.split(".", 2)[2] for v in named if v.count(".") == 2 and _variable_of(v) == variable)
        if instances and instance is not None:
            return None, f"unknown instance {instance!r} of {variable}; known instances: {', '.join(instances)}"
        if instances:
            return None, (f"{variable} has instances: write {variable}.<instance> = ... with instance "
                          f"{' or '.join(instances)}")
        if instance is not None and f"{component}.{variable}" in named:
            return None, f"{variable} has no instance: write {variable} = ..."
        variables = sorted({_variable_of(v) for v in named})
        close = difflib.get_close_matches(variable, variables, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known variables: {', '.join(variables)}"
        return None, f"unknown variable of {component}; {hint}"
    if spec.ocpp16:
        where = _SET_ELSEWHERE.get(spec.name, f"[ocpp] {spec.name} (its OCPP 1.6 name)")
        return None, f"shared with OCPP 1.6: set it as {where}"
    message = _check_value(spec, value)
    if message is not None and message.startswith("read-only key"):
        message = "read-only variable: the charger reports it, it cannot be set"
    return (None, message) if message else (spec.name, None)


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
    """``[ocpp]`` keys that belong to a profile the table does not offer, or name a
    Language its SupportedLanguages does not: (key, why)."""
    offered = offered_profiles(initial)
    found = [(name, f"belongs to the {KEYS[name].profile} profile, which SupportedFeatureProfiles does not offer; "
                    f"remove it, or add {KEYS[name].profile} to SupportedFeatureProfiles")
             for name in initial if name in KEYS and KEYS[name].profile not in offered]
    if "Language" in initial:
        try:
            languages = KEYS["SupportedLanguages"].parse(initial.get("SupportedLanguages", ("en",)))
        except ValueError:
            languages = ()  # reported as SupportedLanguages' own mistake
        if languages and primary_language(str(initial["Language"])) not in languages:
            found.append(("Language", f"not one of SupportedLanguages ({', '.join(languages)}); add it there"))
    return found


def unsupported_actions(offered: Iterable[str]) -> frozenset[str]:
    """The backend's requests to answer CALLERROR NotSupported for a charger offering `offered`."""
    wanted = set(offered)
    return frozenset(action for profile, actions in PROFILE_ACTIONS.items() if profile not in wanted
                     for action in actions if action not in ANSWERED_IN_BAND)
