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
    ANY, ERROR, GARBAGE_ANSWER, GARBAGE_ANSWERS, NONE, NONE_OR_FORMATION, RESULT, Probe, Profile, dump_frame,
    schema_probe, unique_ids,
)
from .oracle import FORMAT_201, MESSAGE_TYPE_201, NOT_IMPLEMENTED, NOT_SUPPORTED, OCCURRENCE_201, PROPERTY, \
    RPC_FRAMEWORK_201, TYPE
from .payloads201 import BASES, CHARGE_POINT_ACTIONS, TRIGGERABLE, UNSAFE

V201 = Profile("2.0.1", BASES, UNSAFE)
#: A frame that must always get a schema-valid CALLRESULT (see campaign.LIVENESS).
LIVENESS = ('[2,"fz-alive-{n}","GetVariables",{{"getVariableData":[{{"component":{{"name":"OCPPCommCtrlr"}},'
            '"variable":{{"name":"HeartbeatInterval"}}}}]}}]')
_GET = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
#: Framing errors OCPP-J 2.0.1 does not tell apart (see the module).
FRAMING = frozenset({FORMAT_201, RPC_FRAMEWORK_201})


def _error(kind: str, frame: str, codes: set[str] | frozenset[str], ids: set[str], action: str = "",
           note: str = "") -> Probe:
    return Probe(kind, frame, ERROR, frozenset(codes), frozenset(ids), action, note=note)


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
def bad_action(draw: st.DrawFn, uid: str) -> Probe:
    action = draw(st.sampled_from([["Reset"], {"a": 1}, 42, None, True, 2.5, ["GetVariables"], {}]))
    return _error("action", dump_frame([2, uid, action, {}]), FRAMING, {uid})


@st.composite
def bad_payload(draw: st.DrawFn, uid: str) -> Probe:
    action = draw(st.sampled_from([b[1] for b in BASES]))
    payload = draw(st.sampled_from([[], "x", 1, None, True, [{"type": "Immediate"}], "{}"]))
    return _error("payload", dump_frame([2, uid, action, payload]), {FORMAT_201}, {uid}, note=action)


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


@st.composite
def too_deep(draw: st.DrawFn, uid: str) -> Probe:
    depth = draw(st.sampled_from([1_000, 5_000, 20_000, 100_000]))
    where = draw(st.sampled_from(["frame", "payload", "action"]))
    nest = "[" * depth + "]" * depth
    if where == "frame":
        return _error("depth", nest, FRAMING, {"-1"})
    if where == "action":
        return _error("depth", f'[2,{json.dumps(uid)},{nest},{{}}]', FRAMING, {uid, "-1"})
    frame = f'[2,{json.dumps(uid)},"DataTransfer",{{"vendorId":"se.ladda.fuzz","data":{nest}}}]'
    return _error("depth", frame, FRAMING, {uid, "-1"})


#: What a charger may answer a valid but large CALL with instead of a result: a bound on
#: the frame's size, or on the items of one request (ItemsPerMessage...).
SIZE_BOUNDS = frozenset({FORMAT_201, OCCURRENCE_201, PROPERTY})


