"""The technician's TOML configuration file: schema, loading, validation, rendering.

The file is read-only to the agent; values the backend changes at run time live in
the state database instead.
"""

from agent.settings.loader import ConfigError, check_run_state_dir, load_settings, parse_settings, resolve_state_dir
from agent.settings.render import render_settings
from agent.settings.schema import (
    SECRET_KEYS,
    BackendSettings,
    ChargePointSettings,
    ConnectorSettings,
    ContactorSettings,
    LockSettings,
    FirmwareSettings,
    LoggingSettings,
    MeterSettings,
    PilotSettings,
    ReaderSettings,
    Settings,
    SimSettings,
    StateSettings,
    SystemSettings,
)
from agent.settings.tariff import TariffSettings

#: Exit status for an unusable configuration (sysexits.h EX_CONFIG).
EX_CONFIG = 78

__all__ = [
    "EX_CONFIG",
    "SECRET_KEYS",
    "BackendSettings",
    "ChargePointSettings",
    "ConfigError",
    "ConnectorSettings",
    "ContactorSettings",
    "LockSettings",
    "FirmwareSettings",
    "LoggingSettings",
    "MeterSettings",
    "PilotSettings",
    "ReaderSettings",
    "Settings",
    "SimSettings",
    "StateSettings",
    "SystemSettings",
    "TariffSettings",
    "load_settings",
    "parse_settings",
    "check_run_state_dir",
    "render_settings",
    "resolve_state_dir",
]
