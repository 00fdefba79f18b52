"""The agent's TOML the harness writes: sections a test (or the demo) passes in are read
back by the agent's own settings loader exactly as given, tables and arrays of tables too."""

from __future__ import annotations

import tomllib
from pathlib import Path

from agent.settings.loader import load_settings
from simulators.harness import Csms, Stack, toml_value


def test_toml_value_writes_inline_tables_lists_and_scalars_tomllib_reads_back() -> None:
    value = {"bands": [{"start": "22:00", "end": "06:00", "per_kwh": "0.35"}], "grace": 30, "on": True,
             "name": 'a "quoted" \\ name', "ratio": 0.5, "empty": []}
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_a_tariff_with_a_night_band_reaches_the_agents_settings(tmp_path: Path) -> None:
    """The demo's way of giving its charger a tariff: ``sections``, bands as a list of tables."""
    tariff = {"currency": "EUR", "per_kwh": "0.49", "per_hour_idle": "6.00", "idle_grace": 30,
              "bands": [{"start": "22:00", "end": "06:00", "per_kwh": "0.35"}]}
    stack = Stack(tmp_path, Csms(tmp_path / "csms"), wired=False, meter="sim", sections={"tariff": tariff},
                  backend_url="ws://127.0.0.1:9/ocpp")
    stack.write_config()
    settings = load_settings(str(stack.config_path), None, {})
    assert settings.tariff is not None
    loaded = settings.tariff.tariff()
    assert str(loaded.per_kwh) == "0.49" and loaded.idle_grace_minutes == 30
    (band,) = loaded.bands
    assert str(band.per_kwh) == "0.35"
