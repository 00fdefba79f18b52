"""The OCPP 2.0.1 device model of this charger, as data: every component and variable it
reports, each bound to exactly one source.

A variable reads either a runtime setting (one of ``agent.runtime_settings.keys``: shared
with OCPP 1.6 when both protocols name the same thing, or one only 2.0.1 names), the
setting's name giving the variable's (``KeySpec.v201``), or a live fact of the station
(:class:`StationFacts`, which the adapter implements from the runtime). Get/SetVariables,
the base reports and ``docs/ocpp201-device-model.md`` are all read from this one table.
Nothing here imports the ``ocpp`` library: the table stays cheap to load.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from agent.runtime_settings.keys import DERIVED_KEYS, KEYS, KeySpec, Value

from .problems import COMPONENT_OF, EVSE_COMPONENT, NO_ERROR, STATION_COMPONENT, component_of

AttributeType = Literal["Actual", "Target", "MinSet", "MaxSet"]
Mutability = Literal["ReadOnly", "WriteOnly", "ReadWrite"]
DataType = Literal["string", "decimal", "integer", "dateTime", "boolean", "OptionList", "SequenceList",
                   "MemberList"]
#: Where a component lives: once for the station, once per EVSE, once per connector, or
#: once for the station and once per connector ("anywhere": a part that can fail either
#: at the station or at one EVSE's connector, as the fault events name it).
Scope = Literal["station", "evse", "connector", "anywhere"]

AVAILABILITY_STATES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
#: The most display messages (O01) held at once: SetDisplayMessage of a new id beyond
#: them is Rejected (DisplayMessageCtrlr.DisplayMessages' maxLimit).
DISPLAY_MESSAGES_MAX = 50
#: One connector per EVSE on this charger: EVSE n holds connector 1.
CONNECTORS_PER_EVSE = 1


class StationFacts(Protocol):
    """What the device model reads from the running station rather than from a setting.

    ``evse_id`` None means the whole station; a connector is (evse_id, connector_id)."""

    def evse_count(self) -> int: ...

    def availability_state(self, evse_id: int | None, connector_id: int | None) -> str:
        """One of :data:`AVAILABILITY_STATES`."""
        ...

    def available(self, evse_id: int | None, connector_id: int | None) -> bool:
        """Operative (true) or made inoperative by ChangeAvailability (false)."""
        ...

    def supply_phases(self, evse_id: int | None) -> int: ...

    def max_power(self, evse_id: int) -> float:
        """The most an EVSE may deliver, in W."""
        ...

    def connector_type(self, evse_id: int, connector_id: int) -> str:
        """An OCPP 2.0.1 ConnectorEnumType word, e.g. ``cType2`` or ``sType2``."""
        ...

    def vendor_name(self) -> str: ...

    def model(self) -> str: ...

    def serial_number(self) -> str: ...

    def firmware_version(self) -> str: ...

    def identity(self) -> str:
        """The charging station's identity in the backend's URL."""
        ...

    def now(self) -> datetime:
        """The station clock (aware, UTC)."""
        ...

    def message_timeout(self) -> int:
        """Seconds the station waits for the backend's answer to a call."""
        ...

    def reconnect_backoff(self) -> tuple[float, float]:
        """The reconnect backoff's first wait and its cap, in s ([backend] reconnect_initial
        and reconnect_max): the n-th wait is first x 2^(n-1), at most the cap, x 1.0-1.2."""
        ...

    def error_code(self, place: int) -> str:
        """The fault code at ``place`` now (a connector, 0 for the station): ``NoError``
        or one of the codes :data:`agent.ocpp201.problems.COMPONENT_OF` maps."""
        ...

    def certificate_entries(self) -> int: ...

    def local_list_entries(self) -> int: ...

    def charging_profile_entries(self) -> int: ...

    def display_messages(self) -> int:
        """How many of the backend's display messages are held (O01-O06)."""
        ...


