"""What a charge point must answer to a CALL payload, from the OCPP 1.6 and 2.0.1 JSON schemas.

Written from OCPP-J 1.6 section 4.2.3, OCPP-J 2.0.1 (part 4, section 4.3) and the schemas
the ``ocpp`` library ships, not from the agent's code: a schema violation is mapped to
the error code the specification gives for its kind, in the version's own spelling
(1.6 FormationViolation and OccurenceConstraintViolation, 2.0.1 FormatViolation and
OccurrenceConstraintViolation; a missing required field is 1.6's ProtocolError, "Payload
for Action is incomplete", and 2.0.1's occurrence violation). Two rules the schemas
cannot say are added: an integer the charger cannot store (outside signed 64-bit) and a
``date-time`` that is not an RFC 3339 time are PropertyConstraintViolation. The 2.0.1
schemas name their types by ``$ref``; they are read with every reference resolved.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import ocpp

SCHEMA_DIR = Path(ocpp.__file__).parent / "v16" / "schemas"
SCHEMA_DIRS = {"1.6": SCHEMA_DIR, "2.0.1": Path(ocpp.__file__).parent / "v201" / "schemas"}

FORMATION = "FormationViolation"
TYPE = "TypeConstraintViolation"
OCCURENCE = "OccurenceConstraintViolation"  # spelled so in OCPP 1.6
PROPERTY = "PropertyConstraintViolation"
NOT_IMPLEMENTED = "NotImplemented"
NOT_SUPPORTED = "NotSupported"

#: The error codes OCPP-J 1.6 defines (section 4.2.3); nothing else may be sent.
ERROR_CODES = frozenset({
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    FORMATION, PROPERTY, OCCURENCE, TYPE, "GenericError",
})

# OCPP-J 2.0.1's spellings where they differ from 1.6's.
FORMAT_201 = "FormatViolation"
OCCURRENCE_201 = "OccurrenceConstraintViolation"
RPC_FRAMEWORK_201 = "RpcFrameworkError"
MESSAGE_TYPE_201 = "MessageTypeNotSupported"

#: The error codes OCPP-J 2.0.1 defines (part 4, section 4.3).
ERROR_CODES_201 = frozenset({
    FORMAT_201, "GenericError", "InternalError", MESSAGE_TYPE_201, NOT_IMPLEMENTED, NOT_SUPPORTED,
    OCCURRENCE_201, PROPERTY, "ProtocolError", RPC_FRAMEWORK_201, "SecurityError", TYPE,
})

#: jsonschema validator keyword -> the OCPP-J 1.6 error code for that kind of violation.
_CODE_OF_KEYWORD = {
    "type": TYPE,
    "required": "ProtocolError",  # 1.6: "Payload for Action is incomplete"
    "minItems": OCCURENCE,
    "maxItems": OCCURENCE,
    "additionalProperties": FORMATION,
    "enum": PROPERTY,
    "maxLength": PROPERTY,
    "minLength": PROPERTY,
    "pattern": PROPERTY,
    "format": PROPERTY,
    "minimum": PROPERTY,
    "maximum": PROPERTY,
    "multipleOf": PROPERTY,
}

#: ... and the OCPP-J 2.0.1 one.
_CODE_OF_KEYWORD_201 = {
    **_CODE_OF_KEYWORD,
    "required": OCCURRENCE_201,  # a field that must occur does not
    "minItems": OCCURRENCE_201,
    "maxItems": OCCURRENCE_201,
    "additionalProperties": FORMAT_201,
}


def error_codes(version: str = "1.6") -> frozenset[str]:
    """The CALLERROR codes ``version`` defines: nothing else may be sent."""
    return ERROR_CODES_201 if version == "2.0.1" else ERROR_CODES


def format_code(version: str = "1.6") -> str:
    """The version's code for a payload that is syntactically wrong."""
    return FORMAT_201 if version == "2.0.1" else FORMATION

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# RFC 3339 section 5.6 date-time as OCPP writes it and the agent documents it
# (docs/ocpp16.md, "Framing"): upper-case "T" and "Z"; an offset-less time is taken as UTC.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))?$",
    re.ASCII,  # RFC 3339 digits are ASCII: "\uff19" (a full-width 9) is no digit here
)
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_rfc3339(text: str) -> bool:
    """Whether ``text`` is a date-time the charger can take: a real calendar date and time
    of day (no leap second: no clock here can hold one) that also exists in UTC
    (``9999-12-31T23:59:59-05:00`` does not)."""
    m = _RFC3339.match(text)
    if not m:
        return False
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if year < 1 or not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1]:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if month == 2 and day == 29 and not leap:
        return False
    if hour > 23 or minute > 59 or second > 59:
        return False
    if m.group(9) is not None:
        offset_h, offset_m = int(m.group(9)), int(m.group(10))
        if offset_h > 23 or offset_m > 59:
            return False
        # The same moment in UTC must still be within years 1..9999.
        shift = (offset_h * 60 + offset_m) * (1 if m.group(8)[0] == "+" else -1)
        minutes = hour * 60 + minute - shift
        if (year, month, day) == (1, 1, 1) and minutes < 0:
            return False
        if (year, month, day) == (9999, 12, 31) and minutes >= 24 * 60:
            return False
    return True


