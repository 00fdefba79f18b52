"""Scenario files: timed steps played against a running stack (docs/scenarios.md).

A scenario is TOML: a few top-level settings and an ordered list of ``[[step]]``
tables. Each step has ``do`` (what happens), optional ``after`` (seconds to wait
first) and the fields its action needs. Errors name the file, the step and the field,
and every error is reported at once, as for the agent's own configuration.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: do -> (required fields, optional fields with defaults)
STEP_FIELDS: dict[str, tuple[dict[str, type], dict[str, Any]]] = {
    "plug": ({}, {"connector": 1, "max_current": 32.0}),
    "unplug": ({}, {"connector": 1}),
    "pause": ({}, {"connector": 1}),
    "resume": ({}, {"connector": 1}),
    "tap": ({"uid": str}, {}),
    "wait": ({"seconds": float}, {}),
    "link": ({"state": str}, {}),
    "expect": ({"status": str}, {"connector": 1, "timeout": 30.0}),
    "remote_start": ({"id_tag": str}, {"connector": 1}),
    "remote_stop": ({}, {"connector": 1}),
    # Smart charging, through the test CSMS (docs/smart-charging.md): a one-period profile
    # from ``starts_in`` seconds on (nothing before), cleared by id or all at once.
    "profile": ({"limit": float}, {"connector": 0, "purpose": "TxDefaultProfile", "unit": "A", "stack_level": 0,
                                   "profile_id": 1, "starts_in": 0.0}),
    "clear_profiles": ({}, {"profile_id": 0}),
    # The EV's current (what the connector's meter measures) reaches ``amps`` within the
    # timeout, give or take half an ampere.
    "expect_current": ({"amps": float}, {"connector": 1, "timeout": 15.0}),
}
PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile")
TOP_LEVEL = {"title": str, "connectors": int, "max_current": float, "ocpp": dict, "step": list}
STATUSES = {"Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved", "Unavailable", "Faulted"}


class ScenarioError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Step:
    do: str
    after: float
    args: dict[str, Any]

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.do}({shown})" if shown else self.do


@dataclass(frozen=True)
class Scenario:
    title: str
    connectors: int
    max_current: float
    ocpp: dict[str, Any] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()


def _type_ok(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: TOML syntax error: {exc}"]) from exc
    return parse_scenario(data, str(path))


def parse_scenario(data: dict[str, Any], source: str) -> Scenario:
    errors: list[str] = []
    for key, value in data.items():
        if key not in TOP_LEVEL:
            errors.append(f"{source}: unknown key {key!r}; allowed: {', '.join(TOP_LEVEL)}")
        elif not _type_ok(value, TOP_LEVEL[key]):
            errors.append(f"{source}: {key} = {value!r}: must be {TOP_LEVEL[key].__name__}")
    ocpp = data.get("ocpp", {})
    if isinstance(ocpp, dict):
        from agent.runtime_settings.keys import check_initial  # the agent's own rules for these values

        for key, value in ocpp.items():
            problem = check_initial(key, value)
            if problem:
                errors.append(f"{source}: ocpp.{key} = {value!r}: {problem}")
    connectors = data.get("connectors", 1)
    if _type_ok(connectors, int) and not 1 <= connectors <= 8:
        errors.append(f"{source}: connectors = {connectors}: must be between 1 and 8")
    steps: list[Step] = []
    raw_steps = data.get("step", [])
    if not raw_steps:
        errors.append(f"{source}: no [[step]] tables: a scenario needs at least one step")
    for number, raw in enumerate(raw_steps if isinstance(raw_steps, list) else [], start=1):
        where = f"{source}: step {number}"
        if not isinstance(raw, dict):
            errors.append(f"{where}: must be a table")
            continue
        do = raw.get("do")
        if do not in STEP_FIELDS:
            errors.append(f"{where}: do = {do!r}: must be one of {', '.join(STEP_FIELDS)}")
            continue
        required, optional = STEP_FIELDS[do]
        args = dict(optional)
        for key, value in raw.items():
            if key in ("do", "after"):
                continue
            kind = required.get(key) or (type(optional[key]) if key in optional else None)
            if kind is None:
                allowed = ", ".join(["after", *required, *optional])
                errors.append(f"{where} ({do}): unknown field {key!r}; allowed: {allowed}")
            elif not _type_ok(value, kind):
                errors.append(f"{where} ({do}): {key} = {value!r}: must be {kind.__name__}")
            else:
                args[key] = value
        for key in required:
            if key not in raw:
                errors.append(f"{where} ({do}): missing field {key!r}")
        after = raw.get("after", 0)
        if not _type_ok(after, float) or after < 0:
            errors.append(f"{where} ({do}): after = {after!r}: must be a number of seconds >= 0")
            after = 0
        if do == "link" and args.get("state") not in ("cut", "stall", "up"):
            errors.append(f"{where} (link): state = {args.get('state')!r}: must be 'cut', 'stall' or 'up'")
        if do == "expect" and args.get("status") not in STATUSES:
            errors.append(f"{where} (expect): status = {args.get('status')!r}: must be one of {', '.join(sorted(STATUSES))}")
        if do == "profile" and args.get("purpose") not in PURPOSES:
            errors.append(f"{where} (profile): purpose = {args.get('purpose')!r}: must be one of {', '.join(PURPOSES)}")
        if do == "profile" and args.get("unit") not in ("A", "W"):
            errors.append(f"{where} (profile): unit = {args.get('unit')!r}: must be 'A' or 'W'")
        conn = args.get("connector")
        lowest = 0 if do == "profile" else 1
        if isinstance(conn, int) and _type_ok(connectors, int) and not lowest <= conn <= connectors:
            errors.append(f"{where} ({do}): connector = {conn}: the scenario has {connectors} connector(s)")
        steps.append(Step(do, float(after), args))
    if errors:
        raise ScenarioError(errors)
    return Scenario(
        title=data.get("title", source),
        connectors=connectors,
        max_current=float(data.get("max_current", 32.0)),
        ocpp=dict(data.get("ocpp", {})),
        steps=tuple(steps),
    )
