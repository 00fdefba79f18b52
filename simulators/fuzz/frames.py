"""Hostile OCPP-J frames and the answer OCPP-J 1.6 (section 4.2.3) demands for each.

A :class:`Probe` is one frame a backend sends plus what the charge point must do about it.
Hypothesis strategies draw them by class (type, shape, size, depth, encoding, id, schema,
unknown and unsupported actions, stray answers, binary frames, garbage answers to the
charger's own calls); :data:`EXPLICIT` holds the cases the issue names. Large frames are
built as text here rather than drawn, so generation stays fast and deterministic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from . import oracle
from .oracle import FORMATION, NOT_IMPLEMENTED, NOT_SUPPORTED, OCCURENCE, PROPERTY, TYPE
from .payloads import BASES, CHARGE_POINT_ACTIONS, TRIGGERABLE, UNSAFE

ERROR, RESULT, NONE, NONE_OR_FORMATION, GARBAGE_ANSWER, ANY = (
    "error", "result", "none", "none-or-formation", "garbage-answer", "any")


@dataclass(frozen=True)
class Probe:
    """One frame and the answer it must get.

    ``expect`` is one of:

    - ``error``: a CALLERROR with one of ``codes`` and one of ``ids``; when ``action`` is
      set, NotSupported is right too if the charger does not handle ``action`` at all;
    - ``result``: a CALLRESULT valid against ``action``'s answer schema, or, when ``codes``
      is set, a CALLERROR with one of them (a bound on size);
    - ``none``: no answer at all; ``none-or-formation``: none, or a FormationViolation;
    - ``any``: anything or nothing (only the link and the process are judged);
    - ``garbage-answer``: ``frame`` is a TriggerMessage that must be answered normally; the
      charger's CALL it provokes (``answered``) is answered with ``garbage``.
    """

    kind: str
    frame: str
    expect: str = ERROR
    codes: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    action: str = ""
    binary: bool = False
    answered: str = ""
    garbage: str = ""
    note: str = ""

    def short(self, limit: int = 160) -> str:
        text = self.frame if len(self.frame) <= limit else f"{self.frame[:limit]}... ({len(self.frame)} chars)"
        return f"{'binary ' if self.binary else ''}{text}"


@dataclass(frozen=True)
class Profile:
    """One OCPP version's facts the shared strategies draw from: its bases (schema
    mutations), the ones never sent valid, how its schemas and codes are read
    (:mod:`simulators.fuzz.oracle`), and the frames only it spells (``own_classes``: the
    classes whose expected answers differ between versions)."""

    version: str
    bases: list[tuple[str, str, dict[str, Any]]]
    unsafe: frozenset[str]
    #: Charger-to-backend actions: a backend sending one gets NotSupported.
    charge_point_actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: A harmless request every charger answers; frames that need some CALL carry it.
    probe: tuple[str, dict[str, Any]] = ("", {})
    #: The codes a frame the RPC framework cannot read may get.
    framing: frozenset[str] = frozenset()
    #: What a valid but large CALL may get instead of a result.
    size_bounds: frozenset[str] = frozenset()
    #: A valid request of about ``size`` characters that asks for many items.
    big_request: Callable[[int], tuple[str, dict[str, Any]]] = lambda size: ("", {})
    encoding_texts: tuple[str, ...] = ()
    #: Action names close to real ones (case, spaces, the other version's names).
    unknown_actions: tuple[str, ...] = ()
    #: Answers to nothing, given the id of the frame.
    stray_answers: Callable[[str], list[Any]] = lambda uid: []
    #: The version's own strategies by class name, each taking a unique id.
    own_classes: Mapping[str, Callable[[str], st.SearchStrategy[Probe]]] = field(default_factory=dict)

    @property
    def format_code(self) -> str:
        return oracle.format_code(self.version)


def dump_frame(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _error(kind: str, frame: str, codes: set[str] | frozenset[str], ids: set[str], action: str = "",
           note: str = "") -> Probe:
    return Probe(kind, frame, ERROR, frozenset(codes), frozenset(ids), action, note=note)


def _formation(kind: str, frame: str, uid: Any, note: str = "") -> Probe:
    """FormationViolation, echoing ``uid`` when it is a readable string, else "-1"."""
    ids = {uid} if isinstance(uid, str) and 1 <= len(uid) <= 36 else {"-1"}
    if isinstance(uid, str) and (len(uid) == 0 or len(uid) > 36):
        ids |= {uid}  # readable but not valid: echoing it is right too
    return _error(kind, frame, {FORMATION}, ids, note=note)


# ---------------------------------------------------------------- payload mutations


def slots(value: Any, node: dict[str, Any], path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], dict[str, Any], bool]]:
    """Every place in ``value`` a mutation can hit: (path, schema node, present)."""
    yield path, node, True
    if node.get("type") == "object" and isinstance(value, dict):
        for key, sub in node.get("properties", {}).items():
            if key in value:
                yield from slots(value[key], sub, (*path, key))
            else:
                yield (*path, key), sub, False
    elif node.get("type") == "array" and isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            yield from slots(item, node["items"], (*path, i))


def _set(payload: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(payload)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def _delete(payload: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(payload)
    target = out
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return out


def _get(payload: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        payload = payload[step]
    return payload


_WRONG_TYPES: dict[str, list[Any]] = {
    "integer": ["1", True, None, [1], {"n": 1}, 1.5],
    "number": ["1.0", False, None, [1.0], {}],
    "string": [1, True, None, ["x"], {"s": "x"}, 1.5],
    "boolean": ["true", 1, None, [], {}],
    "object": ["{}", [], 1, None, True],
    "array": [{}, "[]", 1, None, False],
}
_BAD_TIMES = ["2024-13-01T00:00:00Z", "not a time", "2023-02-29T00:00:00Z", "2024-01-01",
              "2024-01-01T25:00:00Z", "", "2024-01-01T00:00:00", "1700000000", "0000-00-00T00:00:00Z",
              "2024-01-01T00:00:00+25:00", "９９９９-12-31T00:00:00Z"]
_BIG_INTS = [2**63, 2**63 + 1, 2**64 + 1, -(2**63) - 1, 10**30, -(10**25)]


@st.composite
def schema_probe(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    """One violation in one place of a base payload, and the code the schema gives it."""
    name, action, base = draw(st.sampled_from(profile.bases))
    places = list(slots(base, oracle.schema(action, profile.version)))
    kinds = ["type", "extra", "missing", "enum", "length", "int64", "datetime"]
    kind = draw(st.sampled_from(kinds))
    candidates: list[tuple[tuple[Any, ...], dict[str, Any], bool]]
    if kind == "type":
        candidates = [p for p in places if p[1].get("type") in _WRONG_TYPES and p[0]]
    elif kind == "extra":
        candidates = [p for p in places if p[2] and p[1].get("type") == "object"]
    elif kind == "missing":
        candidates = [p for p in places if p[2] and p[0] and _required(base, p[0], action, profile.version)]
    elif kind == "enum":
        candidates = [p for p in places if "enum" in p[1]]
    elif kind == "length":
        candidates = [p for p in places if "maxLength" in p[1]]
    elif kind == "int64":
        candidates = [p for p in places if p[1].get("type") == "integer"]
    else:
        candidates = [p for p in places if p[1].get("format") == "date-time"]
    if not candidates:  # this base has no such place: a wrong type in it, or an extra property
        candidates = [p for p in places if p[0] and p[1].get("type") in _WRONG_TYPES]
        kind = "type" if candidates else "extra"
        candidates = candidates or [((), oracle.schema(action, profile.version), True)]
    path, node, _ = draw(st.sampled_from(candidates))
    if kind == "type":
        value = draw(st.sampled_from(_WRONG_TYPES.get(node.get("type", "object"), [None])))
        payload = _set(base, path, value)
    elif kind == "extra":
        extra = draw(st.sampled_from(["fuzzExtra", "FUZZ", "key ", "type2", "\u00e9t\u00e9", ""]))
        value = draw(st.sampled_from([1, "x", None, {"a": [1]}, [], True]))
        target = copy.deepcopy(_get(base, path))
        while extra in target:
            extra += "_"
        target[extra] = value
        payload = _set(base, path, target)
    elif kind == "missing":
        payload = _delete(base, path)
    elif kind == "enum":
        allowed = node["enum"]
        value = draw(st.sampled_from(["Sideways", "", " ", "null", str(allowed[0]).lower(),
                                      str(allowed[0]).upper(), f"{allowed[0]} ", f"{allowed[0]}\u0000"]))
        if value in allowed:
            value = "Sideways"
        payload = _set(base, path, value)
    elif kind == "length":
        over = draw(st.sampled_from([1, 2, 100, 20_000]))
        char = draw(st.sampled_from(["a", "\u00e9", "\U0001F50C", "\\"]))
        payload = _set(base, path, char * (node["maxLength"] + over))
    elif kind == "int64":
        payload = _set(base, path, draw(st.sampled_from(_BIG_INTS)))
    else:
        payload = _set(base, path, draw(st.sampled_from(_BAD_TIMES)))
    codes = oracle.violations(action, payload, profile.version)
    where = "/".join(str(p) for p in path) or "payload"
    frame = dump_frame([2, uid, action, payload])
    if not codes:  # the mutation happened to be valid: only unsafe actions must not go out
        if name in profile.unsafe:
            payload = _set(base, (), {**base, "fuzzExtra": 1})
            return _error("schema", dump_frame([2, uid, action, payload]), {profile.format_code}, {uid}, action,
                          f"{name}: extra property")
        return Probe("schema", frame, RESULT, ids=frozenset({uid}), action=action, note=f"{name}: {kind} {where} (valid)")
    return _error("schema", frame, codes, {uid}, action, f"{name}: {kind} at {where}")


def _required(base: Any, path: tuple[Any, ...], action: str, version: str = "1.6") -> bool:
    parent = oracle.schema(action, version)
    value = base
    for step in path[:-1]:
        value = value[step]
        parent = parent["items"] if isinstance(step, int) else parent["properties"][step]
    return path[-1] in parent.get("required", []) if isinstance(path[-1], str) else False


# ---------------------------------------------------------------- frame-level classes

_UID_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))


def unique_ids() -> st.SearchStrategy[str]:
    """Valid unique ids: 1..36 characters, mostly plain, sometimes any Unicode."""
    return st.one_of(
        st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=36),
        st.text(_UID_ALPHABET, min_size=1, max_size=36),
    )


# ---------------------------------------------------------------- classes both versions share


@st.composite
def bad_action(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    action = draw(st.sampled_from([["Reset"], {"a": 1}, 42, None, True, 2.5, [profile.probe[0]], {}]))
    return _error("action", dump_frame([2, uid, action, {}]), profile.framing, {uid})


@st.composite
def bad_payload(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    action = draw(st.sampled_from([b[1] for b in profile.bases]))
    payload = draw(st.sampled_from([[], "x", 1, None, True, [{"type": "Soft"}], "{}"]))
    return _error("payload", dump_frame([2, uid, action, payload]), {profile.format_code}, {uid}, note=action)


@st.composite
def too_deep(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    depth = draw(st.sampled_from([1_000, 5_000, 20_000, 100_000]))
    where = draw(st.sampled_from(["frame", "payload", "action"]))
    nest = "[" * depth + "]" * depth
    if where == "frame":
        return _error("depth", nest, profile.framing, {"-1"})
    if where == "action":
        return _error("depth", f'[2,{json.dumps(uid)},{nest},{{}}]', profile.framing, {uid, "-1"})
    frame = f'[2,{json.dumps(uid)},"DataTransfer",{{"vendorId":"se.ladda.fuzz","data":{nest}}}]'
    return _error("depth", frame, profile.framing, {uid, "-1"})


@st.composite
def big_frame(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    """Large valid frames: a result, or the error of a documented bound (``size_bounds``)."""
    size = draw(st.sampled_from([1_000, 30_000, 120_000]))
    if draw(st.booleans()):
        frame = dump_frame([2, uid, "DataTransfer", {"vendorId": "se.ladda.fuzz", "data": "d" * size}])
        return Probe("size", frame, RESULT, profile.size_bounds, frozenset({uid}), "DataTransfer")
    action, payload = profile.big_request(size)
    return Probe("size", dump_frame([2, uid, action, payload]), RESULT, profile.size_bounds, frozenset({uid}), action)


@st.composite
def encoding(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    """Unicode the JSON grammar allows: escapes, non-BMP characters, NUL, lone surrogates."""
    text = draw(st.sampled_from(profile.encoding_texts))
    lone = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    if draw(st.booleans()):
        frame = json.dumps([2, uid, "DataTransfer", {"vendorId": "se.ladda.fuzz", "data": text}],
                           ensure_ascii=draw(st.booleans()) or lone)
        if lone:  # RFC 8259 leaves unpaired surrogates undefined: refuse or carry on, not fall over
            return Probe("encoding", frame, ANY, action="DataTransfer")
        return Probe("encoding", frame, RESULT, ids=frozenset({uid}), action="DataTransfer")
    # An escaped action name is that action: "\u0047etConfiguration" is GetConfiguration.
    action, payload = profile.probe
    escaped = f"\\u{ord(action[0]):04x}{action[1:]}"
    frame = f'[2,{json.dumps(uid)},"{escaped}",{dump_frame(payload)}]'
    return Probe("encoding", frame, RESULT, ids=frozenset({uid}), action=action)


@st.composite
def unknown_action(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    action = draw(st.one_of(
        st.sampled_from(list(profile.unknown_actions)),
        st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=40),
    ))
    known = {b[1] for b in profile.bases} | {a for a, _ in profile.charge_point_actions}
    if action in known:
        action += "X"
    return _error("unknown-action", dump_frame([2, uid, action, {}]), {NOT_IMPLEMENTED}, {uid})


@st.composite
def charge_point_action(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    action, payload = draw(st.sampled_from(profile.charge_point_actions))
    return _error("unsupported-action", dump_frame([2, uid, action, payload]), {NOT_SUPPORTED}, {uid})


@st.composite
def stray_answer(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    frame = draw(st.sampled_from(profile.stray_answers(uid)))
    return Probe("stray-answer", dump_frame(frame), NONE)


@st.composite
def binary_frame(draw: st.DrawFn, uid: str, profile: Profile) -> Probe:
    action, payload = profile.probe
    text = draw(st.sampled_from([
        dump_frame([2, uid, action, payload]),
        dump_frame([2, uid, "DataTransfer", {"vendorId": "se.ladda.fuzz"}]),
        "\x00\x01\x02\xff", "[2,", dump_frame([3, uid, {}]),
    ]))
    return Probe("binary", text, NONE_OR_FORMATION, profile.framing, frozenset({uid, "-1"}), binary=True)


def valid_probe(uid: str, profile: Profile) -> st.SearchStrategy[Probe]:
    safe = [b for b in profile.bases if b[0] not in profile.unsafe]
    return st.sampled_from(safe).map(
        lambda b: Probe("valid", dump_frame([2, uid, b[1], b[2]]), RESULT, ids=frozenset({uid}), action=b[1], note=b[0]))


#: Classes and their weights in a campaign (schema mutations dominate: they cover every action).
CLASSES: list[tuple[str, int]] = [
    ("schema", 30), ("valid", 8), ("not-json", 4), ("shape", 5), ("message-type", 4), ("unique-id", 4),
    ("action", 3), ("payload", 3), ("number", 3), ("depth", 1), ("size", 2), ("encoding", 4),
    ("unknown-action", 4), ("unsupported-action", 3), ("stray-answer", 4), ("binary", 3),
    ("garbage-answer", 2),
]

_SHARED: dict[str, Callable[[str, Profile], st.SearchStrategy[Probe]]] = {
    "schema": schema_probe, "valid": valid_probe, "action": bad_action, "payload": bad_payload,
    "depth": too_deep, "size": big_frame, "encoding": encoding, "unknown-action": unknown_action,
    "unsupported-action": charge_point_action, "stray-answer": stray_answer, "binary": binary_frame,
}


def _class_strategy(name: str, uid: str, profile: Profile) -> st.SearchStrategy[Probe]:
    own = profile.own_classes.get(name)
    return own(uid) if own is not None else _SHARED[name](uid, profile)


def probes(profile: Profile) -> st.SearchStrategy[Probe]:
    """Any probe of ``profile``'s version, classes drawn by weight."""
    weighted = [name for name, weight in CLASSES for _ in range(weight)]
    return st.tuples(st.sampled_from(weighted), unique_ids()).flatmap(lambda t: _class_strategy(*t, profile))