@st.composite
def big_frame(draw: st.DrawFn, uid: str) -> Probe:
    size = draw(st.sampled_from([1_000, 30_000, 120_000]))
    if draw(st.booleans()):
        frame = dump_frame([2, uid, "DataTransfer", {"vendorId": "se.ladda.fuzz", "data": "d" * size}])
        return Probe("size", frame, RESULT, SIZE_BOUNDS, frozenset({uid}), "DataTransfer")
    items = [{"component": {"name": f"Comp{i}"}, "variable": {"name": "V"}} for i in range(size // 60)]
    frame = dump_frame([2, uid, "GetVariables", {"getVariableData": items}])
    return Probe("size", frame, RESULT, SIZE_BOUNDS, frozenset({uid}), "GetVariables")


@st.composite
def encoding(draw: st.DrawFn, uid: str) -> Probe:
    text = draw(st.sampled_from(["\u00e9t\u00e9", "\U0001F50C\U0001F697", "a\u0000b", "\u202eRTL", "\ufeff",
                                 "\\\"", "\ud800", "\u2028\u2029", "line\nbreak"]))
    lone = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    if draw(st.booleans()):
        frame = json.dumps([2, uid, "DataTransfer", {"vendorId": "se.ladda.fuzz", "data": text}],
                           ensure_ascii=draw(st.booleans()) or lone)
        if lone:  # RFC 8259 leaves unpaired surrogates undefined: refuse or carry on, not fall over
            return Probe("encoding", frame, ANY, action="DataTransfer")
        return Probe("encoding", frame, RESULT, ids=frozenset({uid}), action="DataTransfer")
    # An escaped action name is that action: "\u0047etVariables" is GetVariables.
    frame = f'[2,{json.dumps(uid)},"\\u0047etVariables",{json.dumps(_GET)}]'
    return Probe("encoding", frame, RESULT, ids=frozenset({uid}), action="GetVariables")


@st.composite
def unknown_action(draw: st.DrawFn, uid: str) -> Probe:
    action = draw(st.one_of(
        st.sampled_from(["MakeCoffee", "reset", "RESET", "Reset ", " Reset", "", "GetConfiguration",
                         "RemoteStartTransaction", "ChangeConfiguration", "getVariables", "Reset\u0000"]),
        st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=40),
    ))
    known = {b[1] for b in BASES} | {a for a, _ in CHARGE_POINT_ACTIONS}
    if action in known:
        action += "X"
    return _error("unknown-action", dump_frame([2, uid, action, {}]), {NOT_IMPLEMENTED}, {uid})


@st.composite
def charge_point_action(draw: st.DrawFn, uid: str) -> Probe:
    action, payload = draw(st.sampled_from(CHARGE_POINT_ACTIONS))
    return _error("unsupported-action", dump_frame([2, uid, action, payload]), {NOT_SUPPORTED}, {uid})


@st.composite
def stray_answer(draw: st.DrawFn, uid: str) -> Probe:
    frame = draw(st.sampled_from([
        [3, uid, {}], [3, uid, {"status": "Accepted"}], [4, uid, "GenericError", "", {}],
        [4, uid, "BogusCode", "made up", {}], [3, "-1", {}], [4, "-1", "FormatViolation", "", {}],
        [4, uid, "RpcFrameworkError", "", {}],
        [3, uid, {"idTokenInfo": {"status": "Accepted"}}],
    ]))
    return Probe("stray-answer", dump_frame(frame), NONE)


@st.composite
def binary_frame(draw: st.DrawFn, uid: str) -> Probe:
    text = draw(st.sampled_from([
        dump_frame([2, uid, "GetVariables", _GET]),
        dump_frame([2, uid, "DataTransfer", {"vendorId": "se.ladda.fuzz"}]),
        "\x00\x01\x02\xff", "[2,", dump_frame([3, uid, {}]),
    ]))
    return Probe("binary", text, NONE_OR_FORMATION, FRAMING, frozenset({uid, "-1"}), binary=True)


def valid_probe(uid: str) -> st.SearchStrategy[Probe]:
    safe = [b for b in BASES if b[0] not in UNSAFE]
    return st.sampled_from(safe).map(
        lambda b: Probe("valid", dump_frame([2, uid, b[1], b[2]]), RESULT, ids=frozenset({uid}), action=b[1], note=b[0]))


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


#: Classes and their weights in a campaign (schema mutations dominate: they cover every action).
CLASSES: list[tuple[str, int]] = [
    ("schema", 30), ("valid", 8), ("not-json", 4), ("shape", 5), ("message-type", 4), ("unique-id", 4),
    ("action", 3), ("payload", 3), ("number", 3), ("depth", 1), ("size", 2), ("encoding", 4),
    ("unknown-action", 4), ("unsupported-action", 3), ("stray-answer", 4), ("binary", 3),
    ("garbage-answer", 2),
]


def _class_strategy(name: str, uid: str) -> st.SearchStrategy[Probe]:
    table = {
        "not-json": not_json, "shape": bad_shape, "message-type": bad_message_type,
        "action": bad_action, "payload": bad_payload, "number": bad_number, "depth": too_deep,
        "size": big_frame, "encoding": encoding, "unknown-action": unknown_action,
        "unsupported-action": charge_point_action, "stray-answer": stray_answer, "binary": binary_frame,
        "garbage-answer": garbage_answer,
    }
    if name == "schema":
        return schema_probe(uid, V201)
    if name == "unique-id":
        return bad_unique_id()
    if name == "valid":
        return valid_probe(uid)
    return table[name](uid)


def probes() -> st.SearchStrategy[Probe]:
    weighted = [name for name, weight in CLASSES for _ in range(weight)]
    return st.tuples(st.sampled_from(weighted), unique_ids()).flatmap(lambda t: _class_strategy(*t))


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
    from hypothesis import HealthCheck, Phase, given, settings

    drawn: list[Probe] = []

    @settings(max_examples=max(count, 1), derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(probes())
    def collect(probe: Probe) -> None:
        drawn.append(probe)

    collect()
    return EXPLICIT + drawn[:count]
