"""What the journal's status rows become on the wire."""

from __future__ import annotations

from agent.journal import STATUS, TX_STOPPED, Entry
from agent.ocpp16.outbound import request_for, status_notification


def test_a_fault_carries_its_info_and_vendor_code():
    message = status_notification(0, "Faulted", "OtherError", "2026-11-22T10:00:00.000Z", "emergency stop pressed (GPIO23)",
                                  "EmergencyStop")
    assert (message.info, message.vendor_error_code) == ("emergency stop pressed (GPIO23)", "EmergencyStop")


def test_without_details_the_optional_fields_are_left_out():
    message = status_notification(1, "Available", "NoError", "2026-11-22T10:00:00.000Z")
    assert message.info is None and message.vendor_error_code is None  # removed from the JSON by the library


def test_a_journaled_status_keeps_its_details_and_at_most_50_characters():
    body = {"connector": 1, "status": "Faulted", "error_code": "GroundFailure", "timestamp": "2026-11-22T10:00:00.000Z",
            "info": "x" * 60}
    message = request_for(Entry(seq=1, kind=STATUS, local_tx=None, body=body, attempts=0, backend_tx=None))
    assert message.info == "x" * 50 and message.vendor_error_code is None


def test_stop_reasons_1_6_has_no_word_for_are_sent_as_the_closest_one():
    body = {"meter_wh": 1200, "timestamp": "2026-11-22T10:00:00.000Z", "id_tag": None, "transaction_data": []}
    sent = {}
    for reason in ("MasterPass", "ConnectorReset", "Remote"):
        entry = Entry(seq=1, kind=TX_STOPPED, local_tx=1, body={**body, "reason": reason}, attempts=0, backend_tx=7)
        sent[reason] = request_for(entry).reason
    assert sent == {"MasterPass": "Local", "ConnectorReset": "HardReset", "Remote": "Remote"}