def draw_from(profile: Profile, explicit: list[Probe], count: int) -> list[Probe]:
    """``count`` probes drawn by Hypothesis, the same ones on every run (derandomized, no
    example database), after the ``explicit`` ones."""
    from hypothesis import HealthCheck, Phase, given, settings

    drawn: list[Probe] = []

    @settings(max_examples=max(count, 1), derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(probes(profile))
    def collect(probe: Probe) -> None:
        drawn.append(probe)

    collect()
    return explicit + drawn[:count]


# ---------------------------------------------------------------- OCPP-J 1.6's own


_NOT_JSON = ['[2,"{u}","GetConfiguration",{', '[2,"{u}",', "", " ", "[", "]", "{", "nul", "[2,'{u}','Reset',{}]",
             '[2,"{u}","GetConfiguration",{}]]', '[2,"{u}","GetConfiguration",{},]', "\x00", "\ufeff",
             '[2,"{u}" "GetConfiguration",{}]', '[2,"{u}","GetConfiguration",{"key":[}]',
             '[2,"{u}","GetConfiguration",{}] trailing', "[2,\"{u}\",\"GetConfiguration\",{\"a\":\"\x01\"}]",
             "[0x2,\"{u}\",\"GetConfiguration\",{}]", "[+2,\"{u}\",\"GetConfiguration\",{}]",
             "[02,\"{u}\",\"GetConfiguration\",{}]", "\\u005b2]"]


@st.composite
def not_json(draw: st.DrawFn, uid: str) -> Probe:
    text = draw(st.sampled_from(_NOT_JSON)).replace("{u}", json.dumps(uid)[1:-1])
    return _error("not-json", text, {FORMATION}, {"-1", uid})


@st.composite
def bad_shape(draw: st.DrawFn, uid: str) -> Probe:
    payload = {"key": ["HeartbeatInterval"]}
    choices: list[tuple[Any, Any]] = [
        ({"0": 2, "1": uid}, None), ("[2]", None), (2, None), (None, None), (True, None), ([], None),
        ([2], None), ([2, uid], uid), ([2, uid, "GetConfiguration"], uid),
        ([2, uid, "GetConfiguration", payload, {}], uid), ([2, uid, "GetConfiguration", payload, None], uid),
        ([[2, uid, "GetConfiguration", payload]], None), ([3, uid], "maybe"), ([4, uid, "GenericError"], "maybe"),
        ([3, uid, {}, {}], "maybe"), ([4, uid, 42, "", {}], "maybe"), ([4, uid, "GenericError", "", []], "maybe"),
    ]
    frame, echo = draw(st.sampled_from(choices))
    text = dump_frame(frame)
    if echo == "maybe":  # a malformed answer to nothing: no answer, or FormationViolation
        return Probe("shape", text, NONE_OR_FORMATION, frozenset({FORMATION}), frozenset({uid, "-1"}))
    return _formation("shape", text, echo if echo is not None else 0)


@st.composite
def bad_message_type(draw: st.DrawFn, uid: str) -> Probe:
    literal = draw(st.sampled_from(["0", "1", "5", "6", "-2", '"2"', "2.0", "2e0", "true", "null", "[2]",
                                    "{}", "18446744073709551618", "-0", "2.000001", '"CALL"']))
    return _formation("message-type", f'[{literal},{json.dumps(uid)},"GetConfiguration",{{}}]', uid)


@st.composite
def bad_unique_id(draw: st.DrawFn) -> Probe:
    uid = draw(st.one_of(
        st.sampled_from([42, 0, -1, 2**63, 1.5, None, True, [], ["a"], {"id": "a"}, ""]),
        st.text("abcdef0123456789", min_size=37, max_size=64),
        st.sampled_from(["x" * 37, "y" * 1000, "\U0001F50C" * 37]),
    ))
    frame = dump_frame([2, uid, "GetConfiguration", {"key": ["HeartbeatInterval"]}])
    return _formation("unique-id", frame, uid)


@st.composite
def bad_number(draw: st.DrawFn, uid: str) -> Probe:
    literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 5000,
                                    "1" + "0" * 4400, "0." + "1" * 5000 + "e99999"]))
    action, field = draw(st.sampled_from([("RemoteStopTransaction", "transactionId"),
                                          ("GetCompositeSchedule", "duration"),
                                          ("DataTransfer", "data")]))
    extra = {"RemoteStopTransaction": "", "GetCompositeSchedule": ',"connectorId":1',
             "DataTransfer": ',"vendorId":"se.ladda.fuzz"'}[action]
    frame = f'[2,{json.dumps(uid)},"{action}",{{"{field}":{literal}{extra}}}]'
    return _error("number", frame, {FORMATION}, {uid, "-1"})