@dataclass(frozen=True, slots=True)
class Where:
    """One place a variable is read: the station (no EVSE), an EVSE, or a connector."""

    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True, slots=True)
class Setting:
    """A runtime setting by name. With a `view` the variable shows a read-only projection
    of the setting (e.g. one connector's part of ConnectorPhaseRotation)."""

    name: str
    view: Callable[[Value, Where], Value] | None = None
    view_doc: str = ""

    @property
    def spec(self) -> KeySpec:
        return KEYS[self.name]


@dataclass(frozen=True, slots=True)
class Fact:
    """A live fact of the station, read through :class:`StationFacts`."""

    read: Callable[[StationFacts, Where], Value | datetime]
    doc: str
    constant: bool = False
    persistent: bool = False  # survives a reboot though it may change (an EVSE made inoperative)


Source = Setting | Fact


@dataclass(frozen=True, slots=True)
class Variable:
    """One variable of a component, with its attributes and characteristics."""

    name: str
    source: Source
    data_type: DataType
    instance: str | None = None
    attributes: tuple[AttributeType, ...] = ("Actual",)
    unit: str | None = None
    values_list: tuple[str, ...] | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    #: A setting whose value is the maxLimit (e.g. how many entries fit).
    max_limit_setting: str | None = None
    required: bool = False  # the 2.0.1 spec's "required" for its controller
    note: str = ""

    @property
    def setting(self) -> str | None:
        return self.source.name if isinstance(self.source, Setting) else None

    @property
    def mutability(self) -> Mutability:
        if isinstance(self.source, Fact) or self.source.view is not None:
            return "ReadOnly"
        spec = self.source.spec
        if spec.readonly:
            return "ReadOnly"
        return "WriteOnly" if spec.writeonly else "ReadWrite"

    @property
    def persistent(self) -> bool:
        """Kept across a reboot: every setting is (state database or file); facts are read anew."""
        return isinstance(self.source, Setting) or self.source.constant or self.source.persistent

    @property
    def constant(self) -> bool:
        """Never changes while the station runs."""
        if isinstance(self.source, Fact):
            return self.source.constant
        spec = self.source.spec
        return spec.readonly and spec.name not in DERIVED_KEYS

    @property
    def shared_key(self) -> str | None:
        """The OCPP 1.6 key naming the same setting, if any."""
        if isinstance(self.source, Setting) and self.source.spec.ocpp16:
            return self.source.name
        return None


@dataclass(frozen=True, slots=True)
class Component:
    """A component and its variables; `profile` is the OCPP 1.6 feature profile whose
    offer (SupportedFeatureProfiles) decides whether it is available at all."""

    name: str
    variables: tuple[Variable, ...]
    scope: Scope = "station"
    profile: str = "Core"

    def places(self, evse_count: int) -> Iterator[Where]:
        if self.scope in ("station", "anywhere"):
            yield Where()
        if self.scope == "evse":
            yield from (Where(evse) for evse in range(1, evse_count + 1))
        elif self.scope in ("connector", "anywhere"):
            yield from (Where(evse, connector) for evse in range(1, evse_count + 1)
                        for connector in range(1, CONNECTORS_PER_EVSE + 1))


# --- how a setting becomes a variable ---------------------------------------------------

_DATA_TYPES: dict[str, DataType] = {"int": "integer", "bool": "boolean", "decimal": "decimal", "key": "string",
                                    "csl": "MemberList"}


