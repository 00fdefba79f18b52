"""Payloads held against the official OCPP JSON schemas (as the ``ocpp`` library ships them).

The test CSMS checks what a charge point sends so that a test learns about a malformed
message from the backend's own record, not from a real backend in the field. A failure
is described as a :class:`Violation`: which schema rule failed where, and the OCPP-J
CALLERROR code a strict receiver answers it with.

2.0.1 payloads go through compiled schemas (fastjsonschema, compiled once per schema on
first use: compiling all 128 takes a second). 1.6 payloads go through the library's own
check, so that the verdict is exactly the one behind the library's answer to the charger.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import fastjsonschema
import ocpp
from jsonschema.exceptions import best_match
from ocpp.exceptions import NotImplementedError as NoSchemaError
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, MessageType, get_validator, validate_payload

Kind = Literal["Request", "Response"]

_V201_SCHEMAS = Path(ocpp.__file__).parent / "v201" / "schemas"

#: OCPP-J 2.0.1 (section 4.3): the CALLERROR code for each failed schema rule. A missing
#: field violates an occurrence constraint; an unknown field makes the payload
#: syntactically incorrect (the 2.0.1 schemas forbid additional properties).
_V201_CODE_OF_RULE = {
    "type": "TypeConstraintViolation",
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "uniqueItems": "OccurrenceConstraintViolation",
    "additionalProperties": "FormatViolation",
    "enum": "PropertyConstraintViolation",
    "maxLength": "PropertyConstraintViolation",
    "minLength": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "pattern": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
}


@dataclass(frozen=True)
class Violation:
    """One payload that does not match its schema, and why."""

    #: The JSON-schema keyword that failed: ``required``, ``enum``, ``maxLength``, ``type``, ...
    rule: str
    #: Where, as a dotted path inside the payload (``idToken.type``; ``""``: the payload itself).
    field: str
    #: The validator's explanation.
    detail: str
    #: The CALLERROR code a strict receiver answers with (for a CALL; informative for a result).
    error_code: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def v201_actions(kind: Kind) -> frozenset[str]:
    """Every 2.0.1 action with a ``<Action><kind>.json`` schema."""
    return _v201_actions(kind)


@lru_cache(maxsize=2)
def _v201_actions(kind: Kind) -> frozenset[str]:
    suffix = f"{kind}.json"
    return frozenset(p.name[: -len(suffix)] for p in _V201_SCHEMAS.glob(f"*{suffix}"))


@lru_cache(maxsize=None)
def _v201_check(name: str) -> Any:
    schema = json.loads((_V201_SCHEMAS / f"{name}.json").read_text(encoding="utf-8-sig"))
    # use_default=False: by default the compiled check writes schema defaults into the
    # payload it checks, and the log and ledger must keep the payload exactly as sent.
    return fastjsonschema.compile(schema, use_default=False)


def check_v201(action: str, kind: Kind, payload: Any) -> Violation | None:
    """The first violation of ``<action><kind>.json`` by ``payload``, or None.

    An action without such a schema is not checked (the caller decides what an unknown
    action is worth).
    """
    if action not in v201_actions(kind):
        return None
    try:
        _v201_check(f"{action}{kind}")(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        rule = str(exc.rule or "")
        path = [str(p) for p in (exc.path or [])][1:]  # the first element names the payload: "data"
        return Violation(
            rule=rule,
            field=".".join(path),
            detail=_strip_data(exc.message),
            error_code=_V201_CODE_OF_RULE.get(rule, "FormatViolation"),
        )
    return None


def _strip_data(message: str) -> str:
    """fastjsonschema calls the payload ``data``: ``data.idToken.type must be one of ...``."""
    if message.startswith("data."):
        return message[len("data."):]
    if message.startswith("data "):
        return "payload " + message[len("data "):]
    return message


async def check_v16(action: str, kind: Kind, payload: dict[str, Any]) -> Violation | None:
    """The 1.6 library's verdict on ``payload``, or None; no schema for ``action``: None."""
    message: Call | CallResult
    if kind == "Request":
        message = Call("check", action, copy.deepcopy(payload))
        type_id = MessageType.Call
    else:
        message = CallResult("check", copy.deepcopy(payload), action)
        type_id = MessageType.CallResult
    try:
        await validate_payload(message, "1.6")
    except NoSchemaError:
        return None
    except OCPPError as exc:
        cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
        # The library's cause may quote the whole payload; the first error names the field.
        error = best_match(get_validator(type_id, action, "1.6").iter_errors(payload))
        return Violation(
            rule=str(error.validator) if error is not None else "",
            field=".".join(str(p) for p in error.absolute_path) if error is not None else "",
            detail=error.message if error is not None else str(cause or exc.description),
            error_code=exc.code,
        )
    return None
