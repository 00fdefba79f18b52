"""The OCPP 2.0.1 device model (B05-B07): one table, read and written through the runtime
settings both protocols share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.ocpp201.device_model import COMPONENTS, Fact, Setting
from agent.ocpp201.variables import DeviceModel, report_pages
from agent.runtime_settings.configuration import Configuration
from agent.runtime_settings.keys import KEYS
from agent.store import ChargerState, Database

from .facts import FakeFacts

REPO = Path(__file__).resolve().parents[2]

#: The variables OCPP 2.0.1 Part 2 (appendix 3) marks required for each controller, plus the
#: Enabled/Available pair of the optional ones and each component's availability.
REQUIRED = {
    "OCPPCommCtrlr": {("FileTransferProtocols", None), ("MessageAttemptInterval", "TransactionEvent"),
                      ("MessageAttempts", "TransactionEvent"), ("MessageTimeout", "Default"),
                      ("NetworkConfigurationPriority", None), ("NetworkProfileConnectionAttempts", None),
                      ("OfflineThreshold", None), ("ResetRetries", None), ("RetryBackOffRandomRange", None),
                      ("RetryBackOffRepeatTimes", None), ("RetryBackOffWaitMinimum", None),
                      ("UnlockOnEVSideDisconnect", None), ("WebSocketPingInterval", None)},
    "TxCtrlr": {("EVConnectionTimeOut", None), ("StopTxOnEVSideDisconnect", None), ("StopTxOnInvalidId", None),
                ("TxStartPoint", None), ("TxStopPoint", None)},
    "DeviceDataCtrlr": {("ItemsPerMessage", "GetReport"), ("ItemsPerMessage", "GetVariables"),
                        ("BytesPerMessage", "GetReport"), ("BytesPerMessage", "GetVariables")},
    "ClockCtrlr": {("DateTime", None), ("TimeSource", None)},
    "SecurityCtrlr": {("CertificateEntries", None), ("OrganizationName", None), ("SecurityProfile", None)},
    "SampledDataCtrlr": {("TxEndedMeasurands", None), ("TxEndedInterval", None), ("TxStartedMeasurands", None),
                         ("TxUpdatedMeasurands", None), ("TxUpdatedInterval", None)},
    "AlignedDataCtrlr": {("Interval", None), ("Measurands", None), ("TxEndedInterval", None),
                         ("TxEndedMeasurands", None)},
    "AuthCtrlr": {("AuthorizeRemoteStart", None), ("LocalAuthorizeOffline", None), ("LocalPreAuthorize", None)},
    "AuthCacheCtrlr": {("Enabled", None), ("Available", None)},
    "LocalAuthListCtrlr": {("Enabled", None), ("Entries", None), ("ItemsPerMessage", None),
                           ("BytesPerMessage", None)},
    "ReservationCtrlr": {("Enabled", None), ("Available", None), ("NonEvseSpecific", None)},
    "SmartChargingCtrlr": {("Enabled", None), ("Available", None), ("Entries", "ChargingProfiles"),
                           ("LimitChangeSignificance", None), ("PeriodsPerSchedule", None),
                           ("ProfileStackLevel", None), ("RateUnit", None)},
    "ChargingStation": {("AvailabilityState", None), ("Available", None), ("SupplyPhases", None)},
    "EVSE": {("AvailabilityState", None), ("Available", None), ("Power", None), ("SupplyPhases", None)},
    "Connector": {("AvailabilityState", None), ("Available", None), ("ConnectorType", None),
                  ("SupplyPhases", None), ("PhaseRotation", None)},
}

#: 1.6 keys and the 2.0.1 variables that mean the same thing.
TWINS = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval", None),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval", None),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands", None),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval", None),
    "MeterValuesAlignedData": ("AlignedDataCtrlr", "Measurands", None),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands", None),
    "StopTxnAlignedData": ("AlignedDataCtrlr", "TxEndedMeasurands", None),
    "LocalPreAuthorize": ("AuthCtrlr", "LocalPreAuthorize", None),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline", None),
    "AuthorizationCacheEnabled": ("AuthCacheCtrlr", "Enabled", None),
    "LocalAuthListEnabled": ("LocalAuthListCtrlr", "Enabled", None),
    "StopTransactionOnInvalidId": ("TxCtrlr", "StopTxOnInvalidId", None),
    "StopTransactionOnEVSideDisconnect": ("TxCtrlr", "StopTxOnEVSideDisconnect", None),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut", None),
    "WebSocketPingInterval": ("OCPPCommCtrlr", "WebSocketPingInterval", None),
    "TransactionMessageAttempts": ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
    "TransactionMessageRetryInterval": ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"),
    "UnlockConnectorOnEVSideDisconnect": ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", None),
    "AuthorizeRemoteTxRequests": ("AuthCtrlr", "AuthorizeRemoteStart", None),
    "AllowOfflineTxForUnknownId": ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", None),
    "AuthorizationKey": ("SecurityCtrlr", "BasicAuthPassword", None),
    "SecurityProfile": ("SecurityCtrlr", "SecurityProfile", None),
    "GetConfigurationMaxKeys": ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),
    "SendLocalListMaxLength": ("LocalAuthListCtrlr", "ItemsPerMessage", None),
    "ReserveConnectorZeroSupported": ("ReservationCtrlr", "NonEvseSpecific", None),
    "ChargeProfileMaxStackLevel": ("SmartChargingCtrlr", "ProfileStackLevel", None),
    "ChargingScheduleMaxPeriods": ("SmartChargingCtrlr", "PeriodsPerSchedule", None),
    "ConnectorSwitch3to1PhaseSupported": ("SmartChargingCtrlr", "Phases3to1", None),
}


@pytest.fixture
def state(tmp_path):
    db = Database(tmp_path)
    db.open()
    yield ChargerState(db)
    db.close()


@pytest.fixture
def facts():
    return FakeFacts()


@pytest.fixture
def config(state):
    return Configuration({}, state, 2)


@pytest.fixture
def model(config, facts):
    return DeviceModel(config, facts)


def get(component, variable, *, evse=None, instance=None, attribute_type=None, component_instance=None):
    request = {"component": {"name": component}, "variable": {"name": variable}}
    if evse is not None:
        request["component"]["evse"] = evse
    if component_instance is not None:
        request["component"]["instance"] = component_instance
    if instance is not None:
        request["variable"]["instance"] = instance
    if attribute_type is not None:
        request["attribute_type"] = attribute_type
    return request


def put(component, variable, value, **kw):
    return get(component, variable, **kw) | {"attribute_value": value}


def table():
    return {(c.name, v.name, v.instance): v for c in COMPONENTS for v in c.variables}


# --- the table ----------------------------------------------------------------------------


def test_every_required_variable_of_each_controller_is_reported():
    declared = {c.name: {(v.name, v.instance) for v in c.variables} for c in COMPONENTS}
    for component, required in REQUIRED.items():
        assert required <= declared.get(component, set()), (component, required - declared.get(component, set()))


@pytest.mark.parametrize(("key", "where"), TWINS.items())
def test_a_16_key_and_its_201_twin_are_one_setting(key, where):
    variable = table()[where]
    assert isinstance(variable.source, Setting) and variable.source.name == key
    assert variable.shared_key == key


def test_every_setting_feeds_at_most_one_variable_and_every_201_only_setting_one():
    fed = [v.source.name for v in table().values() if isinstance(v.source, Setting) and v.source.view is None]
    assert len(fed) == len(set(fed))
    only201 = {name for name, spec in KEYS.items() if not spec.ocpp16}
    assert only201 and only201 <= set(fed)
    for (component, name, instance), variable in table().items():
        if isinstance(variable.source, Setting) and variable.source.view is None:
            assert KEYS[variable.source.name].v201 == ".".join(p for p in (component, name, instance) if p)


def test_facts_and_projections_are_read_only():
    for variable in table().values():
        if isinstance(variable.source, Fact) or variable.source.view is not None:
            assert variable.mutability == "ReadOnly", variable.name


def test_the_modules_stay_cheap_no_ocpp_library():
    code = ("import sys, agent.ocpp201.variables, agent.ocpp201.device_model_doc; "
            "print(sorted(m for m in sys.modules if m == 'ocpp' or m.startswith('ocpp.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


# --- B06 GetVariables ---------------------------------------------------------------------


async def test_get_variables_answers_each_request_in_order(model, config):
    await config.set("HeartbeatInterval", 120)
    results = model.get_variables([
        get("OCPPCommCtrlr", "HeartbeatInterval"),
        get("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent"),
        get("NoSuchCtrlr", "Enabled"),
        get("TxCtrlr", "NoSuchVariable"),
        get("OCPPCommCtrlr", "HeartbeatInterval", attribute_type="Target"),
        get("SecurityCtrlr", "BasicAuthPassword"),
    ])
    assert [r["attribute_status"] for r in results] == [
        "Accepted", "Accepted", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType", "Rejected"]
    assert results[0] == {"attribute_status": "Accepted", "attribute_type": "Actual",
                          "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                          "attribute_value": "120"}
    assert results[1]["attribute_value"] == "3"
    assert "attribute_value" not in results[5]
    assert results[5]["attribute_status_info"]["reason_code"] == "WriteOnly"
    assert all("attribute_value" not in r for r in results[2:])


@pytest.mark.parametrize("request_", [
    get("EVSE", "AvailabilityState"),  # no evse
    get("EVSE", "AvailabilityState", evse={"id": 3}),  # two EVSEs only
    get("EVSE", "AvailabilityState", evse={"id": 1, "connector_id": 1}),  # that is a connector
    get("Connector", "ConnectorType", evse={"id": 1}),  # no connector id
    get("Connector", "ConnectorType", evse={"id": 1, "connector_id": 2}),  # one connector per EVSE
    get("TxCtrlr", "TxStartPoint", evse={"id": 1}),  # a controller lives at the station
    get("TxCtrlr", "TxStartPoint", component_instance="Main"),
])
def test_get_variables_unknown_places_are_unknown_components(model, request_):
    assert model.get_variables([request_])[0]["attribute_status"] == "UnknownComponent"


def test_get_variables_needs_the_exact_variable_instance(model):
    results = model.get_variables([get("OCPPCommCtrlr", "MessageAttempts"),
                                   get("OCPPCommCtrlr", "MessageAttempts", instance="Other"),
                                   get("OCPPCommCtrlr", "HeartbeatInterval", instance="Default")])
    assert [r["attribute_status"] for r in results] == ["UnknownVariable"] * 3


def test_live_facts_at_each_place(model, facts):
    facts.states[(2, None)] = "Occupied"
    facts.states[(2, 1)] = "Occupied"
    facts.inoperative.add((1, None))
    results = model.get_variables([
        get("EVSE", "AvailabilityState", evse={"id": 2}),
        get("Connector", "AvailabilityState", evse={"id": 2, "connector_id": 1}),
        get("EVSE", "Available", evse={"id": 1}),
        get("EVSE", "Available", evse={"id": 2}),
        get("EVSE", "Power", evse={"id": 1}, attribute_type="MaxSet"),
        get("EVSE", "Power", evse={"id": 1}),  # only the maximum is reported
        get("ClockCtrlr", "DateTime"),
        get("ChargingStation", "VendorName"),
        get("SmartChargingCtrlr", "Entries", instance="ChargingProfiles"),
    ])
    assert [r.get("attribute_value", r["attribute_status"]) for r in results] == [
        "Occupied", "Occupied", "false", "true", "22080", "NotSupportedAttributeType",
        "2026-12-06T12:00:00.123Z", "Ladda", "3"]


async def test_projections_of_16_keys(model, config):
    await config.set("ConnectorPhaseRotation", ("0.RST", "2.STR"))
    results = model.get_variables([
        get("Connector", "PhaseRotation", evse={"id": 1, "connector_id": 1}),
        get("Connector", "PhaseRotation", evse={"id": 2, "connector_id": 1}),
        get("SmartChargingCtrlr", "RateUnit"),
    ])
    assert [r["attribute_value"] for r in results] == ["RST", "STR", "A,W"]


async def test_a_component_of_a_profile_not_offered_shows_only_that_it_is_off(state, facts):
    model = DeviceModel(Configuration({"SupportedFeatureProfiles": "Core,LocalAuthListManagement"}, state, 2), facts)
    results = model.get_variables([
        get("SmartChargingCtrlr", "Available"), get("SmartChargingCtrlr", "Enabled"),
        get("SmartChargingCtrlr", "ProfileStackLevel"), get("LocalAuthListCtrlr", "Available"),
        get("ReservationCtrlr", "NonEvseSpecific"),
    ])
    assert [r.get("attribute_value", r["attribute_status"]) for r in results] == [
        "false", "false", "UnknownVariable", "true", "UnknownVariable"]
    [answer] = await model.set_variables([put("SmartChargingCtrlr", "Enabled", "true")])
    assert answer["attribute_status"] == "Rejected"
    assert answer["attribute_status_info"]["reason_code"] == "NotAvailable"


# --- B05 SetVariables ---------------------------------------------------------------------


async def test_set_variables_answers_each_request_in_order(model, config):
    results = await model.set_variables([
        put("SampledDataCtrlr", "TxStartedMeasurands", "Energy.Active.Import.Register,Voltage"),
        put("OCPPCommCtrlr", "OfflineThreshold", "-5"),
        put("OCPPCommCtrlr", "FileTransferProtocols", "FTP"),
        put("NoSuchCtrlr", "Enabled", "true"),
        put("TxCtrlr", "TxStartPont", "EVConnected"),
        put("TxCtrlr", "TxStartPoint", "EVConnected", attribute_type="MinSet"),
        put("OCPPCommCtrlr", "WebSocketPingInterval", "30"),
    ])
    assert [r["attribute_status"] for r in results] == [
        "Accepted", "Rejected", "Rejected", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType",
        "RebootRequired"]
    assert results[0] == {"attribute_status": "Accepted", "attribute_type": "Actual",
                          "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxStartedMeasurands"}}
    assert results[1]["attribute_status_info"] == {"reason_code": "InvalidValue",
                                                   "additional_info": "must be an integer >= 0"}
    assert results[2]["attribute_status_info"]["reason_code"] == "ReadOnly"
    assert config["SampledDataCtrlr.TxStartedMeasurands"] == ("Energy.Active.Import.Register", "Voltage")
    assert config["OCPPCommCtrlr.OfflineThreshold"] == 60
    assert config["WebSocketPingInterval"] == 30
    assert config["SampledDataCtrlr.TxStartedMeasurands"] != KEYS["SampledDataCtrlr.TxStartedMeasurands"].default


STOP_POINT_RULE = ("must contain PowerPathClosed, or both EVConnected and Authorized (this charger ends a "
                   "transaction when its EV leaves or its authorization ends)")


@pytest.mark.parametrize(("component", "variable", "value", "why"), [
    ("TxCtrlr", "TxStopPoint", "ParkingBayOccupancy", "unsupported item(s) ParkingBayOccupancy; allowed: "
     "EVConnected, Authorized, PowerPathClosed, EnergyTransfer"),
    ("TxCtrlr", "TxStopPoint", "EVConnected", STOP_POINT_RULE),
    ("TxCtrlr", "TxStopPoint", "Authorized,EnergyTransfer", STOP_POINT_RULE),
    ("TxCtrlr", "TxStartPoint", "DataSigned", "unsupported item(s) DataSigned; allowed: EVConnected, Authorized, "
                                              "PowerPathClosed, EnergyTransfer"),
    ("TxCtrlr", "TxStartPoint", "", "at least 1 item"),
    ("TxCtrlr", "StopTxOnInvalidId", "yes", "must be true or false"),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", "Energy.Active.Import.Register,Temperature",
     "unsupported item(s) Temperature; allowed: Energy.Active.Import.Register, Power.Active.Import, "
     "Current.Import, Voltage, Current.Offered, Power.Offered"),
    ("SmartChargingCtrlr", "LimitChangeSignificance", "101", "must be a number <= 100"),
    ("AuthCtrlr", "MasterPassGroupId", "x" * 37, "must be at most 36 characters"),
])
async def test_invalid_values_are_rejected_with_the_rule(model, component, variable, value, why):
    [result] = await model.set_variables([put(component, variable, value)])
    assert result["attribute_status"] == "Rejected"
    assert result["attribute_status_info"] == {"reason_code": "InvalidValue", "additional_info": why}


async def test_a_value_longer_than_the_schema_allows_is_rejected(model):
    [result] = await model.set_variables([put("SecurityCtrlr", "OrganizationName", "x" * 1001)])
    assert result["attribute_status_info"]["reason_code"] == "ValueTooLarge"


async def test_decimals_and_text_are_kept(model, config):
    results = await model.set_variables([put("SmartChargingCtrlr", "LimitChangeSignificance", "2.5"),
                                         put("AuthCtrlr", "MasterPassGroupId", "Acme Masters")])
    assert [r["attribute_status"] for r in results] == ["Accepted", "Accepted"]
    got = model.get_variables([get("SmartChargingCtrlr", "LimitChangeSignificance"),
                               get("AuthCtrlr", "MasterPassGroupId")])
    assert [r["attribute_value"] for r in got] == ["2.5", "Acme Masters"]


async def test_the_basic_auth_password_is_the_16_authorization_key_and_never_echoed(model, config):
    password = "0123456789abcdef0123"
    [refused] = await model.set_variables([put("SecurityCtrlr", "BasicAuthPassword", password)])
    assert refused["attribute_status"] == "Rejected"  # profile 0 sends no password
    config.bind_backend_security(1, "fileFILEfile-pass")
    bad = "short"
    [invalid, accepted] = await model.set_variables([put("SecurityCtrlr", "BasicAuthPassword", bad),
                                                    put("SecurityCtrlr", "BasicAuthPassword", password)])
    assert invalid["attribute_status"] == "Rejected" and bad not in repr(invalid)
    assert accepted["attribute_status"] == "Accepted" and password not in repr(accepted) + repr(refused)
    assert config.authorization_key() == password.encode()
    assert password not in repr(model.base_report("FullInventory"))


async def test_listeners_hear_a_change_made_by_set_variables(model, config):
    heard = []
    config.subscribe(lambda name, value: heard.append((name, value)))
    await model.set_variables([put("OCPPCommCtrlr", "HeartbeatInterval", "45"),
                               put("OCPPCommCtrlr", "HeartbeatInterval", "x")])
    assert heard == [("HeartbeatInterval", 45)]


# --- one setting, two protocols -----------------------------------------------------------


async def test_a_shared_setting_set_by_set_variables_is_what_16_reads(model, config):
    await model.set_variables([put("SampledDataCtrlr", "TxUpdatedInterval", "15"),
                               put("AuthCtrlr", "AuthorizeRemoteStart", "true")])
    known, _ = config.report(["MeterValueSampleInterval", "AuthorizeRemoteTxRequests"])
    assert [(k.key, k.value) for k in known] == [("MeterValueSampleInterval", "15"),
                                                 ("AuthorizeRemoteTxRequests", "true")]


async def test_a_change_by_change_configuration_is_what_get_variables_reads(model, config):
    assert await config.change("StopTxnSampledData", "Energy.Active.Import.Register,Voltage") == "Accepted"
    [result] = model.get_variables([get("SampledDataCtrlr", "TxEndedMeasurands")])
    assert result["attribute_value"] == "Energy.Active.Import.Register,Voltage"


async def test_a_201_only_setting_does_not_exist_for_16(model, config):
    known, unknown = config.report(None)
    assert all("." not in k.key for k in known)
    assert not {k.key for k in known} & {n for n, s in KEYS.items() if not s.ocpp16}
    known, unknown = config.report(["TxCtrlr.TxStartPoint", "OCPPCommCtrlr.OfflineThreshold"])
    assert known == [] and unknown == ["TxCtrlr.TxStartPoint", "OCPPCommCtrlr.OfflineThreshold"]
    assert await config.change("TxCtrlr.TxStartPoint", "EVConnected") == "NotSupported"
    assert await config.change("OCPPCommCtrlr.OfflineThreshold", "5") == "NotSupported"
    assert config["TxCtrlr.TxStartPoint"] == ("PowerPathClosed",)
    assert config["OCPPCommCtrlr.OfflineThreshold"] == 60


async def test_changes_survive_a_restart(model, state, facts):
    await model.set_variables([put("SampledDataCtrlr", "TxStartedMeasurands", "Voltage"),
                               put("OCPPCommCtrlr", "HeartbeatInterval", "90"),
                               put("OCPPCommCtrlr", "WebSocketPingInterval", "20")])
    again = DeviceModel(Configuration({"HeartbeatInterval": 300,
                                       "SampledDataCtrlr.TxStartedMeasurands": "Energy.Active.Import.Register"},
                                      state, 2), facts)
    results = again.get_variables([get("SampledDataCtrlr", "TxStartedMeasurands"),
                                   get("OCPPCommCtrlr", "HeartbeatInterval"),
                                   get("OCPPCommCtrlr", "WebSocketPingInterval")])
    assert [r["attribute_value"] for r in results] == ["Voltage", "90", "20"]


def test_the_files_initial_values_of_201_only_settings_apply(state, facts):
    model = DeviceModel(Configuration({"SampledDataCtrlr.TxStartedMeasurands": "Voltage"}, state, 2), facts)
    [result] = model.get_variables([get("SampledDataCtrlr", "TxStartedMeasurands")])
    assert result["attribute_value"] == "Voltage"


# --- B07 GetBaseReport --------------------------------------------------------------------


def where(data):
    evse = data["component"].get("evse", {})
    return (data["component"]["name"], evse.get("id"), evse.get("connector_id"), data["variable"]["name"],
            data["variable"].get("instance"))


def test_full_inventory_reports_every_variable_at_every_place(model):
    report = model.base_report("FullInventory")
    places = [where(d) for d in report]
    assert len(places) == len(set(places))
    stations = sum(len(c.variables) for c in COMPONENTS if c.scope in ("station", "anywhere"))
    per_evse = sum(len(c.variables) for c in COMPONENTS if c.scope != "station")
    assert len(report) == stations + 2 * per_evse
    for component, required in REQUIRED.items():
        for name, instance in required:
            assert any(p[0] == component and p[3] == name and p[4] == instance for p in places), (component, name)
    heartbeat = next(d for d in report if where(d) == ("OCPPCommCtrlr", None, None, "HeartbeatInterval", None))
    assert heartbeat["variable_attribute"] == [{"type": "Actual", "value": "300", "mutability": "ReadWrite",
                                                "persistent": True, "constant": False}]
    assert heartbeat["variable_characteristics"] == {"data_type": "integer", "supports_monitoring": False,
                                                     "unit": "s", "min_limit": 0, "max_limit": 86400}
    password = next(d for d in report if d["variable"]["name"] == "BasicAuthPassword")
    assert password["variable_attribute"] == [{"type": "Actual", "mutability": "WriteOnly", "persistent": True,
                                               "constant": False}]
    start = next(d for d in report if d["variable"]["name"] == "TxStartPoint")
    assert start["variable_characteristics"]["values_list"] == "EVConnected,Authorized,PowerPathClosed,EnergyTransfer"
    assert start["variable_characteristics"]["data_type"] == "MemberList"
    power = next(d for d in report if where(d) == ("EVSE", 2, None, "Power", None))
    assert power["variable_attribute"][0]["type"] == "MaxSet" and power["variable_attribute"][0]["value"] == "11040"
    entries = next(d for d in report if where(d) == ("LocalAuthListCtrlr", None, None, "Entries", None))
    assert entries["variable_characteristics"]["max_limit"] == 10000


def test_configuration_inventory_reports_what_the_backend_may_set(model):
    report = model.base_report("ConfigurationInventory")
    assert report
    assert all(d["variable_attribute"][0]["mutability"] in ("ReadWrite", "WriteOnly") for d in report)
    names = {where(d) for d in report}
    assert ("TxCtrlr", None, None, "TxStartPoint", None) in names
    assert ("SecurityCtrlr", None, None, "BasicAuthPassword", None) in names
    assert ("SecurityCtrlr", None, None, "SecurityProfile", None) not in names


def test_summary_inventory_reports_availability_and_problems(model, facts):
    facts.states[(2, 1)] = "Faulted"
    facts.faults[2] = "PowerMeterFailure"  # EVSE 2's meter fails: its events name FiscalMetering
    report = model.base_report("SummaryInventory")
    assert [(where(d), d["variable_attribute"][0]["value"]) for d in report] == [
        (("ChargingStation", None, None, "AvailabilityState", None), "Available"),
        (("ChargingStation", None, None, "Problem", None), "true"),
        (("EVSE", 1, None, "AvailabilityState", None), "Available"),
        (("EVSE", 2, None, "AvailabilityState", None), "Available"),
        (("EVSE", 2, None, "Problem", None), "true"),
        (("Connector", 1, 1, "AvailabilityState", None), "Available"),
        (("Connector", 2, 1, "AvailabilityState", None), "Faulted"),
        (("FiscalMetering", 2, 1, "Problem", None), "true"),
    ]
    facts.faults.clear()
    assert all(d["variable"]["name"] == "AvailabilityState" for d in model.base_report("SummaryInventory"))


def test_an_unknown_report_base_is_none(model):
    assert model.base_report("EverythingInventory") is None


def test_a_custom_report_selects_components_and_variables(model, facts):
    report = model.custom_report(component_variable=[
        {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "AvailabilityState"}},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "MessageAttempts"}},
        {"component": {"name": "ClockCtrlr"}},
    ])
    assert [where(d) for d in report] == [
        ("EVSE", 2, None, "AvailabilityState", None),
        ("OCPPCommCtrlr", None, None, "MessageAttempts", "TransactionEvent"),
        ("ClockCtrlr", None, None, "DateTime", None),
        ("ClockCtrlr", None, None, "TimeSource", None),
    ]
    facts.faults[0] = "ReaderFailure"
    problems = model.custom_report(component_criteria=["Problem"])
    assert {d["component"]["name"] for d in problems} == {"ChargingStation", "TokenReader"}


# --- NotifyReport pages -------------------------------------------------------------------


def test_report_pages_split_with_tbc_and_seq_no():
    data = [{"n": i} for i in range(5)]
    pages = report_pages(data, 7, "2026-12-06T12:00:00.000Z", 2)
    assert [(p["seq_no"], p["tbc"], p["report_data"]) for p in pages] == [
        (0, True, data[0:2]), (1, True, data[2:4]), (2, False, data[4:5])]
    assert all(p["request_id"] == 7 and p["generated_at"] == "2026-12-06T12:00:00.000Z" for p in pages)


def test_report_pages_exact_fit_and_empty_report():
    assert [p["tbc"] for p in report_pages([{}] * 4, 1, "t", 2)] == [True, False]
    assert report_pages([], 1, "t", 2) == [{"request_id": 1, "generated_at": "t", "seq_no": 0, "tbc": False}]
    with pytest.raises(ValueError):
        report_pages([{}], 1, "t", 0)


def test_report_pages_size_follows_items_per_message(model, config, facts):
    per_page = config.int("DeviceDataCtrlr.ItemsPerMessage.GetReport")
    pages = report_pages(model.base_report("FullInventory"), 3, facts.now(), per_page)
    assert all(len(p["report_data"]) <= per_page for p in pages)
    assert pages[0]["generated_at"] == "2026-12-06T12:00:00.123Z"
    assert sum(len(p["report_data"]) for p in pages) == len(model.base_report("FullInventory"))
