"""The compiled check judges integers as the full check does (OCPP's schemas are
checked as draft 4 throughout, whatever draft a schema file names): 1.0 is no integer."""

from __future__ import annotations

import pytest

from agent.link.dialect import v16
from agent.link.schema import Schemas, SchemaViolation

SCHEMAS = Schemas(v16(frozenset()))


@pytest.mark.parametrize("value", [1.0, 1e300])
@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("GetLog", {"log": {"remoteLocation": "ftp://x"}, "logType": "DiagnosticsLog", "requestId": None}),
        ("SignedUpdateFirmware", {"requestId": None, "firmware": {
            "location": "https://x", "retrieveDateTime": "2024-01-01T00:00:00Z",
            "signingCertificate": "c", "signature": "s"}}),
        ("ExtendedTriggerMessage", {"requestedMessage": "BootNotification", "connectorId": None}),
    ],
)
def test_an_integral_float_is_no_integer_in_a_draft_6_schema(action, payload, value):
    payload = {k: (value if v is None else v) for k, v in payload.items()}
    with pytest.raises(SchemaViolation) as refused:
        SCHEMAS.check_call(action, payload)
    assert "integer" in refused.value.description


def test_a_valid_payload_of_a_draft_6_schema_still_passes():
    SCHEMAS.check_call("GetLog", {"log": {"remoteLocation": "ftp://x"}, "logType": "DiagnosticsLog", "requestId": 3})
