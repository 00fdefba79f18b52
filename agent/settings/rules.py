"""Rules for configuration values: how one TOML value is checked and converted.

Kept apart from the section declarations so that every section module (the general
ones in ``schema``, the hardware roles in ``hardware``) declares its keys with the
same rules and the same error wording.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import re
import unicodedata
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
    import difflib  # only a configuration with a mistake needs it

    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


_ID_CHARS = re.compile(r"[A-Za-z0-9_.:-]+")
#: Unicode categories never wanted in a setting: controls (NUL, newline, DEL, C1), format
#: characters (bidirectional overrides, zero-width), line and paragraph separators. They
#: end strings in C, split log lines, or make a value read differently than it is.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_CONTROL_NAMES = {"\0": "NUL", "\t": "a tab", "\n": "a line break", "\r": "a carriage return",
                  "\x1b": "escape", "\x7f": "delete"}
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
HOST_NAME_MAX = 253
URL_MAX = 1024


def _os_limit(name: str, fallback: int) -> int:
    try:
        return int(os.pathconf("/", name))
    except (OSError, ValueError):  # pragma: no cover - every Linux answers
        return fallback


#: The longest path (bytes, without the final NUL) and file name the kernel accepts.
PATH_MAX = _os_limit("PC_PATH_MAX", 4096) - 1
NAME_MAX = _os_limit("PC_NAME_MAX", 255)


def unsafe_character(value: str) -> str | None:
    """A description of the first control or invisible format character in `value`, if any."""
    for index, ch in enumerate(value):
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "a control character").lower()
            return f"U+{ord(ch):04X}, {name}, at position {index + 1}"
    return None


def check_clean(value: str, allowed: str = "") -> None:
    """Refuse control characters and leading or trailing blanks, which no name, path, host,
    serial or password on a charger has: they come from copy and paste, and they make
    a value that looks right fail later, far from the file (or be sent as it is)."""
    then = f"; it must be {allowed}" if allowed else ""
    found = unsafe_character(value)
    if found:
        raise Invalid(f"must not contain control or invisible characters (found {found}){then}")
    if value != value.strip():
        raise Invalid(f"must not begin or end with blanks (spaces, tabs){then}")


def check_path_text(value: str) -> None:
    """A path the kernel can take: clean, at most PATH_MAX bytes, each name at most NAME_MAX."""
    check_clean(value, f"a path of at most {PATH_MAX} bytes without control characters or leading/trailing blanks")
    size = len(os.fsencode(value))
    if size > PATH_MAX:
        raise Invalid(f"must be at most {PATH_MAX} bytes long, the operating system's limit for a path "
                      f"(it has {size})")
    for part in value.split("/"):
        if len(os.fsencode(part)) > NAME_MAX:
            raise Invalid(f"has a name of {len(os.fsencode(part))} bytes; the operating system allows at most "
                          f"{NAME_MAX} between two '/'")


def host_problem(host: str) -> str | None:
    """Why `host` is neither a DNS name (RFC 1123) nor an IP address; None when it is one."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if len(host) > HOST_NAME_MAX:
        return f"a host name has at most {HOST_NAME_MAX} characters (it has {len(host)})"
    labels = host.removesuffix(".").split(".")
    if all(label.isdigit() for label in labels):
        return f"not a valid IP address ({host})"
    bad = next((label for label in labels if not _HOST_LABEL.fullmatch(label)), None)
    if bad is not None:
        shown = bad if len(bad) <= 20 else bad[:17] + "..."
        return (f"not a host name or IP address (part {shown!r}): a host name is labels of 1 to 63 letters, "
                f"digits or '-' separated by '.'")
    return None


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
        return f"a string of {span}, without control characters or leading/trailing blanks"

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if self.allow_empty and value == "":
            return value
        if not self.min_len <= len(value) <= self.max_len:
            got = f" (it has {len(value)})" if self.show_length else ""
            empty = "empty or " if self.allow_empty else ""
            raise Invalid(f"must be {empty}{self.min_len} to {self.max_len} characters long{got}")
        check_clean(value, self.describe())
        return value


@dataclass(frozen=True, slots=True)
class Host(Rule):
    """A host name or IP address (a meter, a gateway); "" when the key may stay unset."""

    allow_empty: bool = True

    def describe(self) -> str:
        return "a host name (e.g. meter.local) or an IP address (e.g. 192.168.1.50)"

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if value == "" and self.allow_empty:
            return value
        check_clean(value, self.describe())
        problem = host_problem(value)
        if problem:
            raise Invalid(f"must be {self.describe()}; {problem}")
        return value


@dataclass(frozen=True, slots=True)
class DeviceName(Rule):
    """A device path such as a serial port (/dev/ttyUSB0); "" when the key may stay unset."""

    def describe(self) -> str:
        return 'a device path such as "/dev/ttyUSB0", without blanks or control characters'

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if value == "":
            return value
        check_path_text(value)
        return value


#: 16 to 20 bytes written as hexadecimal digits (the AuthorizationKey of the security whitepaper).
_HEX_KEY = re.compile(r"(?:[0-9A-Fa-f]{2}){16,20}")
#: A password used as written: 16 to 20 characters is what the whitepaper asks of a
#: backend-set key; passwords up to 40 characters, which earlier releases took, still work.
PASSWORD_MIN, PASSWORD_MAX = 16, 40


def is_hex_key(key: str) -> bool:
    """True when a key is 32 to 40 hexadecimal digits (whole bytes): then it is decoded."""
    return bool(_HEX_KEY.fullmatch(key))


def basic_auth_password(key: str) -> bytes:
    """The HTTP Basic password for an authorization key: 32 to 40 hexadecimal digits are the
    bytes they spell (how the OCPP security whitepaper and its test tool carry it), anything
    else (16 to 40 characters) is used as it is written."""
    return bytes.fromhex(key) if is_hex_key(key) else key.encode()


@dataclass(frozen=True, slots=True)
class AuthorizationKey(Rule):
    """backend.authorization_key: 32 to 40 hex digits (decoded), or a password of 16 to 40 characters."""

    allow_empty: bool = True

    def describe(self) -> str:
        return (f"32 to 40 hexadecimal digits (16 to 20 bytes, decoded before sending) or {PASSWORD_MIN} to "
                f"{PASSWORD_MAX} other characters (a password sent as it is)")

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if value == "" and self.allow_empty:
            return value
        check_clean(value, self.describe())
        if is_hex_key(value) or PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
            return value
        raise Invalid(f"must be {self.describe()}")


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
        """The URL with its scheme in lower case (schemes are case-insensitive, RFC 3986)."""
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if len(value) > URL_MAX:
            raise Invalid(f"must be at most {URL_MAX} characters long (it has {len(value)})")
        check_clean(value, self.describe())
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in ("ws", "wss"):
            raise Invalid("must start with ws:// or wss://")
        value = f"{scheme.lower()}://{rest}"
        try:
            parts = urlsplit(value)
            port = parts.port  # raises for a malformed port
        except ValueError as exc:
            raise Invalid(f"must be a valid URL ({str(exc)[:1].lower()}{str(exc)[1:]})") from None
        if not parts.hostname:
            raise Invalid("must name a host, e.g. wss://csms.example.com/ocpp")
        problem = host_problem(parts.hostname)
        if problem:
            raise Invalid(f"must name a valid host: {problem}")
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
        check_path_text(value)
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
        check_path_text(value)
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
