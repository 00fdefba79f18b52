"""``ladda-sim`` verbs drive a running bench, as a person at a terminal would."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def running(reader: str) -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="ld-cli-"))
    ready = workdir / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "bench", "--connectors", "2", "--hardware-socket", str(workdir / "hw.sock"),
         "--control", str(workdir / "ctl.sock"), "--ready-file", str(ready), "--reader", reader],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, f"bench did not start: {proc.communicate()[1]}"
        time.sleep(0.05)
    try:
        yield workdir / "ctl.sock"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def bench() -> Iterator[Path]:
    with running("socket") as control:
        yield control


def sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulators", *args], capture_output=True, text=True, timeout=30)


def test_verbs_change_what_the_bench_reports(bench):
    assert sim("plug", "--connector", "2", "--max-current", "16", "--socket", str(bench)).returncode == 0
    assert sim("pause", "--connector", "2", "--socket", str(bench)).returncode == 0
    status = json.loads(sim("status", "--socket", str(bench)).stdout)
    second = status["connectors"][1]
    assert second["plugged"] is True and second["ev_max_current"] == 16 and second["paused"] is True
    tap = sim("tap", "04A1B2C3", "--socket", str(bench))
    assert tap.returncode == 0 and json.loads(tap.stdout)["delivered"] == 0  # no agent connected


def test_fault_verbs_inject_and_clear_faults_on_the_wired_bench(bench):
    socket = ("--socket", str(bench))
    for args in (("rcd", "--connector", "2"), ("estop",), ("contactor-fault", "welded"), ("diode",)):
        assert sim(*args, *socket).returncode == 0, args
    status = json.loads(sim("status", *socket).stdout)
    first, second = status["connectors"]
    assert (second["rcd_tripped"], status["estop"], first["contactor_fault"], first["diode_ok"]) == (
        True, True, "welded", False)
    for args in (("rcd", "--connector", "2", "--reset"), ("estop", "--release"), ("contactor-fault", "none"),
                 ("diode", "--repair")):
        assert sim(*args, *socket).returncode == 0, args
    status = json.loads(sim("status", *socket).stdout)
    first, second = status["connectors"]
    assert (second["rcd_tripped"], status["estop"], first["contactor_fault"], first["diode_ok"]) == (
        False, False, None, True)


def test_display_verbs_read_the_screen_and_unplug_the_display(bench):
    socket = ("--socket", str(bench))
    screen = json.loads(sim("screen", *socket).stdout)
    assert screen["lines"] == [" " * 20] * 4 and screen["plugged"] is True
    assert sim("display", *socket).returncode == 0
    assert json.loads(sim("screen", *socket).stdout)["plugged"] is False
    assert sim("display", "--plug", *socket).returncode == 0
    assert json.loads(sim("screen", *socket).stdout)["plugged"] is True


def test_reader_verbs_unplug_and_replug_the_pcsc_reader_and_restart_pcscd():
    with running("pcsc") as control:
        socket = ("--socket", str(control))
        assert sim("reader", *socket).returncode == 0
        assert json.loads(sim("status", *socket).stdout)["reader_plugged"] is False
        assert sim("reader", "--plug", *socket).returncode == 0
        assert sim("pcscd-restart", *socket).returncode == 0
        status = json.loads(sim("status", *socket).stdout)
        assert (status["reader"], status["reader_plugged"]) == ("pcsc", True)


def test_a_refused_command_says_why_and_fails(bench):
    result = sim("plug", "--connector", "7", "--socket", str(bench))
    assert result.returncode == 1
    assert "connector" in result.stderr and "7" in result.stderr


def test_no_bench_running_is_a_clear_error(tmp_path):
    result = sim("status", "--socket", str(tmp_path / "absent.sock"))
    assert result.returncode == 1 and "absent.sock" in result.stderr


def test_the_installed_ladda_sim_script_works(bench):
    script = shutil.which("ladda-sim", path=str(Path(sys.executable).parent))
    assert script is not None, "ladda-sim is not installed next to this Python"
    result = subprocess.run([script, "status", "--socket", str(bench)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and json.loads(result.stdout)["connectors"][0]["connector"] == 1
