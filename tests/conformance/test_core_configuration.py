"""Core modules 08 and 16 (configuration): TC_019, TC_021, TC_040_1, TC_040_2."""

from __future__ import annotations

from simulators.harness import Stack

from .helpers import call_checked, get_configuration, restart_agent_and_wait

# OCPP 1.6, 9.1: the Core keys a charge point must support ...
REQUIRED_CORE_KEYS = {
    "AuthorizeRemoteTxRequests",
    "ClockAlignedDataInterval",
    "ConnectionTimeOut",
    "ConnectorPhaseRotation",
    "GetConfigurationMaxKeys",
    "HeartbeatInterval",
    "LocalAuthorizeOffline",
    "LocalPreAuthorize",
    "MeterValuesAlignedData",
    "MeterValuesSampledData",
    "MeterValueSampleInterval",
    "NumberOfConnectors",
    "ResetRetries",
    "StopTransactionOnEVSideDisconnect",
    "StopTransactionOnInvalidId",
    "StopTxnAlignedData",
    "StopTxnSampledData",
    "SupportedFeatureProfiles",
    "TransactionMessageAttempts",
    "TransactionMessageRetryInterval",
    "UnlockConnectorOnEVSideDisconnect",
}
# ... which of them the spec makes read-only (R), and which writable (RW).
READONLY_KEYS = {"GetConfigurationMaxKeys", "NumberOfConnectors", "SupportedFeatureProfiles"}
WRITABLE_KEYS = REQUIRED_CORE_KEYS - READONLY_KEYS - {"AuthorizeRemoteTxRequests"}  # that one is R or RW
# Optional Core keys: if reported, the *MaxLength ones are read-only.
READONLY_IF_PRESENT = {
    "ConnectorPhaseRotationMaxLength",
    "MeterValuesAlignedDataMaxLength",
    "MeterValuesSampledDataMaxLength",
    "StopTxnAlignedDataMaxLength",
    "StopTxnSampledDataMaxLength",
    "SupportedFeatureProfilesMaxLength",
}


async def change(stack: Stack, key: str, value: str) -> str:
    result = await call_checked(stack, "ChangeConfiguration", {"key": key, "value": value})
    assert "error" not in result, f"ChangeConfiguration {key}={value!r} answered {result}"
    return str(result["status"])


async def test_tc_019_retrieve_configuration(charger):
    stack = await charger(connectors=2)

    known, unknown = await get_configuration(stack)
    assert unknown == []
    assert REQUIRED_CORE_KEYS <= set(known), f"missing Core keys: {sorted(REQUIRED_CORE_KEYS - set(known))}"
    for key in READONLY_KEYS | (READONLY_IF_PRESENT & set(known)):
        assert known[key]["readonly"] is True, f"{key} must be read-only"
    for key in WRITABLE_KEYS:
        assert known[key]["readonly"] is False, f"{key} must be writable"
    for key, entry in known.items():
        assert isinstance(entry["value"], str), f"{key} has no value"
    assert known["NumberOfConnectors"]["value"] == "2"
    assert "Core" in known["SupportedFeatureProfiles"]["value"].split(",")
    # The technician's initial values (the [ocpp] table) are what the backend reads.
    assert known["MeterValueSampleInterval"]["value"] == "0"
    assert known["ConnectionTimeOut"]["value"] == "30"
    assert int(known["GetConfigurationMaxKeys"]["value"]) >= 1

    known, unknown = await get_configuration(stack, ["HeartbeatInterval", "NumberOfConnectors", "NoSuchKey"])
    assert set(known) == {"HeartbeatInterval", "NumberOfConnectors"}
    assert known["NumberOfConnectors"] == {"readonly": True, "value": "2"}
    assert known["HeartbeatInterval"]["readonly"] is False
    assert known["HeartbeatInterval"]["value"].isdigit()
    assert unknown == ["NoSuchKey"]

    known, unknown = await get_configuration(stack, ["NoSuchKey", "AlsoUnknown"])
    assert known == {}
    assert sorted(unknown) == ["AlsoUnknown", "NoSuchKey"]


async def test_tc_021_change_configuration(charger):
    stack = await charger(connectors=2)
    technician_file = stack.config_path.read_text()

    assert await change(stack, "MeterValueSampleInterval", "17") == "Accepted"
    known, _ = await get_configuration(stack, ["MeterValueSampleInterval"])
    assert known["MeterValueSampleInterval"] == {"readonly": False, "value": "17"}

    # The backend's change outlives the agent (it lives in the state database) and
    # wins over the file's initial value, which stays as the technician wrote it.
    await restart_agent_and_wait(stack)
    known, _ = await get_configuration(stack, ["MeterValueSampleInterval"])
    assert known["MeterValueSampleInterval"]["value"] == "17"
    assert stack.config_path.read_text() == technician_file


async def test_tc_040_1_configuration_keys_not_supported(charger):
    stack = await charger()
    assert await change(stack, "NoSuchConfigurationKey", "1") == "NotSupported"
    known, unknown = await get_configuration(stack, ["NoSuchConfigurationKey"])
    assert known == {}
    assert unknown == ["NoSuchConfigurationKey"]


async def test_tc_040_2_configuration_keys_invalid_value(charger):
    stack = await charger()
    before, _ = await get_configuration(stack)
    invalid = [
        ("MeterValueSampleInterval", "abc"),
        ("MeterValueSampleInterval", "-5"),
        ("HeartbeatInterval", "1.5"),
        ("ConnectionTimeOut", ""),
        ("StopTransactionOnInvalidId", "maybe"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus.Measurand"),
        ("StopTxnSampledData", "NotAMeasurand"),
    ]
    for key, value in invalid:
        assert await change(stack, key, value) == "Rejected", f"{key}={value!r} must be rejected"
    after, _ = await get_configuration(stack)
    for key, _value in invalid:
        assert after[key]["value"] == before[key]["value"], f"a rejected change altered {key}"


async def test_change_configuration_readonly_key_rejected(charger):
    stack = await charger(connectors=2)
    assert await change(stack, "NumberOfConnectors", "5") == "Rejected"
    assert await change(stack, "SupportedFeatureProfiles", "Core") == "Rejected"
    assert await change(stack, "GetConfigurationMaxKeys", "1") == "Rejected"
    known, _ = await get_configuration(stack, ["NumberOfConnectors", "SupportedFeatureProfiles", "GetConfigurationMaxKeys"])
    assert known["NumberOfConnectors"]["value"] == "2"
    assert "Core" in known["SupportedFeatureProfiles"]["value"].split(",")
    assert known["GetConfigurationMaxKeys"]["value"] != "1"


async def test_change_configuration_reboot_required(charger):
    stack = await charger()
    assert await change(stack, "WebSocketPingInterval", "30") == "RebootRequired"
    # Accepted for the next start: it is kept across the reboot it asked for.
    await restart_agent_and_wait(stack)
    known, _ = await get_configuration(stack, ["WebSocketPingInterval"])
    assert known["WebSocketPingInterval"]["value"] == "30"