@functools.cache
def schema(name: str, version: str = "1.6") -> dict[str, Any]:
    """The schema of a request (``Reset``) or an answer (``ResetResponse``) of ``version``."""
    if version == "1.6":
        return json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    file = name if name.endswith("Response") else f"{name}Request"
    document = json.loads((SCHEMA_DIRS[version] / f"{file}.json").read_text())
    return _resolved(document, document.get("definitions", {}))


def _resolved(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/definitions/X"}`` replaced by X (the 2.0.1
    schemas have no recursive types), and without the definitions themselves."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            return _resolved(definitions[ref.removeprefix("#/definitions/")], definitions)
        return {k: _resolved(v, definitions) for k, v in node.items() if k != "definitions"}
    if isinstance(node, list):
        return [_resolved(v, definitions) for v in node]
    return node


@functools.cache
def _validator(name: str, version: str = "1.6") -> jsonschema.Draft4Validator:
    # Draft 4 for every version, as the agent judges (a draft 6 validator takes 1.0 for an integer).
    return jsonschema.Draft4Validator({k: v for k, v in schema(name, version).items() if k != "$schema"})


def _extra_violations(value: Any, node: dict[str, Any]) -> list[str]:
    """The two rules the schemas leave out, walked along the schema's shape."""
    found: list[str] = []
    kind = node.get("type")
    if kind == "integer" and type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        found.append(PROPERTY)
    elif kind == "string" and node.get("format") == "date-time" and isinstance(value, str):
        if not is_rfc3339(value):
            found.append(PROPERTY)
    elif kind == "object" and isinstance(value, dict):
        for key, sub in node.get("properties", {}).items():
            if key in value:
                found += _extra_violations(value[key], sub)
    elif kind == "array" and isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            found += _extra_violations(item, node["items"])
    return found


def violations(name: str, payload: Any, version: str = "1.6") -> set[str]:
    """The error codes ``payload`` earns against schema ``name``; empty when it is valid."""
    errors = list(_validator(name, version).iter_errors(payload))
    # A value of the wrong JSON type is a type violation, whatever else it then fails (an enum).
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    table = _CODE_OF_KEYWORD_201 if version == "2.0.1" else _CODE_OF_KEYWORD
    codes = {
        table.get(str(e.validator), format_code(version))
        for e in errors
        if e.validator == "type" or tuple(e.absolute_path) not in mistyped
    }
    return codes | set(_extra_violations(payload, schema(name, version)))


def answer_problem(action: str, payload: Any, version: str = "1.6") -> str | None:
    """Why ``payload`` is not a valid answer to ``action`` (None when it is)."""
    problems = violations(f"{action}Response", payload, version)
    if not problems:
        return None
    errors = [e.message for e in _validator(f"{action}Response", version).iter_errors(payload)][:2]
    return f"{sorted(problems)}: {'; '.join(errors) or 'integer or date-time out of range'}"
