"""What a charge point must answer to a CALL payload, from the OCPP 1.6 JSON schemas.

Written from OCPP-J 1.6 section 4.2.3 and the schemas the ``ocpp`` library ships, not
from the agent's code: a schema violation is mapped to the error code the specification
gives for its kind. Two rules the schemas cannot say are added: an integer the charger
cannot store (outside signed 64-bit) and a ``date-time`` that is not an RFC 3339 time
are PropertyConstraintViolation.
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
def schema(name: str) -> dict[str, Any]:
    """The OCPP 1.6 schema of a request (``Reset``) or an answer (``ResetResponse``)."""
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text())


@functools.cache
def _validator(name: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(schema(name))


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


def violations(name: str, payload: Any) -> set[str]:
    """The error codes ``payload`` earns against schema ``name``; empty when it is valid."""
    errors = list(_validator(name).iter_errors(payload))
    # A value of the wrong JSON type is a type violation, whatever else it then fails (an enum).
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    codes = {
        _CODE_OF_KEYWORD.get(str(e.validator), FORMATION)
        for e in errors
        if e.validator == "type" or tuple(e.absolute_path) not in mistyped
    }
    return codes | set(_extra_violations(payload, schema(name)))


def answer_problem(action: str, payload: Any) -> str | None:
    """Why ``payload`` is not a valid answer to ``action`` (None when it is)."""
    problems = violations(f"{action}Response", payload)
    if not problems:
        return None
    errors = [e.message for e in _validator(f"{action}Response").iter_errors(payload)][:2]
    return f"{sorted(problems)}: {'; '.join(errors) or 'integer or date-time out of range'}"
