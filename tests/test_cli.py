"""The ``ladda`` command as a technician and a developer use it."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

from agent.journal import Journal
from agent.store import Database

GOOD = """
[charge_point]
id = "CP-CLI"
[backend]
url = "ws://127.0.0.1:9/ocpp"
authorization_key = "0123456789abSECRET"
[ocpp]
MeterValueSampleInterval = 30
"""


def ladda(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_check_config_prints_the_effective_configuration_with_secrets_masked(tmp_path):
    path = tmp_path / "ladda.toml"
    path.write_text(GOOD)
    result = ladda("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "SECRET" not in result.stdout + result.stderr
    assert 'authorization_key = "****"' in result.stdout
    assert "MeterValueSampleInterval = 30" in result.stdout
    assert "max_current = 32" in result.stdout  # defaults are shown too


def test_check_config_lists_every_error_and_exits_78(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('id = "CP-CLI"', 'id = "CP-CLI"\ncolour = "red"') + "[connectors]\ncount = 99\n")
    result = ladda("check-config", str(path))
    assert result.returncode == 78
    assert f"{path}:" in result.stderr
    assert "charge_point.colour" in result.stderr
    assert "connectors.count = 99" in result.stderr


def test_run_with_a_broken_configuration_exits_78_before_touching_anything(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[charge_point]\n")
    result = ladda("run", "-c", str(path), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 78
    assert "charge_point.id" in result.stderr and "backend.url" in result.stderr
    assert not (tmp_path / "state").exists()


def _journal_with_one_session(state_dir: Path) -> None:
    db = Database(state_dir)
    db.open()
    journal = Journal(db)
    local = journal.begin_transaction(1, "04A1B2C3", 1000, "2026-01-01T10:00:00.000Z", [])
    journal.end_transaction(local, 3500, "2026-01-01T10:30:00.000Z", "Local", "04A1B2C3", [])
    db.close()


def test_sessions_lists_the_local_transaction_record(tmp_path):
    _journal_with_one_session(tmp_path)
    table = ladda("sessions", "--state-dir", str(tmp_path))
    assert table.returncode == 0, table.stderr
    assert "04A1B2C3" in table.stdout and "2.500" in table.stdout and "Local" in table.stdout
    as_json = json.loads(ladda("sessions", "--state-dir", str(tmp_path), "--json").stdout)
    assert as_json[0]["meter_stop_wh"] == 3500 and as_json[0]["pending_messages"] == 2
    assert as_json[0]["meter_gaps"] == []  # measured throughout (tests/test_meter_gaps.py: one that was not)
    uid = as_json[0]["tx_uid"]  # the charger's own id: what a 2.0.1 backend knows the transaction by
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uid)
    assert uid in table.stdout
    rows = list(csv.DictReader(io.StringIO(ladda("sessions", "--state-dir", str(tmp_path), "--csv").stdout)))
    assert rows[0]["id_tag"] == "04A1B2C3"
    assert (rows[0]["meter_gaps"], rows[0]["meter_gap_s"]) == ("0", "0")


def test_sessions_shows_a_transaction_no_token_was_authorized_for(tmp_path):
    """An EV began it (OCPP 2.0.1 TxStartPoint EVConnected) and left before any card."""
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    local = journal.begin_transaction(1, None, 1000, "2026-01-01T10:00:00.000Z", [], started_by="ev")
    journal.end_transaction(local, 1000, "2026-01-01T10:01:00.000Z", "EVDisconnected", None, [])
    db.close()
    table = ladda("sessions", "--state-dir", str(tmp_path))
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("1 "))
    assert row.split()[4] == "-" and "EVDisconnected" in row  # the idTag column
    as_json = json.loads(ladda("sessions", "--state-dir", str(tmp_path), "--json").stdout)
    assert as_json[0]["id_tag"] == ""
    rows = list(csv.DictReader(io.StringIO(ladda("sessions", "--state-dir", str(tmp_path), "--csv").stdout)))
    assert rows[0]["id_tag"] == ""


def test_demo_rejects_a_bad_scenario_with_every_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('connectors = 1\n[[step]]\ndo = "fly"\n[[step]]\ndo = "plug"\nconnector = 3\n[[step]]\ndo = "tap"\n')
    result = ladda("demo", "--scenario", str(path))
    assert result.returncode == 78
    assert "step 1" in result.stderr and "'fly'" in result.stderr
    assert "step 2" in result.stderr and "connector = 3" in result.stderr
    assert "step 3" in result.stderr and "missing field 'uid'" in result.stderr


def demo_screens(out: str) -> list[list[str]]:
    """The display's boxes the demo printed, in order: each a list of its rows (padded)."""
    screens, rows = [], None
    for line in out.splitlines():
        cell = line.strip()
        if re.fullmatch(r"\+-+\+", cell):
            if rows is None:
                rows = []
            else:
                screens.append(rows)
                rows = None
        elif rows is not None:
            assert cell.startswith("|") and cell.endswith("|"), line
            rows.append(cell[1:-1])
    assert rows is None, "a box was left open"
    return screens