def setting(name: str, *, unit: str | None = None, data_type: DataType | None = None,
            values_list: tuple[str, ...] | None = None, required: bool = False, note: str = "",
            max_limit: float | None = None) -> Variable:
    """The variable a runtime setting is known by in 2.0.1 (its ``KeySpec.v201``), with the
    setting's type, limits and allowed values as characteristics."""
    spec = KEYS[name]
    assert spec.v201, f"{name} has no OCPP 2.0.1 name"
    parts = spec.v201.split(".")
    if data_type is None:
        data_type = ("OptionList" if spec.items else "string") if spec.kind == "str" else _DATA_TYPES[spec.kind]
    numeric = spec.kind in ("int", "decimal")
    return Variable(
        name=parts[1], instance=parts[2] if len(parts) > 2 else None, source=Setting(name), data_type=data_type,
        unit=unit, values_list=values_list if values_list is not None else spec.items,
        min_limit=spec.minimum if numeric else None,
        max_limit=max_limit if max_limit is not None else (spec.maximum if numeric or spec.kind == "str" else None),
        required=required, note=note)


def _component_of(variable: Variable) -> str | None:
    if isinstance(variable.source, Setting) and variable.source.view is None:
        v201 = variable.source.spec.v201
        return v201.split(".")[0] if v201 else None
    return None


def _offered(profile: str) -> Setting:
    return Setting("SupportedFeatureProfiles", view=lambda value, _where: profile in value,
                   view_doc=f"true when SupportedFeatureProfiles offers {profile}")


def _available(profile: str) -> Variable:
    return Variable("Available", _offered(profile), "boolean")


def _rotation(value: Value, where: Where) -> Value:
    """One connector's phase rotation from ConnectorPhaseRotation ("1.RST,0.Unknown"): its
    own item, else the station's (connector 0), else Unknown."""
    assert isinstance(value, tuple)
    rotations = dict(item.split(".", 1) for item in value)
    return rotations.get(str(where.evse_id), rotations.get("0", "Unknown"))


def _rate_units(value: Value, _where: Where) -> Value:
    """2.0.1 spells the units A and W where 1.6 says Current and Power."""
    assert isinstance(value, tuple)
    return tuple({"Current": "A", "Power": "W"}[unit] for unit in value)


def _fact(read: Callable[[StationFacts, Where], Value | datetime], doc: str, constant: bool = False,
          persistent: bool = False) -> Fact:
    return Fact(read, doc, constant, persistent)


_STATE = _fact(lambda f, w: f.availability_state(w.evse_id, w.connector_id), "StationFacts.availability_state")
_AVAILABLE = _fact(lambda f, w: f.available(w.evse_id, w.connector_id), "StationFacts.available", persistent=True)
_PHASES = _fact(lambda f, w: f.supply_phases(w.evse_id), "StationFacts.supply_phases", constant=True)
_PHASE_ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR", "Unknown", "NotApplicable")


def _place(where: Where) -> int:
    """A place of the fault events (:mod:`agent.ocpp201.problems`): the EVSE, 0 for the station."""
    return where.evse_id or 0


def _faulted(facts: StationFacts, where: Where) -> bool:
    """Any fault at this place; at the station: anywhere (ChargingStation.Problem)."""
    places = [_place(where)] if where.evse_id is not None else [0, *range(1, facts.evse_count() + 1)]
    return any(facts.error_code(place) != NO_ERROR for place in places)


def _problem(component: str) -> Variable:
    """``Problem`` of a component the fault events name: true while a fault at that place
    maps to it (the same table, :func:`agent.ocpp201.problems.component_of`, as the events)."""
    def read(facts: StationFacts, where: Where) -> bool:
        code = facts.error_code(_place(where))
        return code != NO_ERROR and component_of(code, _place(where)) == component
    return Variable("Problem", _fact(read, f"a fault at this place whose event names {component} "
                                           "(agent/ocpp201/problems.py)"), "boolean")


#: Backoff variables (B10) as the charger's reconnect backoff really behaves: first wait,
#: doublings until the cap, and the random part (up to 20 % of the capped wait).
def _backoff_minimum(facts: StationFacts, _where: Where) -> int:
    return int(facts.reconnect_backoff()[0])  # whole seconds, never more than the real wait


