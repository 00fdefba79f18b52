"""OCPP-J frames: a websocket message in, a CALL, CALLRESULT or CALLERROR out, or the
CALLERROR that must answer it.

Nothing the backend sends may reach a handler, the state machine or the database in a
shape the agent cannot use, and nothing it sends may raise anything but
:class:`RpcError` or :class:`Unusable` here: not a decoder's RecursionError on a
frame nested 200,000 deep, not a TypeError on an action that is a list, not an
overflow on a number SQLite cannot store, not an encoding error on a lone surrogate
that would only surface when the value is logged or stored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .dialect import ErrorKind

CALL, CALLRESULT, CALLERROR = 2, 3, 4
#: OCPP-J: a message id is a string of at most 36 characters.
MAX_ID_LENGTH = 36
#: An id longer than OCPP allows is still echoed in the CALLERROR up to this length, so a
#: backend can tell which of its requests was refused; past it, "-1" (id not readable).
MAX_ECHOED_ID = 128
#: No OCPP message nests deeper than about 8 levels; frames past this are refused before
#: anything walks them recursively (schema validation, key conversion).
MAX_DEPTH = 32
#: What SQLite (and every id the agent stores) can hold: a signed 64-bit integer.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
UNREADABLE_ID = "-1"



class RpcError(Exception):
    """A frame or payload to be answered with a CALLERROR of ``kind`` (the reply id is
    the frame's own when it could be read)."""

    def __init__(self, kind: ErrorKind, description: str, unique_id: str = UNREADABLE_ID) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.unique_id = unique_id


class Unusable(Exception):
    """A frame that gets no answer (a result or error nobody can match): dropped, noted."""


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Result:
    """A CALLRESULT; ``problem`` says why its payload cannot be used, if it cannot."""

    unique_id: str
    payload: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Error:
    """A CALLERROR as received (the endpoint judges whether its code is a defined one)."""

    unique_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | Result | Error


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _integer(digits: str) -> int:
    """A JSON integer. One of more than 40 digits is no number anything here can hold (nor
    one Python converts past 4,300 digits): the frame is refused as unreadable, like 1e400."""
    if len(digits.lstrip("-")) > 40:
        raise ValueError("an integer of more than 40 digits")
    return int(digits)


def decode(text: str) -> Any:
    """JSON as OCPP-J allows it: no NaN/Infinity; nesting too deep for the decoder is a ValueError."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_integer)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def first_problem(value: Any, limit_ints: bool = True) -> tuple[ErrorKind, str] | None:
    """The first value in ``value`` the agent cannot take, as (kind, 'path: why'), or None.

    Walks without recursion, so depth is measured before anything recursive sees it.
    """
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return ErrorKind.FORMAT, f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(item, str):
            if not _encodable(item):
                return ErrorKind.FORMAT, f"{path or 'text'}: not valid Unicode text"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if limit_ints and not INT_MIN <= item <= INT_MAX:
                return ErrorKind.PROPERTY, f"{path or 'number'}: integer out of the range this charge point can store"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return ErrorKind.FORMAT, f"{path or 'number'}: number out of range"
        elif isinstance(item, dict):
            for key, member in item.items():
                if not _encodable(key):
                    return ErrorKind.FORMAT, f"{path or 'object'}: a property name is not valid Unicode text"
                stack.append((member, depth + 1, f"{path}.{_shown(key)}" if path else _shown(key)))
        elif isinstance(item, list):
            stack.extend((member, depth + 1, f"{path}[{i}]") for i, member in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str, limit: int = 40) -> str:
    """A name from the backend as it may appear in an error description or a log line."""
    name = name if _encodable(name) else name.encode("utf-8", "replace").decode("utf-8")
    printable = "".join(c if c.isprintable() else "?" for c in name[:limit])
    return printable + ("..." if len(name) > limit else "")


def shown(name: object, limit: int = 40) -> str:
    """Any value from the backend (an id, an action), safe and short for a log line."""
    return _shown(name if isinstance(name, str) else repr(name)[:limit], limit)


def _json_type(value: object) -> str:
    """What a JSON value is, without saying what it holds."""
    names = {bool: "a boolean", float: "a number with a fraction", str: "a string", list: "an array",
             dict: "an object", type(None): "null"}
    return names.get(type(value), "not an integer")


def reply_id(candidate: object) -> str:
    """The id a CALLERROR echoes: the frame's own when it is readable text, else "-1"."""
    if isinstance(candidate, str) and 0 < len(candidate) <= MAX_ECHOED_ID and _encodable(candidate):
        return candidate
    return UNREADABLE_ID


def parse(message: str | bytes) -> Frame:
    """One websocket message as a frame; raises RpcError (answer it) or Unusable (drop it)."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        _refuse_binary(bytes(message))
    try:
        frame = decode(message)
    except ValueError as exc:
        # No id can be read from text that is not JSON: the answer goes to "-1".
        raise RpcError(ErrorKind.FORMAT, f"not valid JSON: {exc}"[:120]) from None
    if not isinstance(frame, list) or not frame:
        raise RpcError(ErrorKind.RPC_FRAMEWORK, "a message is a JSON array [MessageTypeId, MessageId, ...]")
    type_id = frame[0]
    unique_id = frame[1] if len(frame) > 1 else None
    if type(type_id) is not int:  # noqa: E721 - bool, float and "2" are not a MessageTypeId
        raise RpcError(ErrorKind.RPC_FRAMEWORK, f"MessageTypeId is {_json_type(type_id)}, not an integer",
                       reply_id(unique_id))
    if type_id == CALL:
        return _call(frame, unique_id)
    if type_id == CALLRESULT:
        return _result(frame, unique_id)
    if type_id == CALLERROR:
        return _error(frame, unique_id)
    raise RpcError(ErrorKind.MESSAGE_TYPE, f"MessageTypeId {type_id} is not 2 (CALL), 3 or 4",
                   reply_id(unique_id))


def _refuse_binary(data: bytes) -> None:
    """OCPP-J is carried in text frames only. A binary frame is never acted on; a CALL in
    one is told so, anything else in one is dropped."""
    try:
        frame = decode(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        frame = None
    if isinstance(frame, list) and frame and type(frame[0]) is int and frame[0] in (CALLRESULT, CALLERROR):  # noqa: E721
        raise Unusable("an answer in a binary frame (OCPP-J uses text frames)")
    unique_id = frame[1] if isinstance(frame, list) and len(frame) > 1 else None
    raise RpcError(ErrorKind.RPC_FRAMEWORK, "binary frame: OCPP-J messages are text frames", reply_id(unique_id))


def _call(frame: list[Any], unique_id: object) -> Call:
    answer_to = reply_id(unique_id)
    if not isinstance(unique_id, str) or not 0 < len(unique_id) <= MAX_ID_LENGTH or not _encodable(unique_id):
        raise RpcError(ErrorKind.RPC_FRAMEWORK, f"MessageId must be a string of 1 to {MAX_ID_LENGTH} characters",
                       answer_to)
    if len(frame) != 4:
        raise RpcError(ErrorKind.FORMAT, f"a CALL has 4 elements, not {len(frame)}", answer_to)
    action, payload = frame[2], frame[3]
    if not isinstance(action, str):
        raise RpcError(ErrorKind.FORMAT, "Action must be a name (a string)", answer_to)
    if not isinstance(payload, dict):
        raise RpcError(ErrorKind.FORMAT, "Payload must be a JSON object", answer_to)
    # Integers are judged after the action's schema (a string field holding a huge number
    # is a type error, not a range error): see schema.Schemas.check_call.
    if not _encodable(action):
        raise RpcError(ErrorKind.FORMAT, "Action is not valid Unicode text", answer_to)
    problem = first_problem(payload, limit_ints=False)
    if problem is not None:
        raise RpcError(problem[0], problem[1], answer_to)
    return Call(unique_id, action, payload)


def _result(frame: list[Any], unique_id: object) -> Result:
    if not isinstance(unique_id, str):
        raise Unusable("a CALLRESULT without a readable MessageId")
    if len(frame) != 3 or not isinstance(frame[2], dict):
        return Result(unique_id, {}, "a CALLRESULT is [3, MessageId, {payload}]")
    problem = first_problem(frame[2])
    return Result(unique_id, frame[2], None if problem is None else problem[1])


def _error(frame: list[Any], unique_id: object) -> Error:
    if not isinstance(unique_id, str):
        raise Unusable("a CALLERROR without a readable MessageId")
    code = frame[2] if len(frame) > 2 else None
    description = frame[3] if len(frame) > 3 and isinstance(frame[3], str) else ""
    details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
    if first_problem(details) is not None:
        details = {}
    if not _encodable(description):
        description = ""
    return Error(unique_id, code if isinstance(code, str) else repr(code)[:40], description[:200], details)
