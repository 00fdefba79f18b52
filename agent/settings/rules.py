"""Rules for configuration values: how one TOML value is checked and converted.

Kept apart from the section declarations so that every section module (the general
ones in ``schema``, the hardware roles in ``hardware``) declares its keys with the
same rules and the same error wording.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

class Invalid(ValueError):
    """A value broke its rule; the message says what is allowed.

    `shown` replaces the value in the error when the value itself holds a secret.
    """

    def __init__(self, message: str, shown: str | None = None) -> None:
        super().__init__(message)
        self.shown = shown


def type_name(value: object) -> str:
    """The TOML name of a value's type, with its article, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.datetime):
        return "a date-time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, datetime.time):
        return "a time"
    return type(value).__name__


def closest(word: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """The candidate a typo most likely meant, if any is close enough."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


_ID_CHARS = re.compile(r"[A-Za-z0-9_.:-]+")


def _num(x: float) -> str:
    return f"{x:g}"


class Rule:
    """How one key's TOML value is checked and converted to its Python value."""

    __slots__ = ()

    def describe(self) -> str:
        """What is allowed, phrased to follow 'must be'."""
        raise NotImplementedError

    def convert(self, value: object) -> Any:
        """The Python value for a TOML value; raises Invalid with the reason."""
        raise NotImplementedError

    def _wrong_type(self, value: object) -> Invalid:
        return Invalid(f"must be {self.describe()}, not {type_name(value)}")


@dataclass(frozen=True, slots=True)
class Text(Rule):
    """A string with length limits and optionally a character set."""

    min_len: int
    max_len: int
    allow_empty: bool = False  # besides min_len..max_len, "" is also fine
    show_length: bool = True  # False for secrets: not even their length is echoed

    def describe(self) -> str:
        span = f"{self.min_len} to {self.max_len} characters"
        if self.allow_empty:
            span = f"empty or {span}"
        return f"a string of {span}"

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if self.allow_empty and value == "":
            return value
        if not self.min_len <= len(value) <= self.max_len:
            got = f" (it has {len(value)})" if self.show_length else ""
            empty = "empty or " if self.allow_empty else ""
            raise Invalid(f"must be {empty}{self.min_len} to {self.max_len} characters long{got}")
        return value


@dataclass(frozen=True, slots=True)
class Identity(Rule):
    """The chargeBoxIdentity: it becomes the last segment of the backend URL path."""

    max_len: int = 48

    def describe(self) -> str:
        return f"a string of 1 to {self.max_len} letters, digits, '-', '_', '.' or ':'"

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if not 1 <= len(value) <= self.max_len:
            raise Invalid(f"must be 1 to {self.max_len} characters long (it has {len(value)})")
        if not _ID_CHARS.fullmatch(value):
            bad = sorted({c for c in value if not _ID_CHARS.fullmatch(c)})
            shown = " ".join(repr(c) for c in bad)
            raise Invalid(f"may contain only letters, digits, '-', '_', '.' and ':' (found {shown})")
        if set(value) == {"."}:
            raise Invalid("must not be only dots (it is a URL path segment)")
        return value


@dataclass(frozen=True, slots=True)
class Number(Rule):
    """A float within a range; a TOML integer is accepted, a boolean is not."""

    low: float
    high: float
    unit: str = ""

    def _range(self) -> str:
        return f"between {_num(self.low)} and {_num(self.high)}" + (f" ({self.unit})" if self.unit else "")

    def describe(self) -> str:
        return f"a number {self._range()}"

    def convert(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong_type(value)
        number = float(value)
        if not self.low <= number <= self.high:  # also rejects nan
            raise Invalid(f"must be {self._range()}")
        return number


@dataclass(frozen=True, slots=True)
class Integer(Rule):
    """An integer within a range; a boolean or a float is not an integer."""

    low: int
    high: int
    unit: str = ""

    def _range(self) -> str:
        return f"between {self.low} and {self.high}" + (f" ({self.unit})" if self.unit else "")

    def describe(self) -> str:
        return f"an integer {self._range()}"

    def convert(self, value: object) -> int:
        if isinstance(value, float) and value.is_integer():
            raise Invalid(f"must be {self.describe()}, not a float (write {int(value)}, not {value})")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong_type(value)
        if not self.low <= value <= self.high:
            raise Invalid(f"must be {self._range()}")
        return value


@dataclass(frozen=True, slots=True)
class Choice(Rule):
    """One of a fixed set of strings or integers."""

    options: tuple[str, ...] | tuple[int, ...]

    def _listing(self) -> str:
        shown = [f'"{o}"' if isinstance(o, str) else str(o) for o in self.options]
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]

    def describe(self) -> str:
        return self._listing() if len(self.options) <= 2 else f"one of {self._listing()}"

    def convert(self, value: object) -> str | int:
        kind = type(self.options[0])
        if type(value) is not kind:  # exact: bool is not an int
            raise self._wrong_type(value)
        if value not in self.options:
            hint = ""
            if isinstance(value, str):
                near = closest(value, [str(o) for o in self.options])
                hint = f'; did you mean "{near}"?' if near else ""
            raise Invalid(f"must be {self.describe()}{hint}")
        return value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class WebSocketUrl(Rule):
    """The backend URL without the charge point id, which the agent appends."""

    def describe(self) -> str:
        return "a ws:// or wss:// URL with a host"

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if not value.startswith(("ws://", "wss://")):
            raise Invalid("must start with ws:// or wss://")
        try:
            parts = urlsplit(value)
            port = parts.port  # raises for a malformed port
        except ValueError as exc:
            raise Invalid(f"must be a valid URL ({str(exc)[:1].lower()}{str(exc)[1:]})") from None
        if not parts.hostname:
            raise Invalid("must name a host, e.g. wss://csms.example.com/ocpp")
        if parts.username is not None or parts.password is not None:
            shown = value.replace(parts.password, "****") if parts.password else value
            raise Invalid("must not contain credentials; put the password in backend.authorization_key", shown)
        if parts.query or parts.fragment or value.endswith(("?", "#")):
            raise Invalid("must not have a query or fragment: the charge point id is appended to its path")
        if port == 0:
            raise Invalid("must not use port 0")
        if any(c.isspace() for c in value):
            raise Invalid("must not contain spaces")
        return value


@dataclass(frozen=True, slots=True)
class PathValue(Rule):
    """A filesystem path written as a non-empty string."""

    def describe(self) -> str:
        return "a non-empty path string"

    def convert(self, value: object) -> Path:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if not value.strip():
            raise Invalid("must not be empty")
        if "\0" in value:
            raise Invalid("must not contain a NUL character")
        return Path(value)


@dataclass(frozen=True, slots=True)
class OptionalPath(Rule):
    """A filesystem path, or "" for none (so a template can list the key unset)."""

    def describe(self) -> str:
        return 'a path string, or "" for none'

    def convert(self, value: object) -> Path | None:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if value == "":
            return None
        if not value.strip():
            raise Invalid('must not be only spaces; write "" for none')
        if "\0" in value:
            raise Invalid("must not contain a NUL character")
        return Path(value)


@dataclass(frozen=True, slots=True)
class Argv(Rule):
    """A command as an argument vector (no shell): a list of non-empty strings."""

    def describe(self) -> str:
        return 'an array of non-empty strings, e.g. ["systemctl", "reboot"]'

    def convert(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self._wrong_type(value)
        bad = [i for i, item in enumerate(value) if not isinstance(item, str) or not item]
        if bad:
            raise Invalid(f"must be {self.describe()} (bad item at index {', '.join(map(str, bad))})")
        return tuple(value)


def setting(rule: Rule, default: Any = dataclasses.MISSING, *, doc: str, unit: str = "",
            secret: bool = False, example: str = "") -> Any:
    """Declare one configuration key: its rule, default, unit, meaning and, if required, an example."""
    meta = {"rule": rule, "doc": doc, "unit": unit, "secret": secret, "example": example}
    return field(default=default, metadata=meta, repr=not secret)


@dataclass(frozen=True, slots=True)
class IntList(Rule):
    """An array of integers, each within a range (pin numbers, Modbus unit ids, ADC inputs)."""

    low: int
    high: int
    what: str = "integers"
    max_items: int = 8

    def describe(self) -> str:
        return f"an array of {self.what} between {self.low} and {self.high}"

    def convert(self, value: object) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise self._wrong_type(value)
        if len(value) > self.max_items:
            raise Invalid(f"must have at most {self.max_items} items (it has {len(value)})")
        bad = [i for i, v in enumerate(value)
               if isinstance(v, bool) or not isinstance(v, int) or not self.low <= v <= self.high]
        if bad:
            raise Invalid(f"must be {self.describe()} (bad item at index {', '.join(map(str, bad))})")
        return tuple(value)


@dataclass(frozen=True, slots=True)
class Flag(Rule):
    """A TOML boolean (true/false), never a string or a number."""

    def describe(self) -> str:
        return "true or false"

    def convert(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise self._wrong_type(value)
        return value
