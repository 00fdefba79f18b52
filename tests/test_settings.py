"""The configuration file as a technician meets it: what loads, and what each mistake says."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.runtime_settings.keys import KEYS
from agent.settings import (
    SECRET_KEYS,
    ConfigError,
    load_settings,
    parse_settings,
    render_settings,
    resolve_state_dir,
)
from agent.settings.hardware import DRIVER_SECTIONS
from agent.settings.schema import SECTIONS, keys_of

from .certs import make_pki

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "example.toml"
SOURCE = Path("ladda.toml")
MINIMAL = """\
[charge_point]
id = "LADDA-0001"

[backend]
url = "ws://127.0.0.1:9000/ocpp"
"""
SECRET = "s3cr3t-Passw0rd-4-b"
#: Every key a technician may set: the writable ones of the agent's key table (the
#: write-only AuthorizationKey is backend.authorization_key in the file).
OCPP_KEYS = tuple(name for name, spec in KEYS.items() if not spec.readonly and not spec.writeonly and spec.ocpp16)


def config(*, top: str = "", charge_point: str = "", backend: str = "", rest: str = "") -> str:
    """A valid minimal file with extra lines placed at the top, in the two required sections, or after."""
    cp_id = "" if re.match(r"\s*id\s*=", charge_point) else 'id = "LADDA-0001"\n'
    url = "" if re.match(r"\s*url\s*=", backend) else 'url = "ws://127.0.0.1:9000/ocpp"\n'
    return f"{top}[charge_point]\n{cp_id}{charge_point}\n[backend]\n{url}{backend}\n{rest}"


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, SOURCE)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


def marked_line(text: str) -> int:
    """The 1-based line carrying the `# <-` marker, i.e. where the error must point."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if "# <-" in line)


# --- what loads -------------------------------------------------------------------------


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "ladda.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    s = load_settings(path)
    assert s.source == path
    assert (s.charge_point.id, s.charge_point.vendor, s.charge_point.model) == ("LADDA-0001", "Ladda", "Ladda")
    assert s.charge_point.serial_number == ""
    assert s.backend.url == "ws://127.0.0.1:9000/ocpp"
    assert s.backend.authorization_key == ""
    assert (s.backend.call_timeout, s.backend.reconnect_initial, s.backend.reconnect_max) == (30.0, 1.0, 60.0)
    assert (s.connectors.count, s.connectors.max_current, s.connectors.phases) == (1, 32.0, 3)
    assert s.connectors.voltage == 230.0
    assert {s.meter.driver, s.reader.driver, s.pilot.driver, s.contactor.driver} == {"sim"}
    assert s.sim.socket == Path("bench.sock")
    assert s.state.directory == tmp_path / "state"
    assert (s.logging.level, s.logging.format) == ("info", "auto")
    assert s.system.reboot_command == ()
    assert dict(s.ocpp) == {}


def test_integer_is_accepted_where_a_number_is_expected() -> None:
    s = parse_settings(MINIMAL + "[connectors]\nmax_current = 16\nvoltage = 400\n", SOURCE)
    assert s.connectors.max_current == 16.0 and isinstance(s.connectors.max_current, float)
    assert s.connectors.voltage == 400.0