#: Answers to the charger's own CALLs that no backend should send ($ID: the call's unique id).
GARBAGE_ANSWERS = [
    '[4,"$ID","BogusCode","made up",{}]', '[4,"$ID",42,"",{}]', '[4,"$ID","GenericError"]',
    '[4,"$ID","InternalError","",[]]', '[3,"$ID"]', '[3,"$ID",[]]', '[3,"$ID",{"currentTime":42}]',
    '[3,"$ID",{"currentTime":"9999-12-31T23:59:59Z"}]', '[3,"$ID",{"currentTime":"0001-01-01T00:00:00Z"}]',
    '[3,"$ID",{"currentTime":"yesterday"}]', '[3,"$ID",{"fuzzExtra":1}]', '[3,"$ID",null]',
    '[3,"$ID",{}] trailing', "not json", '[5,"$ID",{}]', '[2,"$ID","Heartbeat",{}]', '{"3":"$ID"}',
    '[3,"$ID",' + "[" * 50_000 + "]" * 50_000 + "]",
]


@st.composite
def garbage_answer(draw: st.DrawFn, uid: str) -> Probe:
    answered = draw(st.sampled_from(sorted(TRIGGERABLE)))
    garbage = draw(st.sampled_from(GARBAGE_ANSWERS))
    connector = TRIGGERABLE[answered]
    payload: dict[str, Any] = {"requestedMessage": answered}
    if connector is not None:
        payload["connectorId"] = connector
    frame = dump_frame([2, uid, "TriggerMessage", payload])
    return Probe("garbage-answer", frame, GARBAGE_ANSWER, ids=frozenset({uid}), action="TriggerMessage",
                 answered=answered, garbage=garbage)


