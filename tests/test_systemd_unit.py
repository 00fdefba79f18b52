"""systemd/ladda.service: valid for systemd, hardened to the rating promised, and saying
what the agent's notify and watchdog code expects.

``systemd-analyze`` runs offline on the unit file (no systemd needs to be running).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "ladda.service"
#: The worst `systemd-analyze security` exposure we accept (0 = locked down, 10 = exposed).
MAX_EXPOSURE = 2.5


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    assert tool is not None, "systemd-analyze is missing: apt-get install systemd"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)


def directives(section: str) -> dict[str, list[str]]:
    """Each key of ``section`` with its values in order (keys may repeat)."""
    found: dict[str, list[str]] = {}
    current = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section:
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("name", ["ladda.service", "ladda-update.service", "ladda-update.path"])
def test_systemd_analyze_verify_finds_nothing_wrong_with_the_units(tmp_path: Path, name: str) -> None:
    # verify checks that ExecStart's program exists: point it at this checkout's virtualenv.
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "ladda").exists(), bin_dir
    for unit in UNIT.parent.glob("ladda*"):
        if unit.suffix in (".service", ".path"):
            (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/ladda/current/bin", str(bin_dir)))
    result = analyze("verify", str(tmp_path / name))
    assert (result.returncode, result.stderr.strip()) == (0, ""), result.stderr


def test_the_security_rating_is_at_most_2_5(capsys: pytest.CaptureFixture[str]) -> None:
    result = analyze("security", "--offline=yes", str(UNIT))
    match = re.search(r"Overall exposure level for ladda\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    with capsys.disabled():
        print(f"\nsystemd-analyze security: ladda.service exposure {exposure} (at most {MAX_EXPOSURE})")
    assert exposure <= MAX_EXPOSURE, result.stdout


def test_the_unit_runs_the_agent_as_a_notify_service_with_a_watchdog() -> None:
    service = directives("Service")
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert int(service["WatchdogSec"][0]) >= 10  # the agent pets it every half interval
    assert service["Restart"] == ["always"]
    assert service["RestartPreventExitStatus"] == ["78"]  # EX_CONFIG: a broken config is not retried
    assert service["User"] == ["ladda"] and service["NoNewPrivileges"] == ["yes"]
    assert service["StateDirectory"] == ["ladda"] and service["ConfigurationDirectory"] == ["ladda"]
    assert service["WorkingDirectory"] == ["/var/lib/ladda"] and service["Environment"] == ["LG_WD=/var/lib/ladda"]
    assert service["ExecStart"] == ["/opt/ladda/current/bin/ladda run -c /etc/ladda/ladda.toml"]
    allowed = {value.split()[0] for value in service["DeviceAllow"]}
    assert {"char-ttyS", "char-ttyAMA", "char-ttyUSB", "char-i2c", "char-gpiochip"} <= allowed
    assert service["DevicePolicy"] == ["closed"]
