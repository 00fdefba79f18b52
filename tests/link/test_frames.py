"""OCPP-J framing: every frame a backend can send is read as a frame or answered with the
CALLERROR OCPP-J 1.6 section 4.2.3 names, and nothing else is ever raised."""

from __future__ import annotations

import json

import pytest

from agent.link.dialect import ErrorKind
from agent.link.frames import MAX_DEPTH, Call, Error, Result, RpcError, Unusable, parse
from agent.ocpp16.rpc import DIALECT


def refused(message: str | bytes) -> tuple[str, str]:
    """(code as 1.6 spells it, reply id) of the CALLERROR that must answer ``message``."""
    with pytest.raises(RpcError) as caught:
        parse(message)
    return DIALECT.code(caught.value.kind), caught.value.unique_id


@pytest.mark.parametrize("frame", ['[2,"id",["Reset"],{}]', '[2,"id",{"a":1},{}]', '[2,"id",null,{}]',
                                   '[2,"id",42,{}]'])
def test_an_action_that_is_not_a_name_is_a_formation_violation(frame):
    assert refused(frame) == ("FormationViolation", "id")


def test_huge_integer_literals_are_unreadable_not_out_of_range():
    assert refused('[2,"n","RemoteStopTransaction",{"transactionId":' + "9" * 41 + "}]") == ("FormationViolation", "-1")
    assert isinstance(parse('[2,"n","RemoteStopTransaction",{"transactionId":' + "9" * 40 + "}]"), Call)


@pytest.mark.parametrize("type_id", ["0", "1", "5", '"2"', "2.0", "true", "null", "[2]"])
def test_a_message_type_other_than_the_integers_2_3_4_is_refused(type_id):
    assert refused(f'[{type_id},"id","Reset",{{"type":"Hard"}}]') == ("FormationViolation", "id")


def test_the_unique_id_must_be_a_string_of_at_most_36_characters():
    assert refused('[2,17,"Reset",{"type":"Hard"}]') == ("FormationViolation", "-1")  # an integer is not echoed
    long_id = "x" * 37
    assert refused(f'[2,"{long_id}","Reset",{{"type":"Hard"}}]') == ("FormationViolation", long_id)
    assert refused(f'[2,"{"y" * 500}","Reset",{{"type":"Hard"}}]') == ("FormationViolation", "-1")
    assert isinstance(parse(f'[2,"{"z" * 36}","Reset",{{"type":"Hard"}}]'), Call)


def test_deep_nesting_is_refused_before_anything_recurses():
    assert refused("[" * 200_000 + "]" * 200_000) == ("FormationViolation", "-1")
    nested = "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2)
    assert refused(f'[2,"deep","DataTransfer",{{"vendorId":{nested}}}]') == ("FormationViolation", "deep")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_are_not_numbers(value):
    assert refused(f'[2,"v","Reset",{{"type":{value}}}]') == ("FormationViolation", "-1")


@pytest.mark.parametrize("value", ["1e999", '"\\ud800"'])
def test_values_json_allows_but_no_one_can_use_are_refused(value):
    assert refused(f'[2,"v","Reset",{{"type":{value}}}]') == ("FormationViolation", "v")


def test_binary_frames_are_not_taken_as_text():
    assert refused(b'[2,"bin","Reset",{"type":"Hard"}]') == ("FormationViolation", "bin")
    assert refused(b"\xff\xfe") == ("FormationViolation", "-1")
    with pytest.raises(Unusable):
        parse(b'[3,"bin",{}]')


@pytest.mark.parametrize("frame", ['{"action":"Reset"}', "[]", "42", '"text"', "[2,", ""])
def test_text_that_is_no_frame_is_answered_to_minus_one(frame):
    assert refused(frame) == ("FormationViolation", "-1")


def test_a_call_has_four_elements_and_an_object_payload():
    assert refused('[2,"a","GetConfiguration"]') == ("FormationViolation", "a")
    assert refused('[2,"a","Reset",{"type":"Hard"},{}]') == ("FormationViolation", "a")
    assert refused('[2,"a","Reset",["Hard"]]') == ("FormationViolation", "a")


def test_answers_are_read_whatever_their_content():
    assert parse('[3,"r",{"status":"Accepted"}]') == Result("r", {"status": "Accepted"})
    assert parse('[3,"r","oops"]').problem is not None
    assert parse('[3,"r",{"transactionId":18446744073709551617}]').problem is not None
    error = parse('[4,"e",42,{"no":"description"},"details"]')
    assert isinstance(error, Error) and error.unique_id == "e" and error.code == "42"
    assert error.description == "" and error.details == {}
    for frame in ('[3,17,{}]', '[4,null,"GenericError","",{}]', "[3]"):
        with pytest.raises(Unusable):
            parse(frame)


def test_the_kinds_are_spelled_as_each_version_spells_them():
    from agent.link import dialect

    v201 = dialect.v201(frozenset())
    assert DIALECT.code(ErrorKind.OCCURRENCE) == "OccurenceConstraintViolation"  # the 1.6 spec's spelling
    assert v201.code(ErrorKind.OCCURRENCE) == "OccurrenceConstraintViolation"
    assert DIALECT.code(ErrorKind.MESSAGE_TYPE) == "FormationViolation"
    assert v201.code(ErrorKind.MESSAGE_TYPE) == "MessageTypeNotSupported"
    assert DIALECT.description("NotImplemented") == "Requested Action is not known by receiver"
    assert DIALECT.description("NotSupported") == "Requested Action is recognized but not supported by the receiver"
    assert DIALECT.defined_code("BogusCode") is None and DIALECT.defined_code(42) is None


def test_a_fuzzed_frame_never_raises_anything_else():
    """Byte-level mutations of valid frames: parse answers with a frame or one of its two errors."""
    import random

    rng = random.Random(7)
    seeds = [json.dumps([2, "id", "Reset", {"type": "Hard"}]), json.dumps([3, "id", {"transactionId": 1}]),
             json.dumps([4, "id", "GenericError", "", {}])]
    for _ in range(5000):
        text = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(text))
            text[i] = rng.choice(['"', "[", "]", "{", "}", ",", "9", "\\", "\x00", "\ud800", "e", ":"])
        try:
            parse("".join(text))
        except (RpcError, Unusable):
            pass
