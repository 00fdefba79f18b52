"""Strings a technician's file cannot work with: refused at `ladda check-config` and at
`ladda run` start, each with the file, the line, `section.key`, the value shown safely
and what is allowed, exit 78 (so systemd does not restart the service in a loop)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.settings import ConfigError, parse_settings
from agent.settings.rules import NAME_MAX, PATH_MAX

EX_CONFIG = 78
HEADER = """\
[charge_point]
id = "LADDA-0001"
"""
URL = '[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\n'


def ladda(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ladda.toml"
    path.write_text(text, encoding="utf-8")
    return path


def only_error(text: str, source: Path) -> str:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, source)
    [error] = info.value.errors
    return error


# --- the issue's examples, end to end -----------------------------------------------------


def test_every_unusable_string_of_the_issue_is_reported_at_once_by_check_config(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory\n")
    long_host = "h" * 3000
    path = write(tmp_path, f"""\
[charge_point]
id = "LADDA-0001"
serial_number = "SN\\u0000"
[backend]
url = "ws://{long_host}/ocpp"
[meter]
driver = "modbus"
model = "sdm630"
port = " /dev/ttyUSB0 "
[state]
directory = "a-file"
""")
    result = ladda("check-config", str(path))
    assert result.returncode == EX_CONFIG, result.stdout
    lines = result.stderr.splitlines()
    assert lines[0] == "configuration errors:"
    assert lines[1:] == [
        f'{path}:3: charge_point.serial_number = "SN\\u0000": must not contain control or invisible characters '
        "(found U+0000, NUL, at position 3); it must be a string of 0 to 25 characters, without control "
        "characters or leading/trailing blanks",
        f'{path}:5: backend.url = "ws://{long_host[:71]}...: must be at most 1024 characters long (it has 3010)',
        f'{path}:9: meter.port = " /dev/ttyUSB0 ": must not begin or end with blanks (spaces, tabs); it must be a '
        f"path of at most {PATH_MAX} bytes without control characters or leading/trailing blanks",
        f'{path}:11: state.directory = "a-file": exists and is a regular file, not a directory; name a directory '
        f"(it is created if missing) (relative to this file: {tmp_path / 'a-file'})",
    ]
    run = ladda("run", "-c", str(path))  # the service refuses the same file the same way, before any hardware
    assert run.returncode == EX_CONFIG and run.stderr == result.stderr


def test_meter_host_must_be_a_host_name_or_address(tmp_path: Path) -> None:
    text = HEADER + URL + '[meter]\ndriver = "modbus"\nmodel = "sdm630"\ntransport = "tcp"\nhost = "*"\n'
    assert only_error(text, tmp_path / "l.toml") == (
        f'{tmp_path / "l.toml"}:9: meter.host = "*": must be a host name (e.g. meter.local) or an IP address '
        "(e.g. 192.168.1.50); not a host name or IP address (part '*'): a host name is labels of 1 to 63 letters, "
        "digits or '-' separated by '.'")
    for good in ("192.168.1.50", "fe80::1", "meter-1.local", "gw_2"):
        settings = parse_settings(text.replace('"*"', f'"{good}"'), tmp_path / "l.toml")
        assert settings.meter.host == good  # type: ignore[attr-defined]
    assert "not a valid IP address" in only_error(text.replace('"*"', '"192.168.1.300"'), tmp_path / "l.toml")


@pytest.mark.parametrize("serial", ['""', '"   "', '" SN-1"', '"SN\\t1"'])
def test_a_blank_or_padded_serial_number_is_refused_and_empty_means_none(tmp_path: Path, serial: str) -> None:
    text = HEADER + f"serial_number = {serial}\n" + URL
    if serial == '""':
        assert parse_settings(text, tmp_path / "l.toml").charge_point.serial_number == ""
        return
    error = only_error(text, tmp_path / "l.toml")
    assert error.startswith(f"{tmp_path / 'l.toml'}:3: charge_point.serial_number = {serial}: must not ")


def test_url_schemes_are_case_insensitive_and_kept_lower_case(tmp_path: Path) -> None:
    settings = parse_settings(HEADER + '[backend]\nurl = "WS://Csms.Example.com/ocpp"\n', tmp_path / "l.toml")
    assert settings.backend.url == "ws://Csms.Example.com/ocpp"
    assert settings.backend.security_profile == 0
    result = ladda("check-config", str(write(tmp_path, HEADER + '[backend]\nurl = "WsS://csms.example.com/ocpp"\n')))
    assert result.returncode == EX_CONFIG  # wss:// needs a CA file: the upper-case scheme was understood as TLS
    assert "backend.ca_file: required with security profile 2" in result.stderr or "wss:// URL needs" in result.stderr


@pytest.mark.parametrize(("line", "expected"), [
    ('vendor = "Acme\\u202e"', "must not contain control or invisible characters (found U+202E, "
                               "right-to-left override, at position 5)"),
    ('model = "Model\\n2"', "must not contain control or invisible characters (found U+000A, a line break, "
                            "at position 6)"),
    ('vendor = "Acme "', "must not begin or end with blanks (spaces, tabs)"),
])
def test_invisible_characters_are_refused_and_shown_escaped(tmp_path: Path, line: str, expected: str) -> None:
    error = only_error(HEADER + line + "\n" + URL, tmp_path / "l.toml")
    key, value = line.split(" = ")
    assert error.startswith(f"{tmp_path / 'l.toml'}:3: charge_point.{key} = {value}: {expected}")


def test_a_url_with_control_characters_or_an_absurd_length_is_refused(tmp_path: Path) -> None:
    error = only_error(HEADER + '[backend]\nurl = "ws://csms.example.com/oc\\u0000pp"\n', tmp_path / "l.toml")
    assert 'backend.url = "ws://csms.example.com/oc\\u0000pp": must not contain control' in error
    error = only_error(HEADER + f'[backend]\nurl = "ws://csms.example.com/{"p" * 2000}"\n', tmp_path / "l.toml")
    assert error.endswith("backend.url = " + f'"ws://csms.example.com/{"p" * 54}...: must be at most 1024 characters '
                          "long (it has 2022)")
    error = only_error(HEADER + f'[backend]\nurl = "ws://{"h" * 300}/ocpp"\n', tmp_path / "l.toml")
    assert error.endswith("...: must name a valid host: a host name has at most 253 characters (it has 300)")
    error = only_error(HEADER + f'[backend]\nurl = "ws://{"h" * 64}.example.com/ocpp"\n', tmp_path / "l.toml")
    assert f"must name a valid host: not a host name or IP address (part '{'h' * 17}...')" in error


# --- paths: what the agent will do with them ------------------------------------------------


def test_a_state_directory_longer_than_the_system_allows_is_refused(tmp_path: Path) -> None:
    long = "/".join(["d" * 200] * 25)  # 5,024 characters
    error = only_error(HEADER + URL + f'[state]\ndirectory = "/{long}"\n', tmp_path / "l.toml")
    assert error.startswith(f'{tmp_path / "l.toml"}:6: state.directory = "/{"d" * 75}...: must be at most '
                            f"{PATH_MAX} bytes long, the operating system's limit for a path (it has 5025)")
    error = only_error(HEADER + URL + f'[state]\ndirectory = "/var/{"n" * (NAME_MAX + 1)}"\n', tmp_path / "l.toml")
    assert error.endswith(f"has a name of {NAME_MAX + 1} bytes; the operating system allows at most {NAME_MAX} "
                          "between two '/'")


def test_a_state_directory_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    error = only_error(HEADER + URL + f'[state]\ndirectory = "{tmp_path}/a-file/state"\n', tmp_path / "l.toml")
    assert error.endswith(f"state.directory = \"{tmp_path}/a-file/state\": cannot be created: {tmp_path}/a-file is "
                          "a regular file, not a directory")


def test_the_default_state_directory_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    error = only_error(HEADER + URL, tmp_path / "l.toml")
    assert error == (f'{tmp_path / "l.toml"}: state.directory = "state": exists and is a regular file, not a '
                     f"directory; name a directory (it is created if missing); it is the default (relative to this "
                     f"file: {tmp_path / 'state'})")


def test_other_paths_are_checked_for_control_characters_and_length(tmp_path: Path) -> None:
    error = only_error(HEADER + URL + '[sim]\nsocket = "bench\\u0007.sock"\n', tmp_path / "l.toml")
    assert 'sim.socket = "bench\\u0007.sock": must not contain control or invisible characters' in error
    error = only_error(HEADER + URL + '[firmware]\nsigning_ca = "ca.pem "\n', tmp_path / "l.toml")
    assert 'firmware.signing_ca = "ca.pem ": must not begin or end with blanks' in error


def test_run_exits_78_naming_the_key_when_the_state_directory_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    good = write(tmp_path, HEADER + URL + '[state]\ndirectory = "st"\n')
    # The file's own value is checked by check-config; --state-dir and $STATE_DIRECTORY only at run.
    result = ladda("run", "-c", str(good), "--state-dir", str(tmp_path / "a-file"))
    assert result.returncode == EX_CONFIG
    assert result.stderr == (f'configuration error:\n--state-dir "{tmp_path}/a-file": exists and is a regular file, '
                             "not a directory; name a directory (it is created if missing)\n")
    result = ladda("run", "-c", str(good), env={"STATE_DIRECTORY": f"{tmp_path}/a-file/sub"})
    assert result.returncode == EX_CONFIG
    assert f'$STATE_DIRECTORY "{tmp_path}/a-file/sub": cannot be created: {tmp_path}/a-file is a regular' \
        in result.stderr
    assert not (tmp_path / "st").exists()
    bad = write(tmp_path, HEADER + URL + '[state]\ndirectory = "a-file"\n')
    result = ladda("run", "-c", str(bad))
    assert result.returncode == EX_CONFIG
    assert f'{bad}:6: state.directory = "a-file": exists and is a regular file' in result.stderr


def test_run_exits_78_when_the_state_directory_cannot_be_written(tmp_path: Path) -> None:
    """sysfs takes no new directories, not even from root (whom file modes do not stop):
    the agent finds out by trying, before it opens anything."""
    path = write(tmp_path, HEADER + URL + '[state]\ndirectory = "/sys/ladda-state"\n')
    assert ladda("check-config", str(path)).returncode == 0  # check-config may run as another user
    result = ladda("run", "-c", str(path))
    assert result.returncode == EX_CONFIG
    assert 'state.directory = "/sys/ladda-state": cannot be created or written by' in result.stderr


# --- the feature profiles the charger maker offers ------------------------------------------


def test_keys_of_a_profile_not_offered_are_refused_in_the_file(tmp_path: Path) -> None:
    text = HEADER + URL + '[ocpp]\nSupportedFeatureProfiles = "Core,RemoteTrigger"\nLocalAuthListEnabled = true\n'
    assert only_error(text, tmp_path / "l.toml") == (
        f"{tmp_path / 'l.toml'}:7: ocpp.LocalAuthListEnabled = true: belongs to the LocalAuthListManagement "
        "profile, which SupportedFeatureProfiles does not offer; remove it, or add LocalAuthListManagement to "
        "SupportedFeatureProfiles")
    settings = parse_settings(text.replace("LocalAuthListEnabled = true\n", ""), tmp_path / "l.toml")
    assert settings.ocpp["SupportedFeatureProfiles"] == "Core,RemoteTrigger"
    assert "must include Core" in only_error(text.replace('"Core,', '"'), tmp_path / "l.toml")


def test_a_bench_socket_path_too_long_for_a_unix_socket_is_refused(tmp_path: Path) -> None:
    deep = f"/srv/{'s' * 100}"
    error = only_error(HEADER + URL + f'[state]\ndirectory = "{deep}"\n', tmp_path / "l.toml")
    assert error == (f'{tmp_path / "l.toml"}: sim.socket = "bench.sock": the bench\'s socket would be '
                     f"{deep}/bench.sock ({len(deep) + 11} bytes), but a Unix socket path has at most 107: use a "
                     "shorter sim.socket or state directory")
    with pytest.raises(ConfigError) as info:  # reported with the file's other problems, not after them
        parse_settings(HEADER + 'vendor = ""\n' + URL + f'[state]\ndirectory = "{deep}"\n', tmp_path / "l.toml")
    assert [e.split(": ")[1][:16] for e in info.value.errors] == ['charge_point.ven', 'sim.socket = "be']
    path = write(tmp_path, HEADER + URL + '[sim]\nsocket = "/run/b.sock"\n')  # absolute: fine wherever the state is
    assert parse_settings(path.read_text(), path).sim.socket == Path("/run/b.sock")
    result = ladda("run", "-c", str(write(tmp_path, HEADER + URL)), "--state-dir", deep)
    assert result.returncode == EX_CONFIG
    assert f"sim.socket = \"bench.sock\": the bench's socket would be {deep}/bench.sock" in result.stderr
    assert not Path(deep).exists()
