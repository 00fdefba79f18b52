"""The compiled schema check is only a fast way to say "valid": it must never accept a
payload the full check refuses, whatever a backend sends."""

from __future__ import annotations

import json

import pytest

from agent.link.dialect import v16
from agent.link.schema import Schemas, SchemaViolation, _compiled, _validator
from simulators.fuzz.frames import draw_probes

SCHEMAS = Schemas(v16(frozenset()))


def full_verdict(name: str, payload: object) -> str | None:
    """The full check alone: the kind of the first failure, or None when valid."""
    folder = SCHEMAS._folder
    loaded = _validator(folder / f"{name}.json")
    assert loaded is not None
    validator, _ = loaded
    try:
        errors = list(validator.iter_errors(payload))
    except RecursionError:
        return "recursion"
    return str(errors[0].validator) if errors else None


def compiled_accepts(name: str, payload: object) -> bool:
    fast = _compiled(SCHEMAS._folder / f"{name}.json")
    if fast is None:
        return False
    try:
        fast(payload)
    except Exception:  # noqa: BLE001 - refused or not judged: either way not accepted
        return False
    return True


def test_the_compiled_check_accepts_nothing_the_full_check_refuses_in_a_thousand_hostile_payloads():
    compared = refused = 0
    for probe in draw_probes(1000):
        try:
            frame = json.loads(probe.frame)
        except (ValueError, RecursionError):
            continue
        if not (isinstance(frame, list) and len(frame) == 4 and frame[0] == 2 and isinstance(frame[2], str)):
            continue
        name, payload = frame[2], frame[3]
        if not name.isascii() or not name.isalnum():
            continue  # the framing refuses such action names before any schema is looked up
        if not SCHEMAS.has_request(name) or _compiled(SCHEMAS._folder / f"{name}.json") is None:
            continue
        compared += 1
        verdict = full_verdict(name, payload)
        if verdict is not None:
            refused += 1
            assert not compiled_accepts(name, payload), f"{name}: compiled check accepted what breaks {verdict}"
    assert compared > 300 and refused > 100  # the corpus really exercised both sides


@pytest.mark.parametrize(
    ("payload", "rule"),
    [
        ({"connectorId": True, "type": "Operative"}, "type"),  # a boolean is no integer
        ({"connectorId": 1.5, "type": "Operative"}, "type"),
        ({"connectorId": 1, "type": "operative"}, "enum"),
        ({"connectorId": 1}, "required"),
        ({"connectorId": 1, "type": "Operative", "extra": 1}, "additionalProperties"),
    ],
)
def test_classic_breaks_are_refused_by_both_checks(payload, rule):
    assert full_verdict("ChangeAvailability", payload) == rule
    assert not compiled_accepts("ChangeAvailability", payload)
    with pytest.raises(SchemaViolation):
        SCHEMAS.check_call("ChangeAvailability", payload)


@pytest.mark.parametrize("stamp", ["2026-01-01t10:00:00z", "2026-02-30T10:00:00Z", "2026-01-01 10:00:00Z",
                                   "9999-12-31T23:59:59-05:00", "2026-01-01T10:00:00.000Z\n"])
def test_times_the_charger_refuses_are_refused_by_the_compiled_check_too(stamp):
    payload = {"currentTime": stamp}
    assert not compiled_accepts("HeartbeatResponse", payload)
    with pytest.raises(SchemaViolation):
        SCHEMAS.check_result("Heartbeat", payload)


def test_a_valid_payload_passes_with_an_integer_beyond_int64_still_refused():
    SCHEMAS.check_call("ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    with pytest.raises(SchemaViolation):
        SCHEMAS.check_call("ChangeAvailability", {"connectorId": 2**64 + 1, "type": "Operative"})
