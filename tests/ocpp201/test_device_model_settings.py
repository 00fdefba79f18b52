"""The configuration file's [ocpp201.<Component>] tables, and the generated device model document."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent.ocpp201 import device_model_doc
from agent.runtime_settings.configuration import Configuration
from agent.runtime_settings.keys import OCPP16_KEYS, check_initial
from agent.settings import ConfigError, parse_settings, render_settings

REPO = Path(__file__).resolve().parents[2]
SOURCE = Path("ladda.toml")
MINIMAL = """\
[charge_point]
id = "LADDA-0001"

[backend]
url = "ws://127.0.0.1:9000/ocpp"

"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, SOURCE)
    return info.value.errors


def test_initial_values_are_checked_and_kept_under_the_settings_names():
    settings = parse_settings(MINIMAL + "[ocpp]\nHeartbeatInterval = 30\n\n[ocpp201.TxCtrlr]\n"
                                        'TxStopPoint = "Authorized,EVConnected"\n\n[ocpp201.DeviceDataCtrlr]\n'
                                        "ItemsPerMessage.GetReport = 20\n", SOURCE)
    assert dict(settings.ocpp) == {"HeartbeatInterval": 30, "TxCtrlr.TxStopPoint": "Authorized,EVConnected",
                                   "DeviceDataCtrlr.ItemsPerMessage.GetReport": 20}
    config = Configuration(settings.ocpp, None, 1)
    assert config["TxCtrlr.TxStopPoint"] == ("Authorized", "EVConnected")
    assert config.int("DeviceDataCtrlr.ItemsPerMessage.GetReport") == 20


def test_check_config_renders_them_back_in_their_tables():
    text = MINIMAL + '[ocpp201.TxCtrlr]\nTxStopPoint = "Authorized,EVConnected"\n\n[ocpp201.DeviceDataCtrlr]\n' \
                     "ItemsPerMessage.GetReport = 20\n"
    rendered = render_settings(parse_settings(text, SOURCE))
    data = tomllib.loads(rendered)
    assert data["ocpp"] == {}
    assert data["ocpp201"] == {"TxCtrlr": {"TxStopPoint": "Authorized,EVConnected"},
                               "DeviceDataCtrlr": {"ItemsPerMessage": {"GetReport": 20}}}
    assert "[ocpp201.TxCtrlr]\nTxStopPoint = \"Authorized,EVConnected\"\n" in rendered
    assert parse_settings(rendered, SOURCE).ocpp == parse_settings(text, SOURCE).ocpp


@pytest.mark.parametrize(("body", "error"), [
    ("[ocpp201.TxCtrler]\nTxStartPoint = \"EVConnected\"\n",
     "ladda.toml:7: [ocpp201.TxCtrler]: unknown OCPP 2.0.1 component; did you mean [ocpp201.TxCtrlr]?"),
    ("[ocpp201.TxCtrlr]\nTxStartPont = \"EVConnected\"\n",
     "ladda.toml:8: ocpp201.TxCtrlr.TxStartPont = \"EVConnected\": unknown variable of TxCtrlr; "
     "did you mean 'TxStartPoint'?"),
    ("[ocpp201.TxCtrlr]\nTxStartPoint = \"ParkingBayOccupancy\"\n",
     "ladda.toml:8: ocpp201.TxCtrlr.TxStartPoint = \"ParkingBayOccupancy\": unsupported item(s) "
     "ParkingBayOccupancy; allowed: EVConnected, Authorized, PowerPathClosed, EnergyTransfer"),
    ("[ocpp201.TxCtrlr]\nTxStartPoint = \"\"\n",
     "ladda.toml:8: ocpp201.TxCtrlr.TxStartPoint = \"\": at least 1 item"),
    ("[ocpp201.OCPPCommCtrlr]\nOfflineThreshold = -1\n",
     "ladda.toml:8: ocpp201.OCPPCommCtrlr.OfflineThreshold = -1: must be an integer >= 0"),
    ("[ocpp201.OCPPCommCtrlr]\nHeartbeatInterval = 60\n",
     "ladda.toml:8: ocpp201.OCPPCommCtrlr.HeartbeatInterval = 60: shared with OCPP 1.6: set it as [ocpp] "
     "HeartbeatInterval (its OCPP 1.6 name)"),
    ("[ocpp201.OCPPCommCtrlr]\nMessageAttempts.TransactionEvent = 5\n",
     "ladda.toml:8: ocpp201.OCPPCommCtrlr.MessageAttempts.TransactionEvent = 5: shared with OCPP 1.6: set it "
     "as [ocpp] TransactionMessageAttempts (its OCPP 1.6 name)"),
    ("[ocpp201.SecurityCtrlr]\nBasicAuthPassword = \"s3cr3t-Passw0rd-4-b\"\n",
     "ladda.toml:8: ocpp201.SecurityCtrlr.BasicAuthPassword = ****: shared with OCPP 1.6: set it as "
     "backend.authorization_key, which is kept secret"),
    ("[ocpp201.OCPPCommCtrlr]\nFileTransferProtocols = \"FTP\"\n",
     "ladda.toml:8: ocpp201.OCPPCommCtrlr.FileTransferProtocols = \"FTP\": read-only variable: the charger "
     "reports it, it cannot be set"),
    ("[ocpp201.DeviceDataCtrlr]\nItemsPerMessage = 5\n",
     "ladda.toml:8: ocpp201.DeviceDataCtrlr.ItemsPerMessage = 5: ItemsPerMessage has instances: write "
     "ItemsPerMessage.<instance> = ... with instance GetReport or GetVariables or SetVariables"),
    ("[ocpp201.DeviceDataCtrlr]\nItemsPerMessage.GetReprt = 5\n",
     "ladda.toml:8: ocpp201.DeviceDataCtrlr.ItemsPerMessage.GetReprt = 5: unknown instance 'GetReprt' of "
     "ItemsPerMessage; known instances: GetReport, GetVariables, SetVariables"),
    ("[ocpp201.TxCtrlr]\nTxStopPoint = [\"EVConnected\"]\n",
     "ladda.toml:8: ocpp201.TxCtrlr.TxStopPoint = [\"EVConnected\"]: must be a string, integer, boolean or number, "
     "not an array (write a list as one comma-separated string)"),
    ("[ocpp201]\nTxCtrlr = 5\n",
     "ladda.toml:8: ocpp201.TxCtrlr = 5: must be a table ([ocpp201.TxCtrlr]) of the component's variables"),
    ("[ocpp]\nSupportedFeatureProfiles = \"Core\"\n\n[ocpp201.SmartChargingCtrlr]\nEnabled = false\n",
     "ladda.toml:11: ocpp201.SmartChargingCtrlr.Enabled = false: belongs to the SmartCharging profile, which "
     "SupportedFeatureProfiles does not offer; remove it, or add SmartCharging to SupportedFeatureProfiles"),
])
def test_each_mistake_is_named_exactly(body, error):
    assert errors_of(MINIMAL + body) == [error]


