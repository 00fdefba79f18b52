"""Payloads checked against the official OCPP JSON schemas (as the ``ocpp`` library ships
them), with the failure named as OCPP-J names it and described without the value.

The library's own check is not used: it files an enum violation under
FormationViolation, a missing field under ProtocolError, and puts the whole request
(passwords and keys included) into the exception and its log line. Here a description
names the field and the rule ("type: not one of Hard, Soft"), never what was sent.
Date-time fields are checked too (the library does not): a value that is no RFC 3339
time would otherwise reach a handler as an unreadable string.

Most payloads are valid, and every message the journal drains is checked before it is
sent: each schema is also compiled (fastjsonschema) and a payload the compiled check
accepts is done with. Only a refused one goes through the full check, which names the
failure, so the compiled check decides nothing on its own. Schemas with ``multipleOf``
(decimal arithmetic) are not compiled.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import DecimalException
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from .dialect import Dialect, ErrorKind
from .frames import first_problem

_SCHEMA_ROOT = Path(ocpp.__file__).parent
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$", re.ASCII)
#: The schema rule that failed, as OCPP-J classifies it.
_KIND_OF_RULE = {
    "type": ErrorKind.TYPE,
    "required": ErrorKind.MISSING,
    "minItems": ErrorKind.OCCURRENCE,
    "maxItems": ErrorKind.OCCURRENCE,
    "uniqueItems": ErrorKind.OCCURRENCE,
    "additionalProperties": ErrorKind.FORMAT,
    "enum": ErrorKind.PROPERTY,
    "maxLength": ErrorKind.PROPERTY,
    "minLength": ErrorKind.PROPERTY,
    "minimum": ErrorKind.PROPERTY,
    "maximum": ErrorKind.PROPERTY,
    "pattern": ErrorKind.PROPERTY,
    "format": ErrorKind.PROPERTY,
    "multipleOf": ErrorKind.PROPERTY,
}


class SchemaViolation(Exception):
    def __init__(self, kind: ErrorKind, description: str) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description


def is_date_time(value: object) -> bool:
    """RFC 3339 date-time with upper-case ``T`` and ``Z`` as OCPP writes them (an offset-less
    time is let through: backends send them, and OCPP times are UTC): a real calendar date
    and time of day, that is also one in UTC (``9999-12-31T23:59:59-05:00`` is not)."""
    if not isinstance(value, str):
        return True  # the type rule reports non-strings
    if not _DATE_TIME.match(value):
        return False
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return False
    return True


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(is_date_time)


class Schemas:
    """The request and response schemas of one OCPP version."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._folder = _SCHEMA_ROOT / ("v" + dialect.version.replace(".", "")) / "schemas"
        self._request_suffix = "" if dialect.version == "1.6" else "Request"

    def check_call(self, action: str, payload: dict[str, Any]) -> None:
        """Raise SchemaViolation when ``payload`` is not a valid ``action`` request."""
        self._check(action + self._request_suffix, payload)

    def check_result(self, action: str, payload: dict[str, Any]) -> None:
        """Raise SchemaViolation when ``payload`` is not a valid answer to ``action``."""
        self._check(action + "Response", payload)

    def has_request(self, action: str) -> bool:
        return _validator(self._folder / f"{action}{self._request_suffix}.json") is not None

    def _check(self, name: str, payload: dict[str, Any]) -> None:
        loaded = _validator(self._folder / f"{name}.json")
        if loaded is None:
            raise SchemaViolation(ErrorKind.NOT_IMPLEMENTED, f"no schema for {shown(name)}")
        fast = _compiled(self._folder / f"{name}.json")
        if fast is not None:
            try:
                fast(payload)
            except (fastjsonschema.JsonSchemaException, RecursionError, TypeError, ValueError):
                pass  # refused, or not judged: the full check below decides and names it
            else:
                problem = first_problem(payload)
                if problem is not None:
                    raise SchemaViolation(*problem)
                return
        validator, decimals = loaded
        instance = json.loads(json.dumps(payload), parse_float=Decimal) if decimals else payload
        try:
            error = best_match(validator.iter_errors(instance))
        except (DecimalException, ArithmeticError, RecursionError):
            # multipleOf on a number like 1e30 cannot be computed in decimal arithmetic.
            raise SchemaViolation(ErrorKind.PROPERTY, "a number out of the range this charge point can use") from None
        if error is not None:
            raise SchemaViolation(_KIND_OF_RULE.get(str(error.validator), ErrorKind.FORMAT), describe(error))
        problem = first_problem(payload)
        if problem is not None:
            raise SchemaViolation(*problem)


@lru_cache(maxsize=None)
def _validator(path: Path) -> tuple[Draft4Validator, bool] | None:
    """The validator of one schema file, and whether it needs decimal numbers (a
    ``multipleOf: 0.1`` rule fails 21.4 in binary floating point)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        return None
    decimals = '"multipleOf"' in text
    schema = json.loads(text, parse_float=Decimal) if decimals else json.loads(text)
    return Draft4Validator(schema, format_checker=_FORMATS), decimals


@lru_cache(maxsize=None)
def _compiled(path: Path) -> Any:
    """The compiled check of one schema file; None for a schema that needs decimal
    arithmetic, or one that does not compile."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        return None
    if '"multipleOf"' in text:
        return None
    schema = json.loads(text)
    # Judged as draft 4, like the full check (Draft4Validator), whatever draft the file
    # names: under draft 6, which OCPP 1.6's security extension and 2.0.1 name, 1.0 is
    # an integer, and a payload the full check refuses would pass.
    if isinstance(schema, dict):
        schema = {**schema, "$schema": "http://json-schema.org/draft-04/schema#"}
    try:
        # use_default=False: a check must not write the schema's defaults into the payload it checks.
        return fastjsonschema.compile(schema, formats={"date-time": is_date_time}, use_default=False)
    except (fastjsonschema.JsonSchemaDefinitionException, ValueError):
        return None


def describe(error: ValidationError) -> str:
    """'field: rule broken', naming the schema's own words, never the value sent."""
    path = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in error.absolute_path).replace(".[", "[")
    rule, expected, instance = str(error.validator), error.validator_value, error.instance
    if rule == "type":
        what = f"must be of type {expected}"
    elif rule == "required":
        missing = [name for name in expected if isinstance(instance, dict) and name not in instance]
        what = f"{', '.join(missing) or 'a property'} required"
    elif rule == "additionalProperties":
        # Not named: a property name is the backend's text, and could be anything.
        known = set(error.schema.get("properties", {}))
        extra = sum(1 for k in instance if k not in known) if isinstance(instance, dict) else 0
        what = f"{extra} propert{'y' if extra == 1 else 'ies'} the schema does not have"
    elif rule == "enum":
        what = "not one of " + ", ".join(str(v) for v in expected)[:200]
    elif rule == "maxLength":
        what = f"longer than {expected} characters"
    elif rule == "minLength":
        what = f"shorter than {expected} characters"
    elif rule == "maxItems":
        what = f"more than {expected} items"
    elif rule == "minItems":
        what = f"fewer than {expected} items"
    elif rule == "minimum":
        what = f"below the minimum {expected}"
    elif rule == "maximum":
        what = f"above the maximum {expected}"
    elif rule == "format":
        what = f"not a valid {expected}"
    elif rule == "multipleOf":
        what = f"not a multiple of {expected}"
    else:
        what = f"breaks the schema rule {rule}"
    return f"{path}: {what}" if path else what