V16 = Profile(
    "1.6", BASES, UNSAFE, CHARGE_POINT_ACTIONS,
    probe=("GetConfiguration", {"key": ["HeartbeatInterval"]}),
    framing=frozenset({FORMATION}),
    # A bound on the frame's size, or on the keys of one GetConfiguration (GetConfigurationMaxKeys).
    size_bounds=frozenset({FORMATION, OCCURENCE, PROPERTY}),
    big_request=lambda size: ("GetConfiguration", {"key": [f"Key{i}" for i in range(size // 8)]}),
    encoding_texts=("\u00e9t\u00e9", "\U0001F50C\U0001F697", "a\u0000b", "\u202eRTL", "\ufeff", "\\\"", "\ud800",
                    "\udfff\ud800", "\u2028\u2029", "line\nbreak"),
    unknown_actions=("MakeCoffee", "reset", "RESET", "Reset ", " Reset", "", "GetVariables", "TransactionEvent",
                     "getConfiguration", "Reset\u0000", "DataTransfer2"),
    stray_answers=lambda uid: [
        [3, uid, {}], [3, uid, {"status": "Accepted"}], [4, uid, "GenericError", "", {}],
        [4, uid, "BogusCode", "made up", {}], [3, "-1", {}], [4, "-1", "FormationViolation", "", {}],
        [3, uid, {"transactionId": 2**64 + 1, "idTagInfo": {"status": "Accepted"}}],
    ],
    own_classes={"not-json": not_json, "shape": bad_shape, "message-type": bad_message_type,
                 "unique-id": lambda uid: bad_unique_id(), "number": bad_number, "garbage-answer": garbage_answer},
)


def _explicit() -> list[Probe]:
    """The cases the issue names, always sent first."""
    nest = "[" * 200_000 + "]" * 200_000
    return [
        _formation("action", '[2,"ex-1",["Reset"],{}]', "ex-1"),
        _formation("action", '[2,"ex-2",{"a":1},{}]', "ex-2"),
        _error("depth", nest, {FORMATION}, {"-1"}, note="200,000 levels, 400 kB"),
        _error("schema", '[2,"ex-3","Reset",{"type":"Sideways"}]', {PROPERTY}, {"ex-3"}, "Reset"),
        *[_formation("message-type", f'[{t},"ex-4","GetConfiguration",{{}}]', "ex-4")
          for t in ("0", "1", "5", '"2"', "2.0", "true")],
        _formation("unique-id", '[2,42,"GetConfiguration",{}]', 42),
        _formation("unique-id", dump_frame([2, "i" * 37, "GetConfiguration", {}]), "i" * 37),
        Probe("binary", dump_frame([2, "ex-5", "GetConfiguration", {}]), NONE_OR_FORMATION,
              frozenset({FORMATION}), frozenset({"ex-5", "-1"}), binary=True),
        _error("unknown-action", '[2,"ex-6","MakeCoffee",{}]', {NOT_IMPLEMENTED}, {"ex-6"}),
        _error("unsupported-action", '[2,"ex-7","StartTransaction",{"connectorId":1,"idTag":"FUZZ0001",'
               '"meterStart":0,"timestamp":"2020-01-01T00:00:00Z"}]', {NOT_SUPPORTED}, {"ex-7"}),
        _error("schema", dump_frame([2, "ex-8", "RemoteStopTransaction", {"transactionId": 2**63}]), {PROPERTY},
               {"ex-8"}, "RemoteStopTransaction"),
        _error("schema", dump_frame([2, "ex-9", "ReserveNow", {"connectorId": 1, "expiryDate": "2020-01-01T00:00:00Z",
                                                          "idTag": "FUZZ0001", "reservationId": 2**63 + 7}]),
               {PROPERTY}, {"ex-9"}, "ReserveNow"),
        _error("schema", dump_frame([2, "ex-10", "ChangeConfiguration",
                                {"key": "AuthorizationKey", "value": BASES[3][2]["value"], "fuzzExtra": 1}]),
               {FORMATION}, {"ex-10"}, "ChangeConfiguration", "AuthorizationKey with an extra property"),
        Probe("valid", dump_frame([2, "ex-11", "GetDiagnostics", BASES[9][2]]), RESULT, ids=frozenset({"ex-11"}),
              action="GetDiagnostics", note="password in the upload URL"),
        _error("schema", dump_frame([2, "ex-12", "UpdateFirmware", {**BASES[19][2], "fuzzExtra": 1}]), {FORMATION},
               {"ex-12"}, "UpdateFirmware", "password in the download URL"),
        _error("schema", dump_frame([2, "ex-13", "Reset", {"type": 1}]), {TYPE}, {"ex-13"}, "Reset"),
        _error("schema", dump_frame([2, "ex-14", "Reset", {}]), {"ProtocolError"}, {"ex-14"}, "Reset"),
        Probe("garbage-answer", dump_frame([2, "ex-15", "TriggerMessage", {"requestedMessage": "Heartbeat"}]),
              GARBAGE_ANSWER, ids=frozenset({"ex-15"}), action="TriggerMessage", answered="Heartbeat",
              garbage='[4,"$ID","BogusCode","",{}]'),
        Probe("garbage-answer", dump_frame([2, "ex-16", "TriggerMessage", {"requestedMessage": "Heartbeat"}]),
              GARBAGE_ANSWER, ids=frozenset({"ex-16"}), action="TriggerMessage", answered="Heartbeat",
              garbage='[4,"$ID",42,"",{}]'),
        Probe("garbage-answer", dump_frame([2, "ex-17", "TriggerMessage", {"requestedMessage": "Heartbeat"}]),
              GARBAGE_ANSWER, ids=frozenset({"ex-17"}), action="TriggerMessage", answered="Heartbeat",
              garbage='[3,"$ID",{"currentTime":"9999-12-31T23:59:59Z"}]'),
        Probe("garbage-answer", dump_frame([2, "ex-18", "TriggerMessage", {"requestedMessage": "Heartbeat"}]),
              GARBAGE_ANSWER, ids=frozenset({"ex-18"}), action="TriggerMessage", answered="Heartbeat",
              garbage='[3,"$ID",{"currentTime":"0001-01-01T00:00:00Z"}]'),
        Probe("stray-answer", '[3,"ex-19-nobody-asked",{"status":"Accepted"}]', NONE),
    ]


EXPLICIT: list[Probe] = _explicit()

#: The answer that opens a charging session in a campaign: transactionId 2^64+1.
START_TRANSACTION_GARBAGE = '[3,"$ID",{"transactionId":18446744073709551617,"idTagInfo":{"status":"Accepted"}}]'


def draw_probes(count: int) -> list[Probe]:
    """``count`` 1.6 probes, the same on every run, after the :data:`EXPLICIT` ones."""
    return draw_from(V16, EXPLICIT, count)
