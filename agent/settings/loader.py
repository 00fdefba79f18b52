"""Read and validate the configuration file, reporting every problem at once.

A technician fixing a charger on site should get one complete list of what is wrong,
each line pointing at the file, the line and the key, never a traceback and never
a secret.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the package requires 3.11, tomli keeps older tools working
    import tomli as tomllib

from agent.settings.paths import (
    bench_socket_problem,
    settings_use_bench,
    state_dir_origin,
    state_dir_problem,
    uses_bench,
)
from agent.settings.render import MASK, toml_value
from agent.settings.security import check_backend_security
from agent.settings.hardware import DRIVER_SECTIONS
from agent.settings.hardware_checks import check_hardware, display_warnings
from agent.settings.site import check_site, connector_phases
from agent.settings.schema import (
    ALL_SECTIONS,
    OCPP_SECTION,
    OCPP201_SECTION,
    OPTIONAL_SECTIONS,
    SECTIONS,
    BackendSettings,
    Invalid,
    SECRET_KEYS,
    OcppValue,
    Rule,
    Settings,
    StateSettings,
    closest,
    frozen_mapping,
    keys_of,
    type_name,
)

_SHOWN_VALUE_MAX = 80


class ConfigError(Exception):
    """The configuration cannot be used; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(self.errors)


