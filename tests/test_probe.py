"""``ladda probe``: what a technician sees when checking the wiring, device by device."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from simulators.modbus_meter import MeterSimulator
from simulators.sysfs_pwm import FakePwmTree


def config(tmp_path: Path, meter: str) -> Path:
    path = tmp_path / "ladda.toml"
    path.write_text(
        '[charge_point]\nid = "CP-PROBE"\n[backend]\nurl = "ws://127.0.0.1:9/ocpp"\n'
        f"[connectors]\ncount = 2\n[meter]\n{meter}\n",
        encoding="utf-8",
    )
    return path


async def probe(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "probe", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_probe_meter_prints_one_reading_per_connector(tmp_path):
    async with MeterSimulator("sdm630", units=[3, 4]) as sim:
        port = await sim.start_tcp()
        sim[3].values.energy_wh, sim[3].values.power_w = 1_234_567.0, 7360.0
        sim[3].values.currents = [10.0, 10.5, 11.0]
        sim[4].values.energy_wh = 42_000.0
        path = config(tmp_path, f'driver = "modbus"\nmodel = "sdm630"\ntransport = "tcp"\nhost = "127.0.0.1"\n'
                                f"tcp_port = {port}\nunit_ids = [3, 4]")
        code, out, err = await probe("meter", "-c", str(path))
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].split() == ["conn", "meter", "energy", "kWh", "power", "W", "current", "A", "voltage", "V"]
    first, second = lines[1].split(), lines[2].split()
    assert first[0] == "1" and "1234.567" in first and "7360.0" in first and first[-6:-3] == ["10.00", "10.50", "11.00"]
    assert second[0] == "2" and "42.000" in second
    assert f"unit 3 on tcp 127.0.0.1:{port}" in lines[1]


async def test_probe_meter_names_the_silent_meter_its_unit_and_address(tmp_path):
    async with MeterSimulator("sdm630", units=[1, 2]) as sim:
        port = await sim.start_tcp()
        sim[2].silent = True
        path = config(tmp_path, f'driver = "modbus"\nmodel = "sdm630"\ntransport = "tcp"\nhost = "127.0.0.1"\n'
                                f"tcp_port = {port}\nunit_ids = [1, 2]\ntimeout = 0.2")
        code, out, err = await probe("meter", "-c", str(path))
    assert code == 1, out + err
    good, bad = out.splitlines()[1:3]
    assert "FAILED" not in good
    assert "FAILED" in bad and f"unit 2 on tcp 127.0.0.1:{port}" in bad and "no reply" in bad.lower()


async def test_probe_meter_with_nothing_listening_says_it_cannot_connect(tmp_path):
    path = config(tmp_path, 'driver = "modbus"\nmodel = "em340"\ntransport = "tcp"\nhost = "127.0.0.1"\n'
                            "tcp_port = 9\nunit_ids = [1, 2]\ntimeout = 0.2")
    code, out, _ = await probe("meter", "-c", str(path))
    assert code == 1
    assert all("FAILED" in line and "127.0.0.1:9" in line for line in out.splitlines()[1:3])


async def test_probe_with_a_broken_configuration_exits_78(tmp_path):
    path = config(tmp_path, 'driver = "modbus"\nmodel = "sdm999"\ntransport = "tcp"\nunit_ids = [1]')
    code, out, err = await probe("meter", "-c", str(path))
    assert code == 78
    assert "meter.model" in err and "sdm999" in err and "meter.host" in err and "meter.unit_ids" in err


GPIO = """[contactor]
driver = "gpio"
pins = [17]
feedback_pins = [27]
feedback_timeout = 0.2
[safety]
driver = "gpio"
rcd_pins = [22]
estop_pin = 23
[gpio]
pin_factory = "mock"
"""


async def test_probe_gpio_shows_each_input_and_contactor(tmp_path):
    path = config(tmp_path, 'driver = "sim"').with_name("ladda.toml")
    path.write_text(path.read_text().replace("count = 2", "count = 1") + GPIO, encoding="utf-8")
    code, out, err = await probe("gpio", "-c", str(path))
    assert code == 0, out + err
    # Mock pins idle low: the RCD (trips high) is fine; a normally-closed e-stop reads pressed.
    assert out.splitlines() == [
        "RCD connector 1 (GPIO22): ok",
        "emergency stop (GPIO23): PRESSED (or its wire is cut)",
        "contactor 1: at rest, feedback agrees",
    ]


async def test_probe_gpio_toggle_says_which_contactor_did_not_follow(tmp_path):
    path = config(tmp_path, 'driver = "sim"')
    path.write_text(path.read_text().replace("count = 2", "count = 1") + GPIO, encoding="utf-8")
    code, out, _ = await probe("gpio", "--toggle", "-c", str(path))
    assert code == 1
    assert "contactor 1: FAILED: fails to close" in out and "coil GPIO17, mirror GPIO27" in out


async def test_probe_pilot_says_how_to_enable_hardware_pwm(tmp_path):
    path = config(tmp_path, 'driver = "sim"')
    path.write_text(path.read_text().replace("count = 2", "count = 1")
                    + f'[pilot]\ndriver = "ads1115"\npwm_root = "{tmp_path}/none"\n', encoding="utf-8")
    code, out, _ = await probe("pilot", "-c", str(path))
    assert code == 1
    assert out.startswith("pilot 1: FAILED: ") and "dtoverlay=pwm-2chan" in out


async def test_probe_pilot_names_the_i2c_bus_it_cannot_reach(tmp_path):
    FakePwmTree(tmp_path / "pwm")
    path = config(tmp_path, 'driver = "sim"')
    path.write_text(path.read_text().replace("count = 2", "count = 1")
                    + f'[pilot]\ndriver = "ads1115"\ni2c_bus = 29\npwm_root = "{tmp_path}/pwm"\n', encoding="utf-8")
    code, out, _ = await probe("pilot", "-c", str(path))
    assert code == 1
    assert out.startswith("pilot 1: FAILED: ") and "/dev/i2c-29" in out


async def test_probe_rfid_prints_each_card_tapped_on_a_real_pcscd(tmp_path):
    from simulators.pcscd import PcscDaemon, PcscdError
    from simulators.virtual_card import VirtualCard

    daemon = PcscDaemon()
    try:
        daemon.ensure()
    except PcscdError as exc:
        pytest.fail(f"this test needs a real pcscd with the vpcd virtual reader: {exc}", pytrace=False)
    try:
        path = config(tmp_path, 'driver = "sim"')
        path.write_text(path.read_text() + '[reader]\ndriver = "pcsc"\nuid_format = "hex-reversed"\n'
                        "poll_interval = 0.05\n", encoding="utf-8")
        async with VirtualCard() as card:
            # The card stays on the reader until the probe has read it, however long it takes to start.
            await card.insert("04A1B2C3D4E5F6")
            code, out, err = await probe("rfid", "--count", "1", "--timeout", "20", "-c", str(path))
    finally:
        daemon.close()
    assert code == 0, out + err
    assert out.splitlines()[-1] == "card F6E5D4C3B2A104"


def display_config(tmp_path: Path, hardware_socket: Path, display: str) -> Path:
    path = tmp_path / "ladda.toml"
    path.write_text(
        '[charge_point]\nid = "CP-PROBE"\n[backend]\nurl = "ws://127.0.0.1:9/ocpp"\n'
        f'[display]\n{display}\n[sim]\nsocket = "{hardware_socket}"\n[state]\ndirectory = "{tmp_path}"\n',
        encoding="utf-8",
    )
    return path


async def test_probe_display_lights_every_cell_then_shows_its_size_and_address(tmp_path):
    from simulators.control import ControlClient
    from tests.simulators.test_bench import running_bench

    async with running_bench() as bench:
        control = ControlClient(bench.control)
        try:
            cfg = display_config(tmp_path, bench.hardware, 'driver = "hd44780"\ni2c_transport = "bench"\n')
            probing = asyncio.create_task(probe("display", "--hold", "1", "-c", str(cfg)))
            # Every cell, with the ROM's full block, while the probe holds it.
            await control.request("wait_for", field="screen", value="\n".join(["\u2588" * 20] * 4), timeout=20)
            code, out, err = await probing
            assert code == 0, out + err
            assert "display at 0x27 on the bench's I2C bus" in out and "every cell lit (20x4) for 1 s" in out
            assert "|20x4 at 0x27        |" in out
            screen = await control.request("screen")  # the words stay for the technician to read
            assert screen["lines"] == ["20x4 at 0x27".ljust(20), "bench I2C".ljust(20),
                                       "Ladda display test".ljust(20), "wiring pcf8574".ljust(20)]
            assert screen["backlight"] is True

            await control.request("display", plugged=False)
            code, out, _ = await probe("display", "--hold", "0", "-c", str(cfg))
            assert code == 1
            assert "display at 0x27 on the bench's I2C bus" in out and "FAILED: no answer (check the wiring" in out
        finally:
            await control.close()


async def test_probe_display_without_a_display_says_so(tmp_path):
    code, out, _ = await probe("display", "-c", str(display_config(tmp_path, tmp_path / "b.sock", 'driver = "none"')))
    assert code == 1 and 'display.driver is "none": nothing to probe on this machine' in out
