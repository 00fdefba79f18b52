"""Hostile OCPP-J 2.0.1 frames and the answer OCPP-J 2.0.1 (part 4, section 4.3) demands for each.

The classes of :mod:`simulators.fuzz.frames`, spoken in 2.0.1: schema mutations of every
CSMS-to-charging-station action (:mod:`simulators.fuzz.payloads201`), frames the RPC
framework cannot read, message types it does not have, unknown and wrong-direction
actions, stray answers, binary frames and garbage answers to the charger's own calls.

2.0.1 names more framework errors than 1.6, and where the specification is exact the
oracle is too: a MessageId that cannot be read is RpcFrameworkError (the
specification's own example), a MessageTypeId that is a number but not 2, 3 or 4 is
MessageTypeNotSupported, a payload that is not an object is FormatViolation. Where it
draws no line (text that is no JSON at all, an array too short to be a CALL, an Action
that is not a string: each both "syntactically incorrect" and "not a valid RPC
request") either of FormatViolation and RpcFrameworkError is right.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from .frames import (
    GARBAGE_ANSWER, GARBAGE_ANSWERS, NONE, NONE_OR_FORMATION, RESULT, Probe, Profile, _error,
    draw_from, dump_frame,
)
from .oracle import FORMAT_201, MESSAGE_TYPE_201, NOT_IMPLEMENTED, NOT_SUPPORTED, OCCURRENCE_201, PROPERTY, \
    RPC_FRAMEWORK_201, TYPE
from .payloads201 import BASES, CHARGE_POINT_ACTIONS, TRIGGERABLE, UNSAFE

#: A frame that must always get a schema-valid CALLRESULT (see campaign.LIVENESS).
LIVENESS = ('[2,"fz-alive-{n}","GetVariables",{{"getVariableData":[{{"component":{{"name":"OCPPCommCtrlr"}},'
            '"variable":{{"name":"HeartbeatInterval"}}}}]}}]')
_GET = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
#: Framing errors OCPP-J 2.0.1 does not tell apart (see the module).
FRAMING = frozenset({FORMAT_201, RPC_FRAMEWORK_201})


def _echo(uid: Any) -> set[str]:
    """The ids an answer may carry: ``uid`` when it is a readable id, else "-1"."""
    ids = {uid} if isinstance(uid, str) and 1 <= len(uid) <= 36 else {"-1"}
    if isinstance(uid, str) and (len(uid) == 0 or len(uid) > 36):
        ids |= {uid}  # readable but not valid: echoing it is right too
    return ids


_NOT_JSON = ['[2,"{u}","GetVariables",{', '[2,"{u}",', "", " ", "[", "]", "{", "nul", "[2,'{u}','Reset',{}]",
             '[2,"{u}","GetVariables",{}]]', '[2,"{u}","GetVariables",{},]', "\x00", "\ufeff",
             '[2,"{u}" "GetVariables",{}]', '[2,"{u}","GetVariables",{"getVariableData":[}]',
             '[2,"{u}","GetVariables",{}] trailing', "[0x2,\"{u}\",\"GetVariables\",{}]",
             "[+2,\"{u}\",\"GetVariables\",{}]", "[02,\"{u}\",\"GetVariables\",{}]"]


@st.composite
def not_json(draw: st.DrawFn, uid: str) -> Probe:
    text = draw(st.sampled_from(_NOT_JSON)).replace("{u}", json.dumps(uid)[1:-1])
    return _error("not-json", text, FRAMING, {"-1", uid})


@st.composite
def bad_shape(draw: st.DrawFn, uid: str) -> Probe:
    choices: list[tuple[Any, Any]] = [
        ({"0": 2, "1": uid}, None), ("[2]", None), (2, None), (None, None), (True, None), ([], None),
        ([2], None), ([2, uid], uid), ([2, uid, "GetVariables"], uid), ([2, uid, "GetVariables", _GET, {}], uid),
        ([[2, uid, "GetVariables", _GET]], None), ([3, uid], "maybe"), ([4, uid, "GenericError"], "maybe"),
        ([3, uid, {}, {}], "maybe"), ([4, uid, 42, "", {}], "maybe"),
    ]
    frame, echo = draw(st.sampled_from(choices))
    text = dump_frame(frame)
    if echo == "maybe":  # a malformed answer to nothing: no answer, or a framing error
        return Probe("shape", text, NONE_OR_FORMATION, FRAMING, frozenset({uid, "-1"}))
    return _error("shape", text, FRAMING, _echo(echo if echo is not None else 0))


@st.composite
def bad_message_type(draw: st.DrawFn, uid: str) -> Probe:
    literal, code = draw(st.sampled_from([
        ("0", MESSAGE_TYPE_201), ("1", MESSAGE_TYPE_201), ("5", MESSAGE_TYPE_201), ("6", MESSAGE_TYPE_201),
        ("-2", MESSAGE_TYPE_201), ("-0", MESSAGE_TYPE_201), ('"2"', RPC_FRAMEWORK_201), ("2.5", RPC_FRAMEWORK_201),
        ("null", RPC_FRAMEWORK_201), ("[2]", RPC_FRAMEWORK_201), ("{}", RPC_FRAMEWORK_201),
        ('"CALL"', RPC_FRAMEWORK_201), ("true", RPC_FRAMEWORK_201),
    ]))
    frame = f'[{literal},{json.dumps(uid)},"GetVariables",{json.dumps(_GET)}]'
    return _error("message-type", frame, {code}, _echo(uid), note=f"MessageTypeId {literal}")


@st.composite
def bad_unique_id(draw: st.DrawFn) -> Probe:
    uid = draw(st.one_of(
        st.sampled_from([42, 0, -1, 1.5, None, True, [], ["a"], {"id": "a"}, ""]),
        st.text("abcdef0123456789", min_size=37, max_size=64),
        st.sampled_from(["x" * 37, "y" * 1000, "\U0001F50C" * 37]),
    ))
    frame = dump_frame([2, uid, "GetVariables", _GET])
    return _error("unique-id", frame, {RPC_FRAMEWORK_201}, _echo(uid))


@st.composite
def bad_number(draw: st.DrawFn, uid: str) -> Probe:
    literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 5000]))
    action, field, extra = draw(st.sampled_from([
        ("GetCompositeSchedule", "duration", ',"evseId":1'), ("DataTransfer", "data", ',"vendorId":"se.ladda.fuzz"'),
        ("CancelReservation", "reservationId", ""),
    ]))
    frame = f'[2,{json.dumps(uid)},"{action}",{{"{field}":{literal}{extra}}}]'
    # Not JSON (NaN, Infinity), or a number out of any range: syntactically wrong, or a
    # value no field can hold.
    return _error("number", frame, FRAMING | {PROPERTY}, {uid, "-1"})


def trigger(answered: str) -> dict[str, Any]:
    """The TriggerMessage payload that makes the charger send ``answered``."""
    payload: dict[str, Any] = {"requestedMessage": answered}
    evse = TRIGGERABLE[answered]
    if evse is not None:
        payload["evse"] = {"id": evse, "connectorId": 1} if answered == "StatusNotification" else {"id": evse}
    return payload


@st.composite
def garbage_answer(draw: st.DrawFn, uid: str) -> Probe:
    answered = draw(st.sampled_from(sorted(TRIGGERABLE)))
    garbage = draw(st.sampled_from(GARBAGE_ANSWERS))
    frame = dump_frame([2, uid, "TriggerMessage", trigger(answered)])
    return Probe("garbage-answer", frame, GARBAGE_ANSWER, ids=frozenset({uid}), action="TriggerMessage",
                 answered=answered, garbage=garbage)


V201 = Profile(
    "2.0.1", BASES, UNSAFE, CHARGE_POINT_ACTIONS,
    probe=("GetVariables", _GET),
    framing=FRAMING,
    # A bound on the frame's size, or on the items of one request (ItemsPerMessage...).
    size_bounds=frozenset({FORMAT_201, OCCURRENCE_201, PROPERTY}),
    big_request=lambda size: ("GetVariables", {"getVariableData": [
        {"component": {"name": f"Comp{i}"}, "variable": {"name": "V"}} for i in range(size // 60)]}),
    encoding_texts=("\u00e9t\u00e9", "\U0001F50C\U0001F697", "a\u0000b", "\u202eRTL", "\ufeff", "\\\"", "\ud800",
                    "\u2028\u2029", "line\nbreak"),
    unknown_actions=("MakeCoffee", "reset", "RESET", "Reset ", " Reset", "", "GetConfiguration",
                     "RemoteStartTransaction", "ChangeConfiguration", "getVariables", "Reset\u0000"),
    stray_answers=lambda uid: [
        [3, uid, {}], [3, uid, {"status": "Accepted"}], [4, uid, "GenericError", "", {}],
        [4, uid, "BogusCode", "made up", {}], [3, "-1", {}], [4, "-1", "FormatViolation", "", {}],
        [4, uid, "RpcFrameworkError", "", {}],
        [3, uid, {"idTokenInfo": {"status": "Accepted"}}],
    ],
    own_classes={"not-json": not_json, "shape": bad_shape, "message-type": bad_message_type,
                 "unique-id": lambda uid: bad_unique_id(), "number": bad_number, "garbage-answer": garbage_answer},
)


def _base(name: str) -> dict[str, Any]:
    return next(payload for n, _, payload in BASES if n == name)


def _explicit() -> list[Probe]:
    """Cases every 2.0.1 run sends first: one of each framework error, each exact."""
    nest = "[" * 200_000 + "]" * 200_000
    return [
        _error("action", '[2,"ex-1",["Reset"],{}]', FRAMING, {"ex-1"}),
        _error("depth", nest, FRAMING, {"-1"}, note="200,000 levels, 400 kB"),
        _error("schema", '[2,"ex-3","Reset",{"type":"Sideways"}]', {PROPERTY}, {"ex-3"}, "Reset"),
        _error("schema", '[2,"ex-4","Reset",{"type":1}]', {TYPE}, {"ex-4"}, "Reset"),
        _error("schema", '[2,"ex-5","Reset",{}]', {OCCURRENCE_201}, {"ex-5"}, "Reset"),
        _error("schema", '[2,"ex-6","Reset",{"type":"Immediate","fuzzExtra":1}]', {FORMAT_201}, {"ex-6"}, "Reset"),
        *[_error("message-type", f'[{t},"ex-7","GetVariables",{json.dumps(_GET)}]', {MESSAGE_TYPE_201}, {"ex-7"})
          for t in ("0", "1", "5")],
        _error("message-type", f'["2","ex-8","GetVariables",{json.dumps(_GET)}]', {RPC_FRAMEWORK_201}, {"ex-8"}),
        _error("unique-id", f'[2,42,"GetVariables",{json.dumps(_GET)}]', {RPC_FRAMEWORK_201}, {"-1"}),
        _error("unique-id", dump_frame([2, "i" * 37, "GetVariables", _GET]), {RPC_FRAMEWORK_201}, _echo("i" * 37)),
        _error("payload", '[2,"ex-9","GetVariables",[]]', {FORMAT_201}, {"ex-9"}),
        Probe("binary", dump_frame([2, "ex-10", "GetVariables", _GET]), NONE_OR_FORMATION, FRAMING,
              frozenset({"ex-10", "-1"}), binary=True),
        _error("unknown-action", '[2,"ex-11","MakeCoffee",{}]', {NOT_IMPLEMENTED}, {"ex-11"}),
        _error("unknown-action", '[2,"ex-12","RemoteStartTransaction",{"idTag":"FUZZ0001"}]', {NOT_IMPLEMENTED},
               {"ex-12"}, note="a 1.6 action"),
        _error("unsupported-action", dump_frame([2, "ex-13", "TransactionEvent", CHARGE_POINT_ACTIONS[-1][1]]),
               {NOT_SUPPORTED}, {"ex-13"}),
        _error("schema", dump_frame([2, "ex-14", "CancelReservation", {"reservationId": 2**63}]), {PROPERTY},
               {"ex-14"}, "CancelReservation"),
        _error("schema", dump_frame([2, "ex-15", "ReserveNow", {"id": 1, "expiryDateTime": "9999-99-99T00:00:00Z",
                                                              "idToken": {"idToken": "A", "type": "ISO14443"}}]),
               {PROPERTY}, {"ex-15"}, "ReserveNow"),
        _error("schema", dump_frame([2, "ex-16", "SetVariables", {"setVariableData": [{
            "attributeValue": _base("SetVariables/BasicAuthPassword")["setVariableData"][0]["attributeValue"],
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"}}], "fuzzExtra": 1}]), {FORMAT_201}, {"ex-16"}, "SetVariables",
            "BasicAuthPassword with an extra property"),
        Probe("valid", dump_frame([2, "ex-17", "GetLog", _base("GetLog")]), RESULT, ids=frozenset({"ex-17"}),
              action="GetLog", note="password in the upload URL"),
        Probe("garbage-answer", dump_frame([2, "ex-18", "TriggerMessage", trigger("Heartbeat")]), GARBAGE_ANSWER,
              ids=frozenset({"ex-18"}), action="TriggerMessage", answered="Heartbeat",
              garbage='[4,"$ID","BogusCode","",{}]'),
        Probe("stray-answer", '[3,"ex-19-nobody-asked",{"status":"Accepted"}]', NONE),
    ]


EXPLICIT: list[Probe] = _explicit()


def draw_probes(count: int) -> list[Probe]:
    """``count`` 2.0.1 probes, the same on every run, after the :data:`EXPLICIT` ones."""
    return draw_from(V201, EXPLICIT, count)