def test_settings_are_immutable() -> None:
    s = parse_settings(MINIMAL + "[ocpp]\nHeartbeatInterval = 300\n", SOURCE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.connectors.count = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.ocpp["HeartbeatInterval"] = 10  # type: ignore[index]
    assert s.ocpp["HeartbeatInterval"] == 300


def test_example_file_loads() -> None:
    s = load_settings(EXAMPLE)
    assert s.charge_point.id == "LADDA-0001"
    assert s.backend.url == "ws://127.0.0.1:9000/ocpp"
    assert s.state.directory == EXAMPLE.parent / "state"


def test_example_file_sets_every_key_and_lists_the_useful_ocpp_keys() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    for section, cls in SECTIONS.items():
        drivers = DRIVER_SECTIONS.get(section, {})
        cls = drivers.get(data[section].get("driver"), cls)
        assert set(data[section]) == {f.name for f in keys_of(cls)}, section
        # The keys of the role's other drivers are there too, commented, for a technician to switch.
        part = text[text.index(f"[{section}]"):]
        part = part[: part.index("\n[", 1)]
        for other in drivers.values():
            for f in keys_of(other):
                if f.name not in data[section]:
                    assert re.search(rf"^# {f.name} = \S", part, re.M), f"{section}.{f.name} not shown"
    assert "ocpp" in data
    ocpp_part = text[text.index("[ocpp]"):]
    for name in OCPP_KEYS:
        assert re.search(rf"^# {name} = \S", ocpp_part, re.M), name
        assert re.search(rf"Default .*\n# {name} = ", ocpp_part), f"{name} has no default documented"


def test_docs_list_every_key() -> None:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section, cls in SECTIONS.items():
        part = text[text.index(f"`[{section}]`"):]
        for one in {cls, *DRIVER_SECTIONS.get(section, {}).values()}:
            for f in keys_of(one):
                assert re.search(rf"^\| `{f.name}` \|", part, re.M), f"{section}.{f.name}"
    assert "check-config" in text and "78" in text


# --- what each mistake says -------------------------------------------------------------

REJECTED = [
    pytest.param(config(rest="[conectors]  # <-\ncount = 2\n"),
                 "[conectors]: unknown section; did you mean [connectors]?", id="unknown-section"),
    pytest.param(config(rest="[connectors]\nmax_curent = 16  # <-\n"),
                 "connectors.max_curent: unknown key; did you mean 'max_current'?", id="unknown-key"),
    pytest.param(config(rest='[connectors]\ncount = "2"  # <-\n'),
                 'connectors.count = "2": must be an integer between 1 and 8, not a string', id="wrong-type"),
    pytest.param(config(rest="[connectors]\nmax_current = 120.0  # <-\n"),
                 "connectors.max_current = 120.0: must be between 6 and 80 (amperes)", id="out-of-range"),
    pytest.param(config(rest="[connectors]\ncount = true  # <-\n"),
                 "connectors.count = true: must be an integer between 1 and 8, not a boolean", id="bool-not-int"),
    pytest.param(config(rest="[connectors]\nmax_current = true  # <-\n"),
                 "connectors.max_current = true: must be a number between 6 and 80 (amperes), not a boolean",
                 id="bool-not-number"),
    pytest.param(config(rest="[connectors]\ncount = 2.0  # <-\n"),
                 "connectors.count = 2.0: must be an integer between 1 and 8, not a float (write 2, not 2.0)",
                 id="float-not-int"),
    pytest.param(config(rest="[connectors]\nphases = 2  # <-\n"),
                 "connectors.phases = 2: must be 1 or 3", id="phases"),
    pytest.param(config(rest="[connectors]\nvoltage = nan  # <-\n"),
                 "connectors.voltage = nan: must be between 100 and 480 (volts)", id="nan"),
    pytest.param(config(rest='[logging]\nlevel = "INFO"  # <-\n'),
                 'logging.level = "INFO": must be one of "debug", "info", "warning" or "error"; did you mean "info"?',
                 id="choice-with-hint"),
    pytest.param(config(rest='[meter]\ndriver = "modbuss"  # <-\n'),
                 'meter.driver = "modbuss": must be "sim" or "modbus"; did you mean "modbus"?', id="driver"),
    pytest.param(config(rest='[meter]\nunit_ids = [1]  # <-\n'),
                 'meter.unit_ids: not a key of driver "sim" (the default); it belongs to driver "modbus" '
                 "(known keys now: driver, poll_interval, fault_after, on_failure)", id="key-of-another-driver"),
    pytest.param(config(backend="call_timeout = 0.5  # <-\n"),
                 "backend.call_timeout = 0.5: must be between 1 and 300 (seconds)", id="timeout"),
    pytest.param(config(backend="reconnect_initial = 5\nreconnect_max = 2  # <-\n"),
                 "backend.reconnect_max = 2.0: must be at least backend.reconnect_initial (5.0)", id="backoff"),
    pytest.param(config(backend="reconnect_initial = 90  # <-\n"),
                 "backend.reconnect_initial = 90.0: must be at most backend.reconnect_max (60.0, its default)",
                 id="backoff-default-cap"),
    pytest.param(config(charge_point='id = "bay/1"  # <-\n'),
                 """charge_point.id = "bay/1": may contain only letters, digits, '-', '_', '.' and ':' (found '/')""",
                 id="id-chars"),
    pytest.param(config(charge_point=f'id = "{"X" * 49}"  # <-\n'),
                 f'charge_point.id = "{"X" * 49}": must be 1 to 48 characters long (it has 49)', id="id-length"),
    pytest.param(config(charge_point='id = ".."  # <-\n'),
                 'charge_point.id = "..": must not be only dots (it is a URL path segment)', id="id-dots"),
    pytest.param(config(charge_point='vendor = ""  # <-\n'),
                 'charge_point.vendor = "": must be 1 to 20 characters long (it has 0)', id="vendor-empty"),
    pytest.param(config(rest='[system]\nreboot_command = "reboot"  # <-\n'),
                 'system.reboot_command = "reboot": must be an array of non-empty strings, '
                 'e.g. ["systemctl", "reboot"], not a string', id="argv-type"),
    pytest.param(config(rest='[system]\nreboot_command = [  # <-\n  "systemctl",\n  5,\n]\n'),
                 'system.reboot_command = ["systemctl", 5]: must be an array of non-empty strings, '
                 'e.g. ["systemctl", "reboot"] (bad item at index 1)', id="argv-item"),
    pytest.param(config(rest='[sim]\nsocket = ""  # <-\n'), 'sim.socket = "": must not be empty', id="empty-path"),
    pytest.param(config(rest='[connectors]\nurl = "ws://x"  # <-\n'),
                 "connectors.url: unknown key in [connectors]; it belongs in [backend]", id="key-in-wrong-section"),
    pytest.param(config(top='log_level = "debug"  # <-\n'),
                 "log_level: unknown top-level key: keys belong inside a [section]", id="top-level-key"),
    pytest.param(config(top="voltage = 230  # <-\n"),
                 "voltage: unknown top-level key: keys belong inside a [section]; did you mean connectors.voltage?",
                 id="top-level-known-key"),
    pytest.param(config(top='meter = "sim"  # <-\n'), "meter: must be a table (a [meter] section), not a string",
                 id="section-not-table"),
    pytest.param(config(rest='[meter.modbus]  # <-\nport = "/dev/ttyUSB0"\n'),
                 "meter.modbus: unknown key; known keys in [meter]: driver, poll_interval, fault_after, on_failure",
                 id="sub-table"),
    pytest.param(config(rest='[ocpp]\nMeterValuesSampledData = ["Voltage", "Current.Import"]  # <-\n'),
                 'ocpp.MeterValuesSampledData = ["Voltage", "Current.Import"]: must be a string, integer, '
                 "boolean or number, not an array (write a list as one comma-separated string)", id="ocpp-array"),
    pytest.param(config(rest=f'[ocpp]\nAuthorizationKey = "{SECRET}"  # <-\n'),
                 "ocpp.AuthorizationKey = ****: set it as backend.authorization_key, which is kept secret",
                 id="ocpp-secret"),
]


@pytest.mark.parametrize(("text", "expected"), REJECTED)
def test_each_mistake_is_reported_with_file_line_key_value_and_what_is_allowed(text: str, expected: str) -> None:
    assert errors_of(text) == [f"ladda.toml:{marked_line(text)}: {expected}"]


@pytest.mark.parametrize("url", [
    "http://csms.example.com/ocpp", "wss:///ocpp", "wss://csms.example.com/ocpp?token=1",
    "wss://csms.example.com:99999/ocpp", "wss://csms.example.com/ocpp#x", "ws://csms.example.com/a b",
])
def test_bad_backend_urls_are_rejected(url: str) -> None:
    text = MINIMAL.replace("ws://127.0.0.1:9000/ocpp", url)
    [error] = errors_of(text)
    assert error.startswith(f'ladda.toml:5: backend.url = "{url}": must ')


def test_credentials_in_the_url_are_rejected_without_being_shown() -> None:
    text = MINIMAL.replace("ws://", "ws://cp:hunter2hunter2@")
    [error] = errors_of(text)
    assert error == ('ladda.toml:5: backend.url = "ws://cp:****@127.0.0.1:9000/ocpp": '
                     "must not contain credentials; put the password in backend.authorization_key")


def test_missing_required_keys_point_at_their_section_or_the_file() -> None:
    errors = errors_of('[backend]\ncall_timeout = 10\n')
    assert errors == [
        'ladda.toml:1: backend.url: required but missing; add it under [backend], '
        'e.g. url = "wss://csms.example.com/ocpp"',
        'ladda.toml: charge_point.id: required but missing; add it under [charge_point], e.g. id = "LADDA-0001"',
    ]


def test_lines_are_found_for_dotted_and_quoted_keys_past_multiline_strings() -> None:
    text = (
        "connectors.count = 9\n"
        + MINIMAL
        + '[logging]\nnote = """\n[connectors]\ncount = 1\n"""\n"level" = "loud"\n'
    )
    assert errors_of(text) == [
        "ladda.toml:1: connectors.count = 9: must be between 1 and 8",
        "ladda.toml:8: logging.note: unknown key; known keys in [logging]: level, format, file_mb, security_file_mb",
        'ladda.toml:12: logging.level = "loud": must be one of "debug", "info", "warning" or "error"',
    ]


def test_all_errors_are_reported_together_in_file_order() -> None:
    text = MINIMAL + (
        "[connectors]\n"
        "count = 0\n"
        "max_curent = 16\n"
        "phases = true\n"
        "[logging]\n"
        'format = "xml"\n'
        "[ocpp]\n"
        "NoSuchKey = 1\n"
        "HeartbeatInterval = 300\n"
    )
    errors = errors_of(text)
    assert [e.split(": ")[0:2] for e in errors] == [
        ["ladda.toml:7", "connectors.count = 0"],
        ["ladda.toml:8", "connectors.max_curent"],
        ["ladda.toml:9", "connectors.phases = true"],
        ["ladda.toml:11", 'logging.format = "xml"'],
        ["ladda.toml:13", "ocpp.NoSuchKey = 1"],
    ]


def test_ocpp_initial_values_are_kept_and_unknown_names_rejected() -> None:
    s = parse_settings(MINIMAL + "[ocpp]\nHeartbeatInterval = 300\n", SOURCE)
    assert dict(s.ocpp) == {"HeartbeatInterval": 300}
    [error] = errors_of(MINIMAL + "[ocpp]\nHeartbeatInterval = 300\nNoSuchKey = 5\n")
    assert error.startswith("ladda.toml:8: ocpp.NoSuchKey = 5: ")


def test_syntax_error_names_its_line() -> None:
    text = MINIMAL + "[connectors]\ncount = 2 2\n"
    [error] = errors_of(text)
    assert re.fullmatch(r"ladda\.toml:7:\d+: TOML syntax error: .+", error), error


def test_duplicate_key_is_a_syntax_error_with_its_line() -> None:
    [error] = errors_of(MINIMAL + "[connectors]\ncount = 2\ncount = 3\n")
    assert error.startswith("ladda.toml:8:")


@pytest.mark.parametrize(("make", "expected"), [
    pytest.param(lambda p: None, "{p}: configuration file not found", id="missing"),
    pytest.param(lambda p: p.mkdir(), "{p}: is a directory, not a configuration file", id="directory"),
    pytest.param(lambda p: p.write_bytes(MINIMAL.encode() + b"# Latin-1 text: Bj\xf6rk\n"),
                 "{p}:6: not valid UTF-8 (byte 0xf6); save the file as UTF-8", id="not-utf8"),
])
def test_unreadable_file_gives_one_clear_line(tmp_path: Path, make: Callable[[Path], object],
                                              expected: str) -> None:
    path = tmp_path / "ladda.toml"
    make(path)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.errors == [expected.format(p=path)]


def test_utf8_file_with_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "ladda.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_settings(path).charge_point.id == "LADDA-0001"


# --- secrets ----------------------------------------------------------------------------


def test_secret_keys_are_named_for_redaction() -> None:
    assert "backend.authorization_key" in SECRET_KEYS


@pytest.mark.parametrize("line", [
    f'authorization_key = "{SECRET[:12]}"',  # too short
    f'authorization_key = "{SECRET * 3}"',  # too long
    "authorization_key = 1234567890123456789",  # wrong type
    f'authorisation_key = "{SECRET}"',  # misspelt key
])
def test_secret_never_appears_in_errors(line: str) -> None:
    value = line.split("=", 1)[1].strip().strip('"')
    errors = errors_of(MINIMAL + line + "\n")
    assert len(errors) == 1 and errors[0].startswith("ladda.toml:6: backend.autho")
    assert value not in errors[0]


def test_secret_never_appears_in_render_or_repr() -> None:
    s = parse_settings(MINIMAL + f'authorization_key = "{SECRET}"\n', SOURCE)
    assert s.backend.authorization_key == SECRET
    out = render_settings(s)
    assert SECRET not in out and SECRET not in repr(s)
    assert tomllib.loads(out)["backend"]["authorization_key"] == "****"


def test_unset_secret_renders_empty() -> None:
    out = render_settings(parse_settings(MINIMAL, SOURCE))
    assert tomllib.loads(out)["backend"]["authorization_key"] == ""


# --- effective configuration ------------------------------------------------------------

EVERYTHING_SET = """\
[charge_point]
id = "bay-7:west_1.a"
vendor = "Vendor \\"Q\\" \\\\ é"
model = "M 1"
serial_number = "SN-123"

[backend]
url = "wss://csms.example.com:8443/ocpp/v16"
call_timeout = 12.5
reconnect_initial = 0.25
reconnect_max = 1e3
security_profile = 3
ca_file = "tls/ca.pem"
client_certificate = "tls/client.pem"
client_key = "/ABSOLUTE/client.key"

[connectors]
count = 2
max_current = 16
phases = 1
voltage = 120.0

[meter]
driver = "sim"

[sim]
socket = "/run/ladda/bench socket"

[state]
directory = "../var/ladda"

[logging]
level = "debug"
format = "json"

[system]
reboot_command = ["/usr/bin/systemctl", "reboot", "--message=OCPP reset"]

[ocpp]
HeartbeatInterval = 120
"""


def everything_set(tmp_path: Path) -> str:
    """EVERYTHING_SET with its TLS files made under tmp_path/etc (the file's directory)."""
    pki = make_pki(tmp_path / "etc" / "tls")
    return EVERYTHING_SET.replace("/ABSOLUTE/client.key", str(pki.client_key))


@pytest.mark.parametrize("text", [MINIMAL, EVERYTHING_SET, EXAMPLE.read_text(encoding="utf-8")],
                         ids=["minimal", "everything-set", "example"])
def test_rendered_configuration_reparses_to_the_same_settings(text: str, tmp_path: Path) -> None:
    source = tmp_path / "etc" / "ladda.toml"
    if text is EVERYTHING_SET:
        text = everything_set(tmp_path)
    s = parse_settings(text, source)
    out = render_settings(s)
    assert parse_settings(out, source) == s
    data = tomllib.loads(out)
    for section in SECTIONS:
        assert set(data[section]) == {f.name for f in keys_of(type(getattr(s, section)))}, section
    assert data["ocpp"] == dict(s.ocpp)


def test_everything_set_is_read_as_written(tmp_path: Path) -> None:
    s = parse_settings(everything_set(tmp_path), tmp_path / "etc" / "ladda.toml")
    assert s.backend.security_profile == 3
    assert s.backend.ca_file == tmp_path / "etc" / "tls" / "ca.pem"  # relative to the file's directory
    assert s.backend.client_key == tmp_path / "etc" / "tls" / "client.key"
    assert s.charge_point.vendor == 'Vendor "Q" \\ é'
    assert s.backend.reconnect_max == 1000.0
    assert s.system.reboot_command == ("/usr/bin/systemctl", "reboot", "--message=OCPP reset")
    assert s.state.directory == tmp_path / "etc" / ".." / "var" / "ladda"
    assert s.sim.socket_path(Path("/var/lib/ladda")) == Path("/run/ladda/bench socket")


# --- state directory --------------------------------------------------------------------


@pytest.mark.parametrize(("cli", "env", "expected"), [
    ("/srv/cli", {"STATE_DIRECTORY": "/var/lib/ladda"}, "/srv/cli"),
    (None, {"STATE_DIRECTORY": "/var/lib/ladda:/var/lib/other"}, "/var/lib/ladda"),
    (None, {"STATE_DIRECTORY": "/var/lib/ladda"}, "/var/lib/ladda"),
    (None, {}, "{conf}/data"),
    (None, {"STATE_DIRECTORY": ""}, "{conf}/data"),
    ("", {}, "{conf}/data"),
])
def test_state_directory_precedence(tmp_path: Path, cli: str | None, env: dict[str, str], expected: str) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "ladda.toml").write_text(MINIMAL + '[state]\ndirectory = "data"\n', encoding="utf-8")
    s = load_settings(conf / "ladda.toml")
    assert resolve_state_dir(s, cli, env) == Path(expected.format(conf=conf))


def test_relative_cli_state_dir_is_relative_to_the_working_directory(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = parse_settings(MINIMAL, Path("/etc/ladda/ladda.toml"))
    assert s.state.directory == Path("/etc/ladda/state")
    assert resolve_state_dir(s, "here", {}) == tmp_path / "here"


def test_bench_socket_is_inside_the_state_directory_when_relative() -> None:
    s = parse_settings(MINIMAL, SOURCE)
    assert s.sim.socket_path(Path("/var/lib/ladda")) == Path("/var/lib/ladda/bench.sock")