def _backoff_doublings(facts: StationFacts, _where: Where) -> int:
    first, cap = facts.reconnect_backoff()
    doublings = 0
    # Only the doublings that stay within the cap: the wait never falls short of
    # WaitMinimum x 2^RepeatTimes (the last step to the cap is not a whole doubling).
    while first > 0 and first * 2 ** (doublings + 1) <= cap and doublings < 16:
        doublings += 1
    return doublings


def _backoff_random(facts: StationFacts, _where: Where) -> int:
    return math.ceil(facts.reconnect_backoff()[1] * 0.2)  # the most a wait is lengthened by


def _same(value: Value, _where: Where) -> Value:
    return value


def _state_variables() -> tuple[Variable, ...]:
    return (Variable("AvailabilityState", _STATE, "OptionList", values_list=AVAILABILITY_STATES, required=True),
            Variable("Available", _AVAILABLE, "boolean", required=True))


COMPONENTS: tuple[Component, ...] = (
    Component("ChargingStation", (
        *_state_variables(),
        Variable("Problem", _fact(_faulted, "a fault anywhere on the station (StationFacts.error_code)"), "boolean"),
        Variable("SupplyPhases", _PHASES, "integer", min_limit=0, max_limit=3),
        Variable("Model", _fact(lambda f, w: f.model(), "StationFacts.model", True), "string", max_limit=20),
        Variable("VendorName", _fact(lambda f, w: f.vendor_name(), "StationFacts.vendor_name", True), "string",
                 max_limit=50),
        Variable("SerialNumber", _fact(lambda f, w: f.serial_number(), "StationFacts.serial_number", True),
                 "string", max_limit=25),
        Variable("FirmwareVersion", _fact(lambda f, w: f.firmware_version(), "StationFacts.firmware_version", True),
                 "string", max_limit=50),
        setting("ChargingStation.AllowNewSessionsPendingFirmwareUpdate",
                note="free EVSEs take new sessions while a firmware install waits for the running ones to end"),
    )),
    Component("EVSE", (
        *_state_variables(),
        Variable("Power", _fact(lambda f, w: f.max_power(w.evse_id or 0), "StationFacts.max_power", True),
                 "decimal", attributes=("MaxSet",), unit="W", min_limit=0),
        Variable("SupplyPhases", _PHASES, "integer", min_limit=0, max_limit=3),
        Variable("Problem", _fact(_faulted, "a fault at this EVSE (StationFacts.error_code)"), "boolean"),
        # B11.FR.10: a station that resets one EVSE on its own says so for each EVSE.
        Variable("AllowReset", _fact(lambda f, w: True, "each EVSE is reset on its own (Reset with an evseId)",
                                     True), "boolean"),
    ), scope="evse"),
    Component("Connector", (
        *_state_variables(),
        Variable("ConnectorType", _fact(lambda f, w: f.connector_type(w.evse_id or 0, w.connector_id or 0),
                                        "StationFacts.connector_type", True), "string"),
        Variable("SupplyPhases", _PHASES, "integer", min_limit=0, max_limit=3),
        Variable("PhaseRotation", Setting("ConnectorPhaseRotation", view=_rotation,
                                          view_doc="this connector's item of ConnectorPhaseRotation, else "
                                                   "connector 0's, else Unknown"),
                 "OptionList", values_list=_PHASE_ROTATIONS),
    ), scope="connector"),
    Component("OCPPCommCtrlr", (
        setting("OCPPCommCtrlr.FileTransferProtocols", values_list=("FTP", "HTTP", "HTTPS"), required=True),
        setting("HeartbeatInterval", unit="s"),
        setting("TransactionMessageRetryInterval", unit="s", required=True),
        setting("TransactionMessageAttempts", required=True),
        Variable("MessageTimeout", _fact(lambda f, w: f.message_timeout(), "StationFacts.message_timeout "
                                         "([backend] call_timeout)", True),
                 "integer", instance="Default", unit="s", required=True),
        setting("OCPPCommCtrlr.NetworkConfigurationPriority", data_type="SequenceList",
                values_list=("1", "2", "3", "4"), required=True,
                note="slots 1-4 (SetNetworkProfile); slot 1 is the configuration file's [backend] until the backend "
                     "sets another; each item must name a set slot, none below the current security profile; "
                     "applies at the next reset; the file's profile stays the last resort"),
        setting("OCPPCommCtrlr.NetworkProfileConnectionAttempts", required=True,
                note="failed attempts with one connection profile before the next in the priority is tried"),
        setting("OCPPCommCtrlr.OfflineThreshold", unit="s", required=True),
        Variable("ResetRetries", _fact(lambda f, w: 0, "fixed 0: a reset restarts the agent once and is not "
                                       "retried (1.6's ResetRetries changes nothing either)", True),
                 "integer", min_limit=0, required=True),
        Variable("RetryBackOffRandomRange", _fact(_backoff_random, "fixed by [backend] reconnect_max: each "
                                                  "wait is lengthened by up to 20 %, at most this many s", True),
                 "integer", unit="s", min_limit=0, required=True),
        Variable("RetryBackOffRepeatTimes", _fact(_backoff_doublings, "fixed by [backend] reconnect_initial and "
                                                  "reconnect_max: the doublings until reconnect_max", True),
                 "integer", min_limit=0, required=True),
        Variable("RetryBackOffWaitMinimum", _fact(_backoff_minimum, "fixed by [backend] reconnect_initial: the "
                                                  "first wait (never shorter), in whole s", True),
                 "integer", unit="s", min_limit=0, required=True),
        setting("UnlockConnectorOnEVSideDisconnect", required=True),
        setting("WebSocketPingInterval", unit="s", required=True),
    )),
    Component("TxCtrlr", (
        setting("ConnectionTimeOut", unit="s", required=True),
        setting("StopTransactionOnEVSideDisconnect", required=True),
        setting("StopTransactionOnInvalidId", required=True),
        setting("TxCtrlr.MaxEnergyOnInvalidId", unit="Wh", note="0 = none: a refusal acts at once"),
        setting("TxCtrlr.TxStartPoint", required=True),
        setting("TxCtrlr.TxStopPoint", required=True),
    )),
    Component("DeviceDataCtrlr", (
        setting("DeviceDataCtrlr.ItemsPerMessage.GetReport", required=True),
        setting("GetConfigurationMaxKeys", required=True),
        setting("DeviceDataCtrlr.ItemsPerMessage.SetVariables", required=True),
        setting("DeviceDataCtrlr.BytesPerMessage.GetReport", unit="B", required=True),
        setting("DeviceDataCtrlr.BytesPerMessage.GetVariables", unit="B", required=True),
        setting("DeviceDataCtrlr.BytesPerMessage.SetVariables", unit="B", required=True),
    )),
    Component("ClockCtrlr", (
        Variable("DateTime", _fact(lambda f, w: f.now(), "StationFacts.now"), "dateTime", required=True),
        setting("ClockCtrlr.TimeSource", data_type="SequenceList", required=True,
                note="fixed: the order agent/clock.py follows"),
    )),
    Component("SecurityCtrlr", (
        setting("AdditionalRootCertificateCheck", note="not supported: an installed root replaces no other"),
        setting("AuthorizationKey", max_limit=40, note="the HTTP Basic password: 16 to 40 printable characters, "
                                                       "used as written; accepted only under security profile 1 "
                                                       "or 2; the change is noted in the security log"),
        Variable("CertificateEntries", _fact(lambda f, w: f.certificate_entries(), "StationFacts.certificate_entries"),
                 "integer", required=True),
        Variable("Identity", _fact(lambda f, w: f.identity(), "StationFacts.identity ([charge_point] id)", True),
                 "string", max_limit=48),
        setting("CertificateSignedMaxChainSize", unit="B",
                note="fixed; a longer CertificateSigned chain is Rejected"),
        setting("SecurityCtrlr.CertSigningWaitMinimum", unit="s",
                note="A02.FR.17: first wait for a CertificateSigned before the CSR is sent again, doubled each time"),
        setting("SecurityCtrlr.CertSigningRepeatTimes",
                note="how often an unanswered or Rejected SignCertificate is sent again"),
        setting("CpoName", required=True, note="the organizationName (O) of the next CSR"),
        setting("SecurityProfile", required=True, note="the active connection profile's: raised with "
                                                       "SetNetworkProfile and NetworkConfigurationPriority (A05)"),
    )),
    Component("SampledDataCtrlr", (
        Variable("TxEndedInterval", Setting("MeterValueSampleInterval", view=_same,
                                            view_doc="fixed to MeterValueSampleInterval (TxUpdatedInterval): the "
                                                     "Ended event carries the periodic samples taken for the "
                                                     "Updated events (at most 200, thinned evenly)"),
                 "integer", unit="s", min_limit=0, required=True),
        setting("StopTxnSampledData", required=True),
        setting("SampledDataCtrlr.TxStartedMeasurands", required=True),
        setting("MeterValueSampleInterval", unit="s", required=True),
        setting("MeterValuesSampledData", required=True),
    )),
    Component("AlignedDataCtrlr", (
        setting("ClockAlignedDataInterval", unit="s", required=True),
        setting("MeterValuesAlignedData", required=True),
        Variable("TxEndedInterval", Setting("ClockAlignedDataInterval", view=_same,
                                            view_doc="fixed to ClockAlignedDataInterval (AlignedDataCtrlr.Interval): "
                                                     "the Ended event carries the clock-aligned samples taken"),
                 "integer", unit="s", min_limit=0, required=True),
        setting("StopTxnAlignedData", required=True),
    )),
    Component("AuthCtrlr", (
        setting("AuthorizeRemoteTxRequests", required=True),
        setting("LocalAuthorizeOffline", required=True),
        setting("LocalPreAuthorize", required=True),
        setting("AuthCtrlr.MasterPassGroupId"),
        setting("AllowOfflineTxForUnknownId"),
    )),
    Component("AuthCacheCtrlr", (
        _available("Core"),
        setting("AuthorizationCacheEnabled"),
        setting("AuthCacheCtrlr.LifeTime", unit="s", note="0 = entries never age out"),
        setting("AuthCacheCtrlr.Policy"),
        setting("AuthCacheCtrlr.Storage", unit="B"),
    )),
    Component("LocalAuthListCtrlr", (
        _available("LocalAuthListManagement"),
        setting("LocalAuthListEnabled"),
        Variable("Entries", _fact(lambda f, w: f.local_list_entries(), "StationFacts.local_list_entries"), "integer",
                 min_limit=0, max_limit_setting="LocalAuthListMaxLength", required=True),
        setting("SendLocalListMaxLength", required=True),
        setting("LocalAuthListCtrlr.BytesPerMessage", unit="B", required=True),
        _problem("LocalAuthListCtrlr"),
    ), profile="LocalAuthListManagement"),
    Component("ReservationCtrlr", (
        _available("Reservation"),
        setting("ReservationCtrlr.Enabled"),
        setting("ReserveConnectorZeroSupported"),
    ), profile="Reservation"),
    Component("SmartChargingCtrlr", (
        _available("SmartCharging"),
        setting("SmartChargingCtrlr.Enabled"),
        Variable("Entries", _fact(lambda f, w: f.charging_profile_entries(), "StationFacts.charging_profile_entries"),
                 "integer", instance="ChargingProfiles", min_limit=0,
                 max_limit_setting="MaxChargingProfilesInstalled", required=True),
        setting("SmartChargingCtrlr.LimitChangeSignificance", unit="Percent", required=True),
        setting("ChargingScheduleMaxPeriods", required=True),
        setting("ChargeProfileMaxStackLevel", required=True),
        Variable("RateUnit", Setting("ChargingScheduleAllowedChargingRateUnit", view=_rate_units,
                                     view_doc="ChargingScheduleAllowedChargingRateUnit spelt A and W"),
                 "MemberList", values_list=("A", "W"), required=True),
        setting("ConnectorSwitch3to1PhaseSupported"),
    ), profile="SmartCharging"),
    Component("DisplayMessageCtrlr", (
        Variable("Available", _fact(lambda f, w: True, "the screen's messages are kept whether or not a display "
                                    "is fitted (without one they go to the log and the status line)", True),
                 "boolean"),
        setting("DisplayMessageCtrlr.Enabled", note="false: SetDisplayMessage is Rejected"),
        Variable("DisplayMessages", _fact(lambda f, w: f.display_messages(), "StationFacts.display_messages"),
                 "integer", min_limit=0, max_limit=DISPLAY_MESSAGES_MAX, required=True,
                 note="a message of a new id beyond maxLimit is Rejected"),
        setting("DisplayMessageCtrlr.SupportedFormats", required=True,
                note="another format is answered NotSupportedMessageFormat"),
        setting("DisplayMessageCtrlr.SupportedPriorities", required=True,
                note="another priority is answered NotSupportedPriority"),
        setting("DisplayMessageCtrlr.PersonalMessageSize", note="characters of a personalMessage shown"),
        setting("DisplayMessageCtrlr.Language", note="the language of messages given without one"),
    )),
    Component("TariffCostCtrlr", (
        Variable("Available", _fact(lambda f, w: True, "tariff texts are shown", True), "boolean", instance="Tariff"),
        Variable("Available", _fact(lambda f, w: True, "the backend's costs are shown", True), "boolean",
                 instance="Cost"),
        setting("TariffCostCtrlr.Enabled.Tariff", note="false: personal messages (tariffs) are not shown"),
        setting("TariffCostCtrlr.Enabled.Cost", note="false: the backend's costs are not shown"),
        setting("TariffCostCtrlr.TariffFallbackMessage", note="shown for the price when the backend gives none"),
        setting("TariffCostCtrlr.TotalCostFallbackMessage", note="shown for the cost when the backend gives none"),
        setting("TariffCostCtrlr.Currency", note="ISO 4217 code of the backend's costs"),
    )),
    # The parts a fault event names (agent/ocpp201/problems.py), each with its Problem:
    # what GetVariables and the SummaryInventory say agrees with the events.
    *(Component(name, (_problem(name),), scope="anywhere")
      for name in dict.fromkeys(COMPONENT_OF.values())
      if name not in ("LocalAuthListCtrlr", STATION_COMPONENT, EVSE_COMPONENT)),
)

#: Components by name.
BY_NAME: dict[str, Component] = {component.name: component for component in COMPONENTS}
#: The variables a component has even when its feature profile is not offered.
ALWAYS_KNOWN = frozenset({"Available", "Enabled"})


def _check_table() -> None:
    """The table's own rules, checked once at import: a setting names its component, no
    variable is declared twice, no setting feeds two variables."""
    seen: set[tuple[str, str, str | None]] = set()
    settings: dict[str, str] = {}
    for component in COMPONENTS:
        for variable in component.variables:
            where = _component_of(variable)
            assert where in (None, component.name), f"{variable.setting} is named under {where}, not {component.name}"
            key = (component.name, variable.name, variable.instance)
            assert key not in seen, f"{key} declared twice"
            seen.add(key)
            if isinstance(variable.source, Setting) and variable.source.view is None:
                assert variable.source.name not in settings, f"{variable.source.name} feeds two variables"
                settings[variable.source.name] = component.name
    unbound = [name for name, spec in KEYS.items() if not spec.ocpp16 and name not in settings]
    assert not unbound, f"settings only 2.0.1 names but no variable reads: {unbound}"


_check_table()