def test_a_201_only_setting_is_not_an_ocpp_16_key():
    assert errors_of(MINIMAL + "[ocpp]\nTxStartPoint = \"EVConnected\"\n") == [
        "ladda.toml:8: ocpp.TxStartPoint = \"EVConnected\": an OCPP 2.0.1 variable, not a 1.6 key: set it under "
        "[ocpp201.TxCtrlr]"]
    assert check_initial("OfflineThreshold", 5) == ("an OCPP 2.0.1 variable, not a 1.6 key: set it under "
                                                    "[ocpp201.OCPPCommCtrlr]")
    # A misspelt key is offered the closest 1.6 key, never a 2.0.1 setting's stored name.
    assert check_initial("TxCtrlr.TxStartPoin", "EVConnected") == "unknown OCPP configuration key; known keys: " \
        + ", ".join(sorted(OCPP16_KEYS))


def test_every_error_is_reported_at_once():
    errors = errors_of(MINIMAL + "[ocpp201.TxCtrlr]\nTxStartPoint = \"x\"\nTxStopPoint = \"y\"\n"
                                 "[ocpp201.Nope]\nA = 1\n")
    assert [e.split(":")[1] for e in errors] == ["8", "9", "10"]


def test_the_example_file_shows_the_201_tables():
    text = (REPO / "config" / "example.toml").read_text(encoding="utf-8")
    assert "# [ocpp201.TxCtrlr]\n# TxStartPoint = \"PowerPathClosed\"" in text
    example = text.replace("# [ocpp201.TxCtrlr]\n# TxStartPoint", "[ocpp201.TxCtrlr]\nTxStartPoint")
    settings = parse_settings(example, REPO / "config" / "example.toml")
    assert settings.ocpp["TxCtrlr.TxStartPoint"] == "PowerPathClosed"


def test_the_committed_document_is_what_the_table_generates():
    committed = device_model_doc.DOC.read_text(encoding="utf-8")
    assert committed == device_model_doc.render(), (
        f"docs/ocpp201-device-model.md is out of date: run `{device_model_doc.COMMAND}` and commit it")


def test_the_document_names_every_variable_and_its_16_key(tmp_path):
    target = tmp_path / "dm.md"
    assert device_model_doc.main([str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert "## SmartChargingCtrlr" in text and "## Connector" in text
    assert "| HeartbeatInterval |  | Actual | ReadWrite | integer | s | 0 to 86400 | `300` | yes | " \
           "1.6 key `HeartbeatInterval` |" in text
    assert "2.0.1 setting `TxCtrlr.TxStartPoint` (file)" in text
