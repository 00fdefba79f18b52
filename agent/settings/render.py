"""Print settings back as TOML: the effective configuration, secrets masked.

`ladda check-config` shows this so a technician sees every value the agent will use,
defaults included, in the same syntax as the file they edit.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import unicodedata
from pathlib import Path

from agent.settings.schema import (
    OCPP201_SECTION,
    OCPP_SECTION,
    OPTIONAL_SECTIONS,
    SECRET_KEYS,
    SECTIONS,
    Settings,
    keys_of,
)

MASK = "****"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """A TOML basic string that reads back as exactly `text`."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or unicodedata.category(ch) in _INVISIBLE:
            # escaped, so an error message or a rendering shows what is really there
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(name: str) -> str:
    """A key as written in TOML: bare when it can be, quoted otherwise."""
    return name if _BARE_KEY.fullmatch(name) else toml_string(name)


def toml_value(value: object) -> str:
    """A value in TOML syntax (also used to echo a bad value in an error)."""
    if value is None:  # an optional path that is not set
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, decimal.Decimal):  # money: as written, and read back digit for digit
        text = format(value, "f")  # a TOML number while a float keeps its digits, else a string
        return text if len(value.as_tuple().digits) <= 15 else toml_string(text)
    if hasattr(value, "as_toml"):  # a structured value (a tariff band): an inline table
        return toml_value(value.as_toml())
    if isinstance(value, Path):
        return toml_string(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return toml_string(str(value))


def masked(dotted: str, value: object) -> str:
    """The TOML text for a value, hiding it if the key is secret and the value set."""
    if dotted in SECRET_KEYS and value not in ("", None):
        return toml_string(MASK)
    return toml_value(value)


def render_settings(settings: Settings) -> str:
    """The effective configuration as valid TOML, every key shown, secrets masked."""
    lines = [
        f"# Effective configuration from {toml_string(str(settings.source))}",
        f'# Defaults included; secret values shown as "{MASK}".',
    ]
    present = [name for name in OPTIONAL_SECTIONS if getattr(settings, name) is not None]
    for section in (*SECTIONS, *present):  # an optional table left out is not shown: nothing of it applies
        lines += ["", f"[{section}]"]
        values = getattr(settings, section)
        for f in keys_of(type(values)):  # a hardware role's keys are those of its driver
            value = getattr(values, f.name)
            note = f.metadata["unit"]
            if section == "backend" and f.name == "authorization_key" and settings.backend.authorization_key_file:
                value, note = "", "read from authorization_key_file"  # so the output reads back as it was
            text = f"{toml_key(f.name)} = {masked(f'{section}.{f.name}', value)}"
            lines.append(f"{text}  # {note}" if note else text)
    lines += ["", f"[{OCPP_SECTION}]"]
    for name, value in settings.ocpp.items():
        if "." not in name:  # a 1.6 key; the settings only 2.0.1 names are "Component.Variable[.Instance]"
            lines.append(f"{toml_key(name)} = {masked(f'{OCPP_SECTION}.{name}', value)}")
    components: dict[str, list[str]] = {}
    for name, value in settings.ocpp.items():
        if "." in name:
            component, variable = name.split(".", 1)
            key = ".".join(toml_key(part) for part in variable.split("."))
            components.setdefault(component, []).append(
                f"{key} = {masked(f'{OCPP201_SECTION}.{name}', value)}")
    for component, entries in components.items():
        lines += ["", f"[{OCPP201_SECTION}.{toml_key(component)}]", *entries]
    return "\n".join(lines) + "\n"
