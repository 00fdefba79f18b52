"""OCPP 1.6 configuration keys: one table for GetConfiguration, ChangeConfiguration and the TOML file."""

from __future__ import annotations

import pytest

from agent.runtime_settings.configuration import Configuration
from agent.runtime_settings.keys import KEYS, check_initial
from agent.store import ChargerState, Database

CORE_REQUIRED = {
    "AuthorizeRemoteTxRequests", "ClockAlignedDataInterval", "ConnectionTimeOut", "ConnectorPhaseRotation",
    "GetConfigurationMaxKeys", "HeartbeatInterval", "LocalAuthorizeOffline", "LocalPreAuthorize",
    "MeterValuesAlignedData", "MeterValuesSampledData", "MeterValueSampleInterval", "NumberOfConnectors",
    "ResetRetries", "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId", "StopTxnAlignedData",
    "StopTxnSampledData", "SupportedFeatureProfiles", "TransactionMessageAttempts",
    "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect",
}


@pytest.fixture
def state(tmp_path):
    db = Database(tmp_path)
    db.open()
    yield ChargerState(db)
    db.close()


def test_every_required_core_key_is_supported():
    assert CORE_REQUIRED <= set(KEYS)


@pytest.mark.parametrize(
    ("key", "value", "answer"),
    [
        ("MeterValueSampleInterval", "30", "Accepted"),
        ("MeterValueSampleInterval", "-1", "Rejected"),
        ("MeterValueSampleInterval", "abc", "Rejected"),
        ("StopTransactionOnEVSideDisconnect", "false", "Accepted"),
        ("StopTransactionOnEVSideDisconnect", "maybe", "Rejected"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Voltage", "Accepted"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Temperature", "Rejected"),
        ("MeterValuesSampledData", "Voltage,,Voltage", "Rejected"),
        ("NumberOfConnectors", "4", "Rejected"),
        ("SupportedFeatureProfiles", "Core", "Rejected"),
        ("WebSocketPingInterval", "30", "RebootRequired"),
        ("NoSuchKey", "1", "NotSupported"),
    ],
)
async def test_change_configuration_answers(state, key, value, answer):
    config = Configuration({}, state, 2)
    assert await config.change(key, value) == answer


async def test_changes_persist_and_override_the_file(state):
    config = Configuration({"MeterValueSampleInterval": 60}, state, 1)
    assert config.int("MeterValueSampleInterval") == 60
    await config.change("MeterValueSampleInterval", "15")
    again = Configuration({"MeterValueSampleInterval": 60}, state, 1)
    assert again.int("MeterValueSampleInterval") == 15


async def test_listeners_hear_accepted_changes_only(state):
    config = Configuration({}, state, 1)
    heard = []
    config.subscribe(lambda name, value: heard.append((name, value)))
    await config.change("ConnectionTimeOut", "abc")
    await config.change("ConnectionTimeOut", "45")
    assert heard == [("ConnectionTimeOut", 45)]


def test_report_renders_values_as_the_spec_spells_them(state):
    config = Configuration({"StopTxnSampledData": "Energy.Active.Import.Register,Power.Active.Import"}, state, 2)
    known, unknown = config.report(["NumberOfConnectors", "StopTxnSampledData", "LocalPreAuthorize", "Nope"])
    assert [(k.key, k.readonly, k.value) for k in known] == [
        ("NumberOfConnectors", True, "2"),
        ("StopTxnSampledData", False, "Energy.Active.Import.Register,Power.Active.Import"),
        ("LocalPreAuthorize", False, "false"),
    ]
    assert unknown == ["Nope"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("HeartbeatInterval", 300, None),
        ("HeartbeatIntervall", 300, "did you mean 'HeartbeatInterval'"),
        ("NumberOfConnectors", 2, "read-only"),
        ("ConnectionTimeOut", True, "integer"),
        ("LocalPreAuthorize", "yes", "true or false"),
    ],
)
def test_initial_values_from_the_file_are_checked(name, value, problem):
    result = check_initial(name, value)
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


# --- the feature profiles the charger maker offers ------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Core,RemoteTrigger", None),
        ("Core", None),
        ("RemoteTrigger", "must include Core (every charge point offers it)"),
        ("Core,SmartCharging", None),
        ("Core,Smartcharging", "unsupported item(s) Smartcharging; allowed: Core, FirmwareManagement, "
                               "LocalAuthListManagement, Reservation, RemoteTrigger, SmartCharging"),
        ("Core,Core", "lists Core twice"),
    ],
)
def test_the_file_chooses_the_offered_profiles(value, problem):
    assert check_initial("SupportedFeatureProfiles", value) == problem
    assert check_initial("ReserveConnectorZeroSupported", False) is None  # the maker's choice too


async def test_a_profile_not_offered_has_no_keys_and_its_actions_are_not_supported(state):
    config = Configuration({"SupportedFeatureProfiles": "Core,FirmwareManagement,RemoteTrigger"}, state, 1)
    known, unknown = config.report(None)
    names = {k.key for k in known}
    assert next(k.value for k in known if k.key == "SupportedFeatureProfiles") == "Core,FirmwareManagement,RemoteTrigger"
    assert not names & {"LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength",
                        "ReserveConnectorZeroSupported"}
    known, unknown = config.report(["LocalAuthListEnabled", "HeartbeatInterval"])
    assert [k.key for k in known] == ["HeartbeatInterval"] and unknown == ["LocalAuthListEnabled"]
    assert await config.change("LocalAuthListEnabled", "true") == "NotSupported"
    assert config.bool("LocalAuthListEnabled") is False  # no list in use: SendLocalList NotSupported, version -1
    assert config.unsupported_actions() == {"ReserveNow", "CancelReservation", "SetChargingProfile",
                                            "ClearChargingProfile", "GetCompositeSchedule"}
    assert not names & {"ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit",
                        "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled"}
    assert not config.offers("Reservation") and config.offers("Core")


async def test_a_stored_list_setting_does_not_revive_a_profile_not_offered(state):
    await Configuration({}, state, 1).change("LocalAuthListEnabled", "true")
    config = Configuration({"SupportedFeatureProfiles": "Core"}, state, 1)
    assert config.bool("LocalAuthListEnabled") is False
    assert config.unsupported_actions() == {"GetDiagnostics", "UpdateFirmware", "ReserveNow", "CancelReservation",
                                            "TriggerMessage", "SetChargingProfile", "ClearChargingProfile",
                                            "GetCompositeSchedule"}


def test_every_profile_is_offered_by_default(state):
    config = Configuration({"ReserveConnectorZeroSupported": False}, state, 2)
    assert config.unsupported_actions() == frozenset()
    known, _ = config.report(["SupportedFeatureProfiles", "ReserveConnectorZeroSupported"])
    assert [(k.value, k.readonly) for k in known] == [
        ("Core,FirmwareManagement,RemoteTrigger,LocalAuthListManagement,Reservation,SmartCharging", True),
        ("false", True)]