def load_settings(path: str | os.PathLike[str], state_dir: str | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read, parse and validate the file at `path`; raises ConfigError.

    ``state_dir`` (``--state-dir``) and ``environ`` (``$STATE_DIRECTORY``, as systemd's
    ``StateDirectory=`` sets it) say which state directory the agent will use, which is
    where the backend's installed CSMS roots are looked for: they decide whether
    ``ca_file`` may be left out. Without them the file's ``[state] directory`` is used."""
    source = Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{source}: configuration file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: is a directory, not a configuration file"]) from None
    except PermissionError:
        raise ConfigError([f"{source}: cannot read configuration file: permission denied"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read configuration file: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw.count(b"\n", 0, start) + 1
        raise ConfigError(
            [f"{source}:{line}: not valid UTF-8 (byte 0x{raw[start]:02x}); save the file as UTF-8"]
        ) from None
    settings = parse_settings(text, source, state_dir=_state_dir_override(state_dir, environ or {}))
    if settings.backend.authorization_key and settings.backend.authorization_key_file is None:
        shared = _shared_secret_warning(source)
        if shared:
            return dataclasses.replace(settings, warnings=(shared, *settings.warnings))
    return settings


def _shared_secret_warning(source: Path) -> str | None:
    """The password written in the file itself: then the file is the secret to protect."""
    try:
        mode = stat.S_IMODE(source.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (f"{source}: mode {mode:04o} lets other users read backend.authorization_key; move the password to "
            f"backend.authorization_key_file (mode 600), or make this file readable by the service user only: "
            f"chmod 600 {source}")


def _state_dir_override(cli_value: str | None, environ: Mapping[str, str]) -> Path | None:
    """The state directory given outside the file (the option, then the variable), if any:
    the same order as `resolve_state_dir`."""
    if cli_value:
        return Path(cli_value).absolute()
    first = environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(first).absolute() if first else None


def parse_settings(text: str, source: Path, state_dir: Path | None = None) -> Settings:
    """Validate TOML text as if read from `source` (used in messages and for relative paths).
    ``state_dir``: the state directory used instead of the file's (see `load_settings`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_error(str(exc), text, source)]) from None
    problems = _Problems(source, _LineIndex(text))
    tables = _tables(data, problems)
    classes = {name: _section_class(name, cls, tables.get(name), problems) for name, cls in SECTIONS.items()}
    values = {name: _check_section(name, cls, tables.get(name), problems) for name, cls in classes.items()}
    optional = {name: _section_class(name, cls, tables[name], problems)
                for name, cls in OPTIONAL_SECTIONS.items() if name in tables}
    optional_values = {name: _check_section(name, cls, tables[name], problems) for name, cls in optional.items()}
    _check_backoff(tables.get("backend"), values["backend"], problems)
    check_hardware(classes, values, problems, source.parent.absolute())
    check_site(optional_values.get("site"), optional.get("grid_meter"), optional_values.get("grid_meter"),
               classes["meter"], values["meter"], problems, source.parent.absolute(),
               phases=connector_phases(classes["connectors"], values["connectors"]))
    _check_state_directory(tables.get("state"), values["state"], source.parent.absolute(), problems)
    warnings = check_backend_security(tables.get("backend"), values["backend"], source.parent.absolute(), problems,
                                      state_dir=state_dir or values["state"].get("directory"))
    _check_signing_ca(values["firmware"], source.parent.absolute(), problems)
    ocpp = _check_ocpp(tables.get(OCPP_SECTION, {}), problems)
    ocpp = _check_ocpp201(tables.get(OCPP201_SECTION, {}), ocpp, problems)
    _check_bench_socket(classes, values, tables.get("sim"), problems)
    if problems:
        raise ConfigError(problems.lines())
    sections = {name: cls(**values[name]) for name, cls in classes.items()}
    sections |= {name: cls(**optional_values[name]) for name, cls in optional.items()}
    warnings = [*warnings, *display_warnings(classes, values)]
    return Settings(**sections, ocpp=ocpp, source=source, warnings=tuple(warnings))


def _check_bench_socket(classes: dict[str, type], values: dict[str, dict[str, Any]], table: dict[str, Any] | None,
                        problems: _Problems) -> None:
    """When a driver uses the bench, its socket path must fit a Unix socket address."""
    def value(section: str, key: str) -> Any:
        defaults = {f.name: f.default for f in keys_of(classes[section])}
        return values[section].get(key, defaults.get(key, ""))

    roles = ("meter", "reader", "pilot", "contactor", "lock")
    if problems.reported(("state", "directory")) or problems.reported(("sim", "socket")):
        return
    i2c = "bench" if "bench" in (value("pilot", "i2c_transport"), value("display", "i2c_transport")) else ""
    if not uses_bench({r: value(r, "driver") for r in roles}, value("gpio", "pin_factory"), i2c):
        return
    socket: Path = value("sim", "socket")
    problem = bench_socket_problem(socket, values["state"]["directory"])
    if problem:
        problems.add(("sim", "socket") if "socket" in (table or {}) else ("sim",), "sim.socket", problem, str(socket))


def _check_state_directory(table: dict[str, Any] | None, state: dict[str, Any], base: Path,
                           problems: _Problems) -> None:
    """Make state.directory absolute and check the agent could create it (not writability:
    check-config may run as another user than the service, which may use $STATE_DIRECTORY)."""
    if "directory" in (table or {}) and "directory" not in state:
        return  # already reported
    written = "directory" in (table or {})
    given = directory = state.get("directory", StateSettings().directory)
    if not directory.is_absolute():
        directory = state["directory"] = base / directory
    problem = state_dir_problem(directory, writable=False)
    if problem:
        where = ("state", "directory") if written else ("state",)
        note = "" if written else "; it is the default"
        if directory != given:
            note += f" (relative to this file: {directory})" if len(str(directory)) <= _SHOWN_VALUE_MAX else ""
        problems.add(where, "state.directory", problem + note, str(given))


def check_run_state_dir(settings: Settings, cli_value: str | None, environ: Mapping[str, str]) -> list[str]:
    """At `ladda run`: the state directory actually used must be creatable and writable by
    this user; an error line naming where it came from (key, option or variable), or none."""
    directory = resolve_state_dir(settings, cli_value, environ)
    problem = state_dir_problem(directory, writable=True)
    if problem is None:
        socket = bench_socket_problem(settings.sim.socket, directory) if settings_use_bench(settings) else None
        return [f"{settings.source}: sim.socket = {toml_value(str(settings.sim.socket))}: {socket}"] if socket else []
    shown = toml_value(str(directory))
    if len(shown) > _SHOWN_VALUE_MAX:
        shown = shown[: _SHOWN_VALUE_MAX - 3] + "..."
    origin = state_dir_origin(cli_value, environ)
    if origin == "state.directory":
        return [f"{settings.source}: state.directory = {shown}: {problem}"]
    return [f"{origin} {shown}: {problem}"]


def _check_signing_ca(firmware: dict[str, Any], base: Path, problems: _Problems) -> None:
    """The firmware signing CA file must hold certificates now, not when an update comes."""
    path = firmware.get("signing_ca")
    if path is None:
        return
    if not path.is_absolute():
        path = firmware["signing_ca"] = base / path
    from agent.firmware.signature import CertificateRejected, load_trusted

    try:
        load_trusted(path)
    except CertificateRejected as exc:
        problems.add(("firmware", "signing_ca"), "firmware.signing_ca", str(exc))


def resolve_state_dir(settings: Settings, cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """The state directory: --state-dir, else $STATE_DIRECTORY's first entry, else the file's."""
    return _state_dir_override(cli_value, environ) or settings.state.directory


# --- validation -------------------------------------------------------------------------


def _tables(data: dict[str, Any], problems: _Problems) -> dict[str, dict[str, Any]]:
    """The known sections that are tables; everything else at the top level is reported."""
    tables: dict[str, dict[str, Any]] = {}
    for name, value in data.items():
        if name in ALL_SECTIONS:
            if isinstance(value, dict):
                tables[name] = value
            else:
                problems.add((name,), name, f"must be a table (a [{name}] section), not {type_name(value)}")
        elif isinstance(value, dict):
            near = closest(name, ALL_SECTIONS)
            hint = f"did you mean [{near}]?" if near else f"known sections: {', '.join(ALL_SECTIONS)}"
            problems.add((name,), f"[{name}]", f"unknown section; {hint}")
        else:
            homes = [s for s, cls in SECTIONS.items() if name in {f.name for f in keys_of(cls)}]
            hint = f"; did you mean {' or '.join(f'{s}.{name}' for s in homes)}?" if homes else ""
            problems.add((name,), name, f"unknown top-level key: keys belong inside a [section]{hint}")
    return tables


def _section_class(name: str, default: type, table: dict[str, Any] | None, problems: _Problems) -> type:
    """The class declaring a section's keys: for a hardware role, the one of the driver it names."""
    drivers = DRIVER_SECTIONS.get(name)
    if drivers is None or not table or "driver" not in table:
        return default
    driver = table["driver"]
    if isinstance(driver, str) and driver in drivers:
        return drivers[driver]
    return default  # the bad driver value itself is reported with the section's keys


def _check_section(name: str, cls: type, table: dict[str, Any] | None,
                   problems: _Problems) -> dict[str, Any]:
    """Converted values of one section's keys present in the file; problems are reported."""
    fields = {f.name: f for f in keys_of(cls)}
    given = table or {}
    out: dict[str, Any] = {}
    for key, value in given.items():
        f = fields.get(key)
        if f is None:
            problems.add((name, key), f"{name}.{key}", _unknown_key_hint(name, key, list(fields), given))
            continue
        rule: Rule = f.metadata["rule"]
        try:
            out[key] = rule.convert(value)
        except Invalid as exc:
            problems.add((name, key), f"{name}.{key}", str(exc), value if exc.shown is None else exc.shown)
    for key, f in fields.items():
        if key not in given and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            example = f.metadata["example"]
            problems.add((name,), f"{name}.{key}",
                         f"required but missing; add it under [{name}], e.g. {key} = {example}")
    return out


def _unknown_key_hint(section: str, key: str, known: list[str], given: dict[str, Any]) -> str:
    near = closest(key, known)
    if near:
        return f"unknown key; did you mean '{near}'?"
    owners = [d for d, cls in DRIVER_SECTIONS.get(section, {}).items() if key in {f.name for f in keys_of(cls)}]
    if owners:
        default = (SECTIONS | OPTIONAL_SECTIONS)[section]().driver
        driver = toml_value(given["driver"]) if "driver" in given else f'{toml_value(default)} (the default)'
        return (f"not a key of driver {driver}; it belongs to driver "
                f"{' or '.join(toml_value(o) for o in owners)} (known keys now: {', '.join(known)})")
    homes = [s for s, cls in (SECTIONS | OPTIONAL_SECTIONS).items()
             if s != section and key in {f.name for f in keys_of(cls)}]
    if homes:
        return f"unknown key in [{section}]; it belongs in [{homes[0]}]"
    return f"unknown key; known keys in [{section}]: {', '.join(known)}"


def _check_backoff(table: dict[str, Any] | None, backend: dict[str, Any], problems: _Problems) -> None:
    """The backoff cap must not be below its start, whichever of the two the file sets."""
    given = [k for k in ("reconnect_initial", "reconnect_max") if k in (table or {})]
    if not given or any(k not in backend for k in given):  # absent, or already reported
        return
    defaults = {f.name: f.default for f in keys_of(BackendSettings)}
    first = backend.get("reconnect_initial", defaults["reconnect_initial"])
    cap = backend.get("reconnect_max", defaults["reconnect_max"])
    if cap >= first:
        return
    if "reconnect_max" in backend:
        problems.add(("backend", "reconnect_max"), "backend.reconnect_max",
                     f"must be at least backend.reconnect_initial ({toml_value(first)})", cap)
    else:
        problems.add(("backend", "reconnect_initial"), "backend.reconnect_initial",
                     f"must be at most backend.reconnect_max ({toml_value(cap)}, its default)", first)


def _check_ocpp(table: dict[str, Any], problems: _Problems) -> Mapping[str, OcppValue]:
    """Initial OCPP configuration values, each checked against the key table."""
    if not table:
        return frozen_mapping({})
    from agent.runtime_settings.keys import check_initial, check_offered  # late: the protocol adapter is optional here

    out: dict[str, OcppValue] = {}
    for name, value in table.items():
        where = (OCPP_SECTION, name)
        if name == "AuthorizationKey":
            problems.add(where, f"{OCPP_SECTION}.{name}",
                         "set it as backend.authorization_key, which is kept secret", value)
            continue
        if name == "SecurityProfile":
            problems.add(where, f"{OCPP_SECTION}.{name}", "set it as backend.security_profile", value)
            continue
        if not isinstance(value, str | int | float):  # bool is an int
            hint = " (write a list as one comma-separated string)" if isinstance(value, list) else ""
            problems.add(where, f"{OCPP_SECTION}.{name}",
                         f"must be a string, integer, boolean or number, not {type_name(value)}{hint}", value)
            continue
        message = check_initial(name, value)
        if message is not None:
            problems.add(where, f"{OCPP_SECTION}.{name}", message, value)
            continue
        out[name] = value
    for name, message in check_offered(out):
        problems.add((OCPP_SECTION, name), f"{OCPP_SECTION}.{name}", message, out.pop(name))
    return frozen_mapping(out)


def _check_ocpp201(table: dict[str, Any], ocpp: Mapping[str, OcppValue],
                   problems: _Problems) -> Mapping[str, OcppValue]:
    """Initial values of settings only OCPP 2.0.1 names, from [ocpp201.<Component>] tables,
    added to the [ocpp] ones under the settings' names."""
    if not table:
        return ocpp
    from agent.runtime_settings.keys import check_initial_v201, check_offered, v201_components

    components = v201_components()
    out: dict[str, OcppValue] = {}
    subjects: dict[str, tuple[tuple[str, ...], str]] = {}
    for component, body in table.items():
        if component not in components:
            _, message = check_initial_v201(component, "", None, None)
            problems.add((OCPP201_SECTION, component), f"[{OCPP201_SECTION}.{component}]", message or "")
            continue
        if not isinstance(body, dict):
            problems.add((OCPP201_SECTION, component), f"{OCPP201_SECTION}.{component}",
                         f"must be a table ([{OCPP201_SECTION}.{component}]) of the component's variables", body)
            continue
        for variable, given in body.items():
            entries = list(given.items()) if isinstance(given, dict) else [(None, given)]
            for instance, value in entries:
                path = (OCPP201_SECTION, component, variable, *((instance,) if instance is not None else ()))
                subject = ".".join(path)
                if isinstance(value, dict) or not isinstance(value, str | int | float):
                    hint = " (write a list as one comma-separated string)" if isinstance(value, list) else ""
                    problems.add(path, subject, f"must be a string, integer, boolean or number, not "
                                                f"{type_name(value)}{hint}", value)
                    continue
                name, message = check_initial_v201(component, variable, instance, value)
                if name is None:
                    problems.add(path, subject, message or "", value)
                    continue
                out[name] = value
                subjects[name] = (path, subject)
    offered = {name for name, _ in check_offered(dict(ocpp))}  # already reported under [ocpp]
    for name, message in check_offered({**ocpp, **out}):
        if name in out and name not in offered:
            path, subject = subjects[name]
            problems.add(path, subject, message, out.pop(name))
    return frozen_mapping({**ocpp, **out})


# --- reporting --------------------------------------------------------------------------


class _Problems:
    """Collects problems and formats them as `file:line: key = value: message`."""

    _UNSET = object()

    def __init__(self, source: Path, index: _LineIndex) -> None:
        self._source = source
        self._index = index
        self._found: list[tuple[int | None, str]] = []
        self._paths: set[tuple[str, ...]] = set()

    def reported(self, path: tuple[str, ...]) -> bool:
        """A problem with this key was already found: checks that need its value are skipped."""
        return path in self._paths

    def add(self, path: tuple[str, ...], subject: str, message: str, value: object = _UNSET) -> None:
        self._paths.add(path)
        if value is not self._UNSET:
            shown = MASK if subject in SECRET_KEYS else toml_value(value)
            if len(shown) > _SHOWN_VALUE_MAX:
                shown = shown[: _SHOWN_VALUE_MAX - 3] + "..."
            subject = f"{subject} = {shown}"
        self._found.append((self._index.line_of(path), f"{subject}: {message}"))

    def __bool__(self) -> bool:
        return bool(self._found)

    def lines(self) -> list[str]:
        """Every problem, in file order; those without a known line last."""
        ordered = sorted(self._found, key=lambda p: (p[0] is None, p[0] or 0))
        return [f"{self._source}:{line}: {text}" if line else f"{self._source}: {text}" for line, text in ordered]


def _syntax_error(message: str, text: str, source: Path) -> str:
    found = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.S)
    if found:
        what, line, column = found.groups()
        return f"{source}:{line}:{column}: TOML syntax error: {what}"
    found = re.fullmatch(r"(.*) \(at end of document\)", message, re.S)
    if found:
        return f"{source}:{text.count(chr(10)) + 1}: TOML syntax error at end of file: {found.group(1)}"
    return f"{source}: TOML syntax error: {message}"


_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
_HEADER = re.compile(rf"[ \t]*\[\[?[ \t]*({_DOTTED})[ \t]*\]\]?[ \t]*(?:#.*)?")
_KEY_LINE = re.compile(rf"[ \t]*({_DOTTED})[ \t]*=")
_PART = re.compile(_KEY_PART)


def _split_dotted(dotted: str) -> tuple[str, ...]:
    parts = []
    for m in _PART.finditer(dotted):
        part = m.group()
        if part.startswith('"'):
            try:
                part = json.loads(part)
            except ValueError:
                part = part[1:-1]
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


class _LineIndex:
    """Line numbers of table headers and keys, which tomllib does not report."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        open_string: str | None = None  # delimiter of a multi-line string being skipped
        for number, line in enumerate(text.splitlines(), start=1):
            if open_string is not None:
                if line.count(open_string) % 2 == 1:
                    open_string = None
                continue
            header = _HEADER.fullmatch(line)
            if header:
                table = _split_dotted(header.group(1))
                self._lines.setdefault(table, number)
                continue
            key = _KEY_LINE.match(line)
            if key:
                self._lines.setdefault(table + _split_dotted(key.group(1)), number)
                for delimiter in ('"""', "'''"):
                    if line.count(delimiter) % 2 == 1:
                        open_string = delimiter
                        break

    def line_of(self, path: tuple[str, ...]) -> int | None:
        """The line of the key at `path`, else of its nearest enclosing table."""
        for end in range(len(path), 0, -1):
            if path[:end] in self._lines:
                return self._lines[path[:end]]
        return None
