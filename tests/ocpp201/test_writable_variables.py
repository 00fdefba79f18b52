"""Every variable a backend may write changes what the charger does.

A SetVariables the station answers Accepted promises behaviour: a writable variable no
code reads would be a lie the backend cannot see (it reads its value back). So each
writable variable is listed here with the module that acts on its setting and a test that
shows the effect; a new writable variable fails here until it has both (or it is made
ReadOnly with the value the charger really uses).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agent.ocpp201.charging_limits import ChargingLimitNotifier
from agent.ocpp201.device_model import COMPONENTS, Setting
from agent.runtime_settings.keys import KEYS

REPO = Path(__file__).resolve().parents[2]
C201 = "tests/conformance201"

#: Setting -> (the module reading it under 2.0.1, the test showing its effect). A test in
#: tests/conformance/ shows a setting 1.6 shares through the same core code.
READERS: dict[str, tuple[str, str]] = {
    "TxCtrlr.TxStopPoint": ("agent/ocpp201/__init__.py",
                            f"{C201}/test_start_points.py::test_tc_e_22_cs_energy_transfer_stopped_by_the_ev"),
    "TxCtrlr.TxStartPoint": ("agent/ocpp201/__init__.py",
                             f"{C201}/test_start_points.py::test_tc_e_09_cs_the_ev_plugged_in_starts_the_transaction"),
    "HeartbeatInterval": ("agent/link/connection.py",
                          "tests/conformance/test_core_boot.py::test_tc_002_cold_boot_charge_point_pending"),
    "TransactionMessageRetryInterval": (
        "agent/ocpp201/session.py",
        "tests/conformance/test_hostile_backend.py::"
        "test_a_transaction_id_out_of_range_is_not_taken_and_the_start_is_sent_again"),
    "TransactionMessageAttempts": (
        "agent/ocpp201/session.py",
        "tests/conformance/test_hostile_backend.py::"
        "test_a_transaction_id_out_of_range_is_not_taken_and_the_start_is_sent_again"),
    "OCPPCommCtrlr.OfflineThreshold": (
        "agent/ocpp201/session.py",
        f"{C201}/test_faults_and_offline.py::test_tc_b_04_after_a_long_outage_every_status_is_told"),
    "UnlockConnectorOnEVSideDisconnect": (
        "agent/charger.py",
        "tests/conformance/test_core_sessions.py::test_tc_005_2_ev_side_disconnected_stop_without_unlock"),
    "WebSocketPingInterval": (
        "agent/link/connection.py",
        "tests/conformance/test_core_link.py::"
        "test_a_half_open_link_is_noticed_within_the_ping_bound_and_nothing_is_lost"),
    "ConnectionTimeOut": ("agent/charger.py",
                          "tests/conformance/test_core_sessions.py::test_tc_004_2_identification_first_connection_timeout"),
    "StopTransactionOnEVSideDisconnect": (
        "agent/charger.py",
        "tests/conformance/test_core_sessions.py::test_tc_005_3_ev_side_disconnected_transaction_continues"),
    "StopTransactionOnInvalidId": (
        "agent/charger.py", f"{C201}/test_authorization.py::test_tc_c_13_cs_cache_accepted_cable_not_connected_yet"),
    "AuthorizationKey": ("agent/link/connection.py",
                         "tests/conformance/test_hostile_backend.py::test_no_secret_in_the_log_whatever_the_backend_sends"),
    "StopTxnSampledData": ("agent/charger.py",
                           "tests/conformance/test_core_power.py::test_tc_032_2_graceful_stop_keeps_the_energy_up_to_the_stop"),
    "SampledDataCtrlr.TxStartedMeasurands": (
        "agent/ocpp201/__init__.py",  # names it the core's start_measurands (CORE_RULES)
        f"{C201}/test_device_model_effects.py::test_tc_j_07_cs_the_started_event_carries_the_tx_started_measurands"),
    "MeterValueSampleInterval": (
        "agent/charger.py", f"{C201}/test_meter_values.py::test_tc_j_02_cs_sampled_values_in_a_transaction_per_phase"),
    "MeterValuesSampledData": (
        "agent/charger.py", f"{C201}/test_meter_values.py::test_tc_j_02_cs_sampled_values_in_a_transaction_per_phase"),
    "ClockAlignedDataInterval": (
        "agent/charger.py", f"{C201}/test_meter_values.py::test_tc_j_01_cs_clock_aligned_values_outside_a_transaction"),
    "MeterValuesAlignedData": (
        "agent/charger.py", f"{C201}/test_meter_values.py::test_tc_j_01_cs_clock_aligned_values_outside_a_transaction"),
    "StopTxnAlignedData": (
        "agent/charger.py",
        "tests/conformance/test_core_sessions.py::test_stop_transaction_carries_clock_aligned_values_kept_for_it"),
    "TxCtrlr.MaxEnergyOnInvalidId": (
        "agent/charger.py",
        f"{C201}/test_authorization.py::test_tc_c_15_cs_stop_tx_on_invalid_id_false_max_energy_on_invalid_id"),
    "AuthorizeRemoteTxRequests": (
        "agent/charger.py", "tests/conformance/test_core_remote_start_stop.py::test_tc_023_5_remote_start_authorize_invalid"),
    "LocalAuthorizeOffline": (
        "agent/authorization.py",
        f"{C201}/test_authorization.py::test_tc_c_21_cs_offline_authorization_through_local_list_accepted"),
    "LocalPreAuthorize": ("agent/authorization.py", f"{C201}/test_authorization.py::test_tc_c_36_cs_local_pre_authorize_false"),
    "AuthCtrlr.MasterPassGroupId": (
        "agent/authorization.py",
        f"{C201}/test_authorization.py::test_tc_c_25_cs_local_authorization_list_over_authorization_cache"),
    "AllowOfflineTxForUnknownId": (
        "agent/authorization.py", f"{C201}/test_authorization.py::test_tc_c_26_cs_offline_unknown_id_refused_when_disabled"),
    "AuthorizationCacheEnabled": ("agent/authorization.py",
                                  "tests/conformance/test_core_misc.py::test_tc_007_1_regular_start_charging_session_cached_id"),
    "AuthCacheCtrlr.LifeTime": ("agent/authorization.py", f"{C201}/test_authorization.py::test_tc_c_46_cs_auth_cache_lifetime"),
    "LocalAuthListEnabled": ("agent/ocpp201/local_list.py",
                             f"{C201}/test_local_list.py::test_tc_d_10_cs_get_local_list_version_function_disabled"),
    "ReservationCtrlr.Enabled": ("agent/ocpp201/reservations.py",
                                 f"{C201}/test_reservations.py::test_tc_h_22_cs_configured_to_reject"),
    "SmartChargingCtrlr.Enabled": (
        "agent/ocpp201/charging_handlers.py",
        f"{C201}/test_device_model_effects.py::test_smart_charging_ctrlr_enabled_false_refuses_profiles"),
    "ChargingStation.AllowNewSessionsPendingFirmwareUpdate": (
        "agent/app.py",  # hands it to the firmware updater's hold (agent/charger.py hold_until_idle)
        "tests/firmware/test_firmware201.py::test_tc_l_14_cs_install_waits_for_transactions_new_sessions_allowed"),
    "SmartChargingCtrlr.LimitChangeSignificance": (
        "agent/ocpp201/charging_limits.py",
        "tests/ocpp201/test_writable_variables.py::test_limit_change_significance_decides_what_is_told"),
    "OCPPCommCtrlr.NetworkConfigurationPriority": (
        "agent/link/connection.py", f"{C201}/test_network_profiles.py::test_tc_b_45_cs_migrate_success_same_csms_root"),
    "OCPPCommCtrlr.NetworkProfileConnectionAttempts": (
        "agent/link/connection.py", f"{C201}/test_network_profiles.py::test_tc_b_46_cs_fallback_same_csms_root"),
    "CpoName": (
        "agent/link/own_certificate.py", f"{C201}/test_own_certificate.py::test_tc_a_11_cs_update_charging_station_certificate_success"),
    "SecurityCtrlr.CertSigningWaitMinimum": (
        "agent/link/own_certificate.py", f"{C201}/test_own_certificate.py::test_tc_a_23_cs_certificate_signed_request_timeout"),
    "SecurityCtrlr.CertSigningRepeatTimes": (
        "agent/link/own_certificate.py", f"{C201}/test_own_certificate.py::test_tc_a_23_cs_certificate_signed_request_timeout"),
    "DisplayMessageCtrlr.Enabled": (
        "agent/ocpp201/display_handlers.py",
        f"{C201}/test_display_messages.py::test_tc_o_17_cs_not_supported_priority_language_and_a_disabled_board"),
    "DisplayMessageCtrlr.Language": (
        "agent/ocpp201/display_handlers.py",
        f"{C201}/test_display_messages.py::test_tc_o_17_cs_not_supported_priority_language_and_a_disabled_board"),
    "TariffCostCtrlr.Enabled.Tariff": (
        "agent/ocpp201/tariff_handlers.py",
        "tests/ocpp201/test_tariff_cost.py::test_enabled_false_per_instance_keeps_tariffs_or_costs_off_the_screen"),
    "TariffCostCtrlr.Enabled.Cost": (
        "agent/ocpp201/tariff_handlers.py",
        "tests/ocpp201/test_tariff_cost.py::test_enabled_false_per_instance_keeps_tariffs_or_costs_off_the_screen"),
    "TariffCostCtrlr.TariffFallbackMessage": (
        "agent/ocpp201/tariff_handlers.py",
        "tests/ocpp201/test_tariff_cost.py::test_fallback_texts_are_told_at_start_and_whenever_a_backend_sets_one"),
    "TariffCostCtrlr.TotalCostFallbackMessage": (
        "agent/ocpp201/tariff_handlers.py",
        "tests/ocpp201/test_tariff_cost.py::test_fallback_texts_are_told_at_start_and_whenever_a_backend_sets_one"),
    "TariffCostCtrlr.Currency": (
        "agent/ocpp201/tariff_handlers.py", f"{C201}/test_tariff_and_cost.py::test_tc_i_02_cs_final_total_cost_after_charging"),
}

def _writable() -> set[str]:
    return {v.source.name for c in COMPONENTS for v in c.variables
            if v.mutability != "ReadOnly" and isinstance(v.source, Setting)}


def test_every_writable_variable_is_read_and_its_effect_tested() -> None:
    writable = _writable()
    assert writable - set(READERS) == set(), "writable variables nothing is known to read"
    assert set(READERS) - writable == set(), "listed but not writable (update the table)"
    for name, (module, test) in READERS.items():
        assert f'"{name}"' in (REPO / module).read_text(encoding="utf-8"), f"{module} does not read {name}"
        path, function = test.split("::")
        assert re.search(rf"def {function}\(", (REPO / path).read_text(encoding="utf-8")), f"no test {test}"


def test_limit_change_significance_decides_what_is_told() -> None:
    """K12.FR.02: a site limit moving by less than LimitChangeSignificance percent is not told."""
    sent: list[tuple[str, list[dict[str, Any]]]] = []
    config = {"SmartChargingCtrlr.LimitChangeSignificance": 30.0}
    limits = SimpleNamespace(listeners=[], decisions=dict, electrical=SimpleNamespace(phases=3))
    link = SimpleNamespace(config=config, runtime=SimpleNamespace(limits=limits),
                           send_later=lambda action, pages: sent.append((action, pages)))
    notifier = ChargingLimitNotifier(link)  # type: ignore[arg-type]

    def site(amps: float) -> None:
        notifier.changed({1: SimpleNamespace(by_site=True, amps=amps)})

    site(16.0)
    site(12.0)  # 25 %: not significant at 30
    config["SmartChargingCtrlr.LimitChangeSignificance"] = 20.0
    site(12.5)  # 22 % of the 16 A last told: significant at 20
    assert [pages[0]["charging_schedule"][0]["chargingSchedulePeriod"][0]["limit"] for _, pages in sent] == [16.0, 12.5]


def test_fixed_variables_show_what_the_charger_uses(tmp_path: Path) -> None:
    """The ReadOnly stand-ins: the backoff as [backend] reconnect_initial/max make it,
    TxEndedInterval as the sampling that fills the Ended event, ResetRetries 0."""
    from agent.ocpp201.variables import DeviceModel
    from agent.runtime_settings.configuration import Configuration
    from agent.store import ChargerState, Database

    from .facts import FakeFacts

    db = Database(tmp_path)
    db.open()
    try:
        config = Configuration({"MeterValueSampleInterval": 30, "ClockAlignedDataInterval": 900}, ChargerState(db), 2)
        model = DeviceModel(config, FakeFacts(backoff=(2.0, 60.0)))
        asked = [("OCPPCommCtrlr", "RetryBackOffWaitMinimum"), ("OCPPCommCtrlr", "RetryBackOffRepeatTimes"),
                 ("OCPPCommCtrlr", "RetryBackOffRandomRange"), ("OCPPCommCtrlr", "ResetRetries"),
                 ("SampledDataCtrlr", "TxEndedInterval"), ("AlignedDataCtrlr", "TxEndedInterval"),
                 ("ClockCtrlr", "TimeSource")]
        got = model.get_variables([{"component": {"name": c}, "variable": {"name": v}} for c, v in asked])
        # 2, 4, 8, 16, 32, then 60: four whole doublings (the step to the cap is none, so the
        # wait never falls short of 2 x 2^4); the random part up to 20 % of 60 s.
        assert [r["attribute_value"] for r in got] == ["2", "4", "12", "0", "30", "900", "NTP,Heartbeat"]
        report = {(d["component"]["name"], d["variable"]["name"]): d for d in model.base_report("FullInventory") or []}
        assert all(report[key]["variable_attribute"][0]["mutability"] == "ReadOnly" for key in asked)
        for component, variable in asked:
            [answer] = await_set(model, component, variable, "7")
            assert answer["attribute_status"] == "Rejected", (component, variable, answer)
        for gone in ("TxBeforeAcceptedEnabled",):
            [answer] = model.get_variables([{"component": {"name": "TxCtrlr"}, "variable": {"name": gone}}])
            assert answer["attribute_status"] == "UnknownVariable"
    finally:
        db.close()


def await_set(model: Any, component: str, variable: str, value: str) -> list[dict[str, Any]]:
    import asyncio

    return asyncio.run(model.set_variables([{"component": {"name": component}, "variable": {"name": variable},
                                             "attribute_value": value}]))

