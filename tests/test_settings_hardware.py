"""The hardware sections: keys by driver, and the checks across keys a technician needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import ConfigError, parse_settings
from agent.settings.hardware import GpioContactorSettings, ModbusMeterSettings, PcscReaderSettings

SOURCE = Path("/etc/ladda/ladda.toml")
HEAD = '[charge_point]\nid = "CP"\n[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\n'


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(HEAD + text, SOURCE)
    return [line.split(": ", 1)[1] for line in info.value.errors]


def test_a_driver_brings_its_own_keys():
    s = parse_settings(HEAD + '[connectors]\ncount = 2\n[meter]\ndriver = "modbus"\nmodel = "sdm630"\n'
                       'port = "/dev/ttyAMA0"\nunit_ids = [1, 2]\nbaudrate = 19200\n'
                       '[reader]\ndriver = "pcsc"\nuid_format = "decimal-reversed"\n'
                       '[contactor]\ndriver = "gpio"\npins = [17, 18]\nfeedback_pins = [27, 22]\n', SOURCE)
    assert isinstance(s.meter, ModbusMeterSettings) and s.meter.unit_ids == (1, 2) and s.meter.baudrate == 19200
    assert isinstance(s.reader, PcscReaderSettings) and s.reader.uid_format == "decimal-reversed"
    assert isinstance(s.contactor, GpioContactorSettings) and s.contactor.feedback_pins == (27, 22)


def test_per_connector_arrays_must_match_the_connector_count():
    errors = errors_of('[connectors]\ncount = 2\n[meter]\ndriver = "modbus"\nmodel = "sdm630"\nunit_ids = [1]\n'
                       '[contactor]\ndriver = "gpio"\npins = [17, 18]\nfeedback_pins = [27]\n')
    assert 'meter.unit_ids: needs one per connector (2); it has 1' in errors
    assert 'contactor.feedback_pins: needs one per connector (2), or none ([]); it has 1' in errors


def test_a_default_array_that_does_not_fit_says_so():
    errors = errors_of('[connectors]\ncount = 2\n[contactor]\ndriver = "gpio"\npins = [17, 18]\n'
                       '[lock]\ndriver = "gpio"\nlock_pins = [5, 13]\nfeedback_pins = [6, 19]\n'
                       '[pilot]\ndriver = "ads1115"\n')
    assert "pilot.positive_inputs: needs one per connector (2); it has 1 (the default [0]: set it)" in errors


def test_a_gpio_pin_has_one_job():
    errors = errors_of('[contactor]\ndriver = "gpio"\npins = [17]\nfeedback_pins = [27]\n'
                       '[safety]\ndriver = "gpio"\nrcd_pins = [27]\nestop_pin = 17\n')
    assert "safety.rcd_pins: GPIO 27 is already used by contactor.feedback_pins; each pin has one job" in errors
    assert "safety.estop_pin: GPIO 17 is already used by contactor.pins; each pin has one job" in errors


def test_modbus_tcp_needs_a_host_and_the_model_must_exist():
    errors = errors_of('[meter]\ndriver = "modbus"\nmodel = "sdm6300"\ntransport = "tcp"\n')
    assert 'meter.host: required with transport = "tcp"; e.g. host = "192.168.1.50"' in errors
    assert any(e.startswith('meter.model = "sdm6300": ') and "unknown meter model" in e and "sdm630" in e
               for e in errors)


def test_a_model_file_is_found_relative_to_the_configuration(tmp_path):
    template = Path(__file__).resolve().parents[1] / "config" / "meters" / "sdm120.toml"
    (tmp_path / "meters").mkdir()
    (tmp_path / "meters" / "mine.toml").write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    s = parse_settings(HEAD + '[meter]\ndriver = "modbus"\nmodel = "meters/mine.toml"\n', tmp_path / "ladda.toml")
    assert s.meter.model == "meters/mine.toml"  # type: ignore[union-attr]


def test_a_key_of_another_driver_names_the_driver_it_belongs_to():
    assert errors_of('[reader]\ndriver = "none"\nuid_format = "hex"\n') == [
        'reader.uid_format: not a key of driver "none"; it belongs to driver "pcsc" (known keys now: driver)'
    ]


def test_the_bench_configuration_in_the_readme_loads():
    from agent.settings import load_settings

    s = load_settings(Path(__file__).resolve().parents[1] / "config" / "bench.toml")
    assert isinstance(s.meter, ModbusMeterSettings) and (s.meter.host, s.meter.tcp_port) == ("127.0.0.1", 5020)
    assert s.backend.url == "ws://127.0.0.1:9001/ocpp"
    # Its hardware sections are the bench's wiring, key for key (the bench drives these pins).
    from simulators.bench_wiring import BenchWiring

    for section, keys in BenchWiring.for_connectors(1).agent_sections(pwm_root=Path("pwm"), lock=False).items():
        loaded = getattr(s, section)
        for key, value in keys.items():
            got = getattr(loaded, key)
            assert (list(got) if isinstance(got, tuple) else got) == (Path(value) if key == "pwm_root" else value), \
                f"{section}.{key}"


def test_a_motor_lock_must_wait_at_least_its_pulse():
    errors = errors_of('[lock]\ndriver = "gpio"\nunlock_pins = [13]\npulse = 2.0\ntimeout = 1.0\n')
    assert errors == ["lock.timeout: must not be shorter than lock.pulse (2 s) for a motor lock"]