def demo_sessions(out: str) -> list[dict[str, str]]:
    """The ``ladda sessions`` table the demo printed at its end, one dict per row, by header.
    Cells hold no double blanks; columns are split on two or more."""
    lines = out.split("Sessions recorded by the charger (ladda sessions -c ", 1)[1].splitlines()[1:]
    header = re.split(r"\s{2,}", lines[0].strip())
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:] if line[:1].isdigit()]
    return [dict(zip(header, row)) for row in rows]


#: The demo's tariff (simulators/demo.py): its energy price by day and in the night band.
DEMO_PRICE = r"0\.(49|35) EUR/kWh"


def test_demo_plays_a_scenario_and_prints_what_the_backend_received(tmp_path):
    scenario = tmp_path / "short.toml"
    scenario.write_text(
        'title = "short"\nconnectors = 2\nmax_current = 16.0\n[ocpp]\nMeterValueSampleInterval = 1\n'
        '[[step]]\ndo = "plug"\nconnector = 2\n'
        '[[step]]\ndo = "expect"\nconnector = 2\nstatus = "Preparing"\n'
        '[[step]]\ndo = "tap"\nuid = "CAFE0001"\n'
        '[[step]]\ndo = "expect"\nconnector = 2\nstatus = "Charging"\n'
        '[[step]]\ndo = "wait"\nseconds = 3\n'
        '[[step]]\ndo = "unplug"\nconnector = 2\n'
        '[[step]]\ndo = "expect"\nconnector = 2\nstatus = "Available"\n'
    )
    result = ladda("demo", "--scenario", str(scenario), "--workdir", str(tmp_path / "work"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Transactions received by the backend" in out
    row = next(line for line in out.splitlines() if "CAFE0001" in line and line[:1].isdigit())
    assert "EVDisconnected" in row
    start, stop = (int(x) for x in row.split()[7:9])
    assert stop > start  # 11 kW for ~3 s is ~9 Wh
    assert "connector 2: Available -> Preparing" in out and "Charging" in out
    # make test installs pcscd and vsmartcard-vpcd: the card went through the agent's PC/SC driver.
    assert "cards are read by the PC/SC driver from a virtual card, through pcscd" in out
    # The driver's view: two rows a connector on the 20x4 display, each turning its pages (the
    # price, then "Tap your card"; the one-connector demos below see the price on one screen).
    screens = demo_screens(out)
    assert all(len(rows) == 4 and all(len(r) == 20 for r in rows) for rows in screens), screens
    assert [screens[0][0].rstrip(), screens[0][2].rstrip()] == ["1 Ready to use", "2 Ready to use"], screens[0]
    assert re.fullmatch(f"{DEMO_PRICE}|Tap your card", screens[0][1].rstrip()), screens[0]
    assert any(rows[2].rstrip() == "2 Charging" for rows in screens), screens
    # The charger's own record, with the same energy as the backend's and a cost under the tariff.
    (session,) = demo_sessions(out)
    assert (session["idTag"], session["conn"], session["reason"]) == ("CAFE0001", "2", "EVDisconnected")
    assert session["kWh"] == row.split()[9]  # the ledger's kWh column
    assert re.fullmatch(r"\d+\.\d\d EUR", session["cost"]) and session["charging"].endswith(" s")


def test_sessions_gives_each_sessions_times_and_its_cost_under_the_tariff(tmp_path):
    """Charging 10:00-10:30 (6 kWh), idle (SuspendedEV) to 10:50 with 10 min of grace,
    the charger's own suspension (SuspendedEVSE) 10:50-11:00, neither; ended at 11:00."""
    state = tmp_path / "state"
    db = Database(state)
    db.open()
    journal = Journal(db)
    local = journal.begin_transaction(1, "04A1B2C3", 1000, "2026-01-01T10:00:00.000Z", [])
    journal.record_charging_state(local, "2026-01-01T10:00:00.000Z", "Charging", 1000)
    journal.record_charging_state(local, "2026-01-01T10:30:00.000Z", "SuspendedEV", 7000)
    journal.record_charging_state(local, "2026-01-01T10:50:00.000Z", "SuspendedEVSE", 7000)
    journal.end_transaction(local, 7000, "2026-01-01T11:00:00.000Z", "EVDisconnected", "04A1B2C3", [])
    running = journal.begin_transaction(2, "04D5E6F7", 500, "2026-01-01T10:00:00.000Z", [])
    journal.record_charging_state(running, "2026-01-01T10:00:00.000Z", "Charging", 500)
    journal.checkpoint(running, 1500, "2026-01-01T10:06:00.000Z")
    db.close()
    config = tmp_path / "ladda.toml"
    config.write_text(GOOD + f'[state]\ndirectory = "{state}"\n[tariff]\ncurrency = "SEK"\nper_kwh = "3.499"\n'
                      'per_hour_idle = 60\nidle_grace = 10\nsession_fee = 5\n')
    # 6 kWh x 3.499 = 20.994; 10 min idle billed x 60/h = 10; fee 5: 35.994, shown 35.99.
    table = ladda("sessions", "-c", str(config))
    assert table.returncode == 0, table.stderr
    header, first, second = table.stdout.splitlines()[:3]
    assert "plugged" in header and "charging" in header and "idle" in header and "cost" in header
    assert "1 h 0 min" in first and "30 min 0 s" in first and "20 min 0 s" in first and "35.99 SEK" in first
    # Up to its latest reading: 1 kWh x 3.499 + the fee = 8.499, charging all along.
    assert "running" in second and second.count("6 min 0 s") == 2 and "8.50 SEK" in second
    as_json = json.loads(ladda("sessions", "-c", str(config), "--json").stdout)
    done = as_json[0]
    assert (done["energy_wh"], done["plugged_s"], done["charging_s"], done["idle_s"]) == (6000, 3600, 1800, 1200)
    assert done["cost"] == {"currency": "SEK", "total": "35.99", "tax": "0.00", "energy": "20.994",
                            "charging_time": "0", "idle": "10", "fee": "5", "idle_billed_s": 600, "uncertain": False}
    assert done["times_uncertain"] is False
    rows = list(csv.DictReader(io.StringIO(ladda("sessions", "-c", str(config), "--csv").stdout)))
    assert (rows[0]["cost"], rows[0]["currency"], rows[0]["idle_s"], rows[0]["charging_s"]) == ("35.99", "SEK",
                                                                                                "1200.0", "1800.0")
    # The state directory alone: times, but no tariff read, so no cost.
    bare = json.loads(ladda("sessions", "--state-dir", str(state), "--json").stdout)
    assert bare[0]["cost"] is None and bare[0]["idle_s"] == 1200
    assert "35.99" not in ladda("sessions", "--state-dir", str(state)).stdout


def test_sessions_flags_a_session_whose_time_a_process_never_knew(tmp_path):
    """Begun in 1970 by a process that died before it learnt the time, stopped by one that
    knew it: the table, --json and --csv say the times are uncertain, and no decades of
    charging are counted."""
    state = tmp_path / "state"
    db = Database(state)
    db.open()
    db.write("INSERT INTO transactions(connector, id_tag, meter_start_wh, started_at, clock) "
             "VALUES (1, 'AA', 0, '1970-01-01T00:01:00.000Z', 'unsynchronised:dead')")
    local = db.read("SELECT local_id FROM transactions")[0][0]
    db.write("INSERT INTO charging_states(local_tx, at, state, wh, clock) "
             "VALUES (?, '1970-01-01T00:01:00.000Z', 'Charging', 0, 'unsynchronised:dead')", (local,))
    journal = Journal(db)
    journal.end_transaction(local, 2000, "2026-12-22T08:00:00.000Z", "Local", "AA", [])
    db.close()
    table = ladda("sessions", "--state-dir", str(state)).stdout
    assert "0 s ?" in table and "times marked ? (local 1)" in table, table
    as_json = json.loads(ladda("sessions", "--state-dir", str(state), "--json").stdout)
    assert as_json[0]["times_uncertain"] is True and as_json[0]["charging_s"] == 0
    assert as_json[0]["energy_wh"] == 2000
    rows = list(csv.DictReader(io.StringIO(ladda("sessions", "--state-dir", str(state), "--csv").stdout)))
    assert rows[0]["times_uncertain"] == "True"


def test_sessions_without_a_database_says_where_it_looked(tmp_path):
    result = ladda("sessions", "--state-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert str(tmp_path / "nowhere" / "ladda.sqlite3") in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_run_with_an_unusable_state_directory_says_so_and_exits_78(tmp_path):
    config = tmp_path / "ladda.toml"
    config.write_text('[charge_point]\nid = "X"\n[backend]\nurl = "ws://127.0.0.1:9/ocpp"\n')
    (tmp_path / "blocker").write_text("a file where the state directory should be")
    result = ladda("run", "-c", str(config), "--state-dir", str(tmp_path / "blocker" / "state"))
    assert result.returncode == 78  # no restart can fix it: systemd must not loop
    assert "--state-dir" in result.stderr
    assert f"{tmp_path / 'blocker'} is a regular file, not a directory" in result.stderr


def test_run_with_hardware_this_machine_cannot_have_exits_78_and_names_it(tmp_path):
    """The example configuration names a Raspberry Pi's GPIO (lgpio). Where that library is
    missing no restart can help: exit 78, which the unit's RestartPreventExitStatus honours."""
    # lgpio is the [pi] extra, not installed by make test.
    example = Path(__file__).resolve().parents[1] / "config" / "example.toml"
    result = ladda("run", "-c", str(example), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 78, result.stdout + result.stderr
    assert "pin factory 'lgpio' needs a library that is missing" in result.stdout + result.stderr


def test_limits_shows_each_connectors_limit_its_source_and_the_day_ahead(tmp_path):
    import asyncio
    from datetime import datetime, timedelta, timezone

    from agent.charging_profiles import Electrical, Kind, Period, Profile, ProfileLimits, Purpose, RateUnit, Schedule
    from agent.limits import LimitCore
    from agent.store import ChargerState

    state = tmp_path / "state"
    db = Database(state)
    db.open()
    core = LimitCore(numbers=[1, 2], electrical=Electrical(), max_current=32.0, state=ChargerState(db),
                     limits=lambda: ProfileLimits(10, frozenset(RateUnit), 48, 32), publish=lambda n, a: None)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cap = Profile(4, 2, Purpose.TX_DEFAULT, 3, Kind.ABSOLUTE,
                  Schedule(RateUnit.AMPS, (Period(0, 16.0), Period(3600, 10.0)), duration_s=7200,
                           start=now - timedelta(minutes=1)))
    asyncio.run(core.install(cap))
    db.close()
    config = tmp_path / "ladda.toml"
    config.write_text(GOOD + "[connectors]\ncount = 2\n")
    result = ladda("limits", "-c", str(config), "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "1 charging profile(s) installed." in lines
    assert "Connector 1: limit 32 A, from connector maximum 32 A." in lines
    assert "Connector 2: limit 16 A, from charging profile 4 (TxDefaultProfile, stack level 3)." in lines
    schedule = [line for line in lines if line.startswith("    ")]
    assert [line.split("  ")[-1] for line in schedule] == ["16 A", "10 A", "no profile (connector maximum)"]
    assert "not running" in result.stdout  # no live agent: the site and cable are not claimed


def test_limits_without_a_database_says_where_it_looked(tmp_path):
    config = tmp_path / "ladda.toml"
    config.write_text(GOOD)
    result = ladda("limits", "-c", str(config), "--state-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert str(tmp_path / "nowhere" / "ladda.sqlite3") in result.stderr


def test_demo_plays_the_smart_charging_scenario(tmp_path):
    """docs/smart-charging.md: the backend caps a charging car at 10 A and the meter shows
    the power fall; a 0 A profile suspends it without ending the transaction."""
    scenario = Path(__file__).resolve().parents[1] / "config" / "demo-smart-charging.toml"
    result = ladda("demo", "--scenario", str(scenario), "--workdir", str(tmp_path / "work"), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the meter reads 22.08 kW" in result.stdout and "the meter reads 6.90 kW" in result.stdout
    assert "connector 1: Available -> Preparing -> Charging -> SuspendedEVSE -> Charging -> Finishing" in result.stdout
    ledger = result.stdout.split("Sessions recorded by the charger", 1)[0]
    ledger_lines = [line for line in ledger.splitlines() if line.startswith("1 ")]
    assert len(ledger_lines) == 1 and "Local" in ledger_lines[0]  # one transaction, ended by the card
    assert_final_cost_is_the_records(result.stdout)


def assert_final_cost_is_the_records(out: str) -> None:
    """The driver saw the price before the start, the running cost while charging, and at
    the end the same cost and energy the charger's record (``ladda sessions``) has."""
    screens = [[r.rstrip() for r in rows] for rows in demo_screens(out)]
    assert screens[0][0] == "Ready to use" and re.fullmatch(DEMO_PRICE, screens[0][1]), screens[0]
    assert any(rows[0] == "Charging" and re.fullmatch(r"Cost \d+\.\d\d EUR", rows[2]) for rows in screens), screens
    final = screens[-1]
    assert final[0] == "Finished", screens
    (session,) = demo_sessions(out)
    assert final[2] == f"Total {session['cost']}", (final, session)
    assert final[1] == f"{float(session['kWh']):.2f} kWh" and session["stopped"] != "running"
    assert float(session["kWh"]) > 0 and session["cost"] != "0.00 EUR"


def test_demo_under_ocpp_2_0_1_shows_the_driver_the_cost_the_record_has(tmp_path):
    """``make demo OCPP=2.0.1``: the default scenario, its screens and its sessions table."""
    result = ladda("demo", "--ocpp", "2.0.1", "--workdir", str(tmp_path / "work"), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "connector 1: Available -> Occupied -> Available" in out
    assert any(rows[0].rstrip() == "Car paused" for rows in demo_screens(out)), out
    (session,) = demo_sessions(out)
    assert session["reason"] == "Local" and session["idle"].endswith(" s")
    assert_final_cost_is_the_records(out)


TLS_WITHOUT_CA = """
[charge_point]
id = "CP-CLI"
[backend]
url = "wss://csms.example.com/ocpp"
security_profile = 2
authorization_key = "0123456789abSECRET"
"""


def _install_root(state_dir: Path) -> None:
    from agent.certificates import CSMS_ROOT, CertificateStore
    from tests.cert_factory import make_certificate

    store = CertificateStore(state_dir / "certificates", max_entries=lambda: 5)
    store.load()
    assert store.install(CSMS_ROOT, make_certificate("backend root").pem).status.value == "Accepted"


def test_check_config_looks_for_installed_roots_in_the_state_directory_systemd_gives(tmp_path):
    """Under systemd (StateDirectory= sets $STATE_DIRECTORY) the backend's installed CSMS root
    lives there, not in the file's [state] directory: a file without ca_file is then fine."""
    import os

    etc, var = tmp_path / "etc", tmp_path / "var-lib-ladda"
    etc.mkdir()
    _install_root(var)
    path = etc / "ladda.toml"
    path.write_text(TLS_WITHOUT_CA)
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    plain = subprocess.run([sys.executable, "-m", "agent", "check-config", str(path)], capture_output=True,
                           text=True, env=env, timeout=120)
    assert plain.returncode == 78 and "backend.ca_file: required with security profile 2" in plain.stderr
    systemd = subprocess.run([sys.executable, "-m", "agent", "check-config", str(path)], capture_output=True,
                             text=True, env={**env, "STATE_DIRECTORY": str(var)}, timeout=120)
    assert systemd.returncode == 0, systemd.stderr
    option = ladda("check-config", "--state-dir", str(var), str(path))
    assert option.returncode == 0, option.stderr


def test_check_config_says_when_it_cannot_read_the_installed_roots(tmp_path):
    """A directory it cannot read is said so, not reported as a missing ca_file."""
    state = tmp_path / "state"
    (state / "certificates").mkdir(parents=True)
    (state / "certificates" / "CSMSRootCertificate").write_text("not a directory")  # unreadable even to root
    path = tmp_path / "ladda.toml"
    path.write_text(TLS_WITHOUT_CA)
    result = ladda("check-config", "--state-dir", str(state), str(path))
    assert result.returncode == 78
    assert f"cannot read {state}/certificates/CSMSRootCertificate: not a directory" in result.stderr
    assert "required with security profile" not in result.stderr
