"""The live OCPP 1.6 configuration: defaults, then the TOML file, then the backend's changes.

Values the backend changes are persisted in the state database (they outlive
reboots and are never written to the technician's file); the TOML ``[ocpp]`` table only
gives initial values. Listeners are told about each accepted change so that the
session policy, the heartbeat and the meter sampling follow it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog

from ..store import ChargerState
from .keys import KEYS, KeySpec, Value

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    readonly: bool
    value: str


class Configuration:
    """Typed access to the configuration keys, with persistence and change listeners."""

    def __init__(
        self,
        initial: Mapping[str, object],
        state: ChargerState | None,
        number_of_connectors: int,
    ) -> None:
        self._state = state
        self._values: dict[str, Value] = {name: spec.default for name, spec in KEYS.items()}
        self._values["NumberOfConnectors"] = number_of_connectors
        for name, raw in initial.items():
            self._values[name] = KEYS[name].parse(raw)
        stored = state.config_values() if state is not None else {}
        for name, raw in stored.items():
            spec = KEYS.get(name)
            if spec is None or spec.readonly:
                continue
            try:
                self._values[name] = spec.parse(raw)
            except ValueError:
                log.warning("ignoring stored configuration value", key=name, value=raw)
        self._listeners: list[Callable[[str, Value], None]] = []

    def __getitem__(self, name: str) -> Value:
        return self._values[name]

    def int(self, name: str) -> int:
        value = self._values[name]
        assert isinstance(value, int)
        return int(value)

    def bool(self, name: str) -> bool:
        return bool(self._values[name])

    def list(self, name: str) -> tuple[str, ...]:
        value = self._values[name]
        assert isinstance(value, tuple)
        return value

    def subscribe(self, listener: Callable[[str, Value], None]) -> None:
        self._listeners.append(listener)

    def report(self, names: Iterable[str] | None) -> tuple[list[KeyValue], list[str]]:
        """GetConfiguration: (known keys with values, unknown key names)."""
        wanted = list(KEYS) if not names else list(names)
        known = [
            KeyValue(name, KEYS[name].readonly, KeySpec.render(self._values[name])) for name in wanted if name in KEYS
        ]
        unknown = [name for name in wanted if name not in KEYS]
        return known, unknown

    async def change(self, name: str, raw: str) -> str:
        """ChangeConfiguration: Accepted, Rejected, RebootRequired or NotSupported."""
        spec = KEYS.get(name)
        if spec is None:
            return "NotSupported"
        if spec.readonly:
            return "Rejected"
        try:
            value = spec.parse(raw)
        except ValueError as exc:
            log.info("configuration change rejected", key=name, value=raw, reason=str(exc))
            return "Rejected"
        await self.set(name, value)
        return "RebootRequired" if spec.reboot_required else "Accepted"

    async def set(self, name: str, value: Value) -> None:
        """Set, persist (on the database thread) and announce a value; also used by the
        agent itself, e.g. for the heartbeat interval a backend gives at boot."""
        if self._state is not None:
            await self._state.db.run(self._state.set_config_value, name, KeySpec.render(value))
        self._values[name] = value
        for listener in self._listeners:
            listener(name, value)
