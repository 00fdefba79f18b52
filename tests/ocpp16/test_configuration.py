"""OCPP 1.6 configuration keys: one table for GetConfiguration, ChangeConfiguration and the TOML file."""

from __future__ import annotations

import pytest

from agent.ocpp16.configuration import Configuration
from agent.ocpp16.keys import KEYS, check_initial
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
