"""Write ``docs/ocpp201-device-model.md`` from the device model table.

Run ``python -m agent.ocpp201.device_model_doc`` after changing the table or the runtime
settings; a test fails while the committed file differs from what the table gives.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.runtime_settings.keys import KEYS, KeySpec

from .device_model import ALWAYS_KNOWN, COMPONENTS, Component, Fact, Setting, Variable

DOC = Path(__file__).resolve().parents[2] / "docs" / "ocpp201-device-model.md"
COMMAND = "python -m agent.ocpp201.device_model_doc"
_PLACES = {"station": "once for the station", "evse": "once per EVSE (evse.id 1..n)",
           "connector": "once per connector (evse.id 1..n, connectorId 1)",
           "anywhere": "once for the station and once per connector (evse.id 1..n, connectorId 1), where the fault "
                       "events (`NotifyEvent`, agent/ocpp201/problems.py) name it"}


def render() -> str:
    """The whole document."""
    variables = sum(len(c.variables) for c in COMPONENTS)
    lines = [
        "# OCPP 2.0.1 device model",
        "",
        f"<!-- Generated from agent/ocpp201/device_model.py by `{COMMAND}`; do not edit. -->",
        "",
        f"The components and variables this charger reports: {len(COMPONENTS)} components, {variables} variables "
        "(EVSE and Connector ones at every EVSE and connector). GetVariables, SetVariables, GetBaseReport and "
        "GetReport read this table. Every variable has one source:",
        "",
        "- **1.6 key**: a runtime setting OCPP 1.6 names too. It is one setting: a change by SetVariables is what "
        "GetConfiguration reads and the other way round. Its initial value is written in the configuration "
        "file's `[ocpp]` table under the 1.6 name.",
        "- **2.0.1 setting**: a runtime setting only 2.0.1 names (stored under the name shown), unseen by 1.6's "
        "GetConfiguration. A writable one (or one a charger maker sets) takes an initial value in "
        "`[ocpp201.<Component>]`, e.g. `[ocpp201.TxCtrlr]` `TxStartPoint = \"PowerPathClosed\"`; a variable with "
        "an instance as `Variable.Instance = value`.",
        "- **live**: a fact the running station reports (availability, clock, counts, identity, faults).",
        "",
        "Every **ReadWrite** variable changes what the charger does (`tests/ocpp201/test_writable_variables.py` "
        "names, for each, the code that reads it and the test that shows it). A variable whose value the charger "
        "cannot act on is **ReadOnly** and shows the value it really uses; the Source column says why it is "
        "fixed. Optional variables this charger has no behaviour for are left out "
        "(TxCtrlr.TxBeforeAcceptedEnabled).",
        "",
        "Values set by the backend are kept in the state database and survive a restart. No variable supports "
        "monitoring. A component of a feature profile the charger does not offer (`SupportedFeatureProfiles`) "
        f"shows only {' and '.join(sorted(ALWAYS_KNOWN))} (false); its other variables are unknown.",
    ]
    for component in COMPONENTS:
        lines += ["", *_section(component)]
    lines += ["", *_unbound()]
    return "\n".join(lines) + "\n"


def _unbound() -> list[str]:
    """The 1.6 keys no variable reads directly, and where 2.0.1 shows them if it does."""
    lines = ["## OCPP 1.6 keys without a 2.0.1 variable of their own", "",
             "| 1.6 key | In 2.0.1 |", "|---|---|"]
    uses: dict[str, list[str]] = {}
    direct = set()
    for component in COMPONENTS:
        for variable in component.variables:
            label = ".".join(p for p in (component.name, variable.name, variable.instance) if p)
            if variable.max_limit_setting:
                uses.setdefault(variable.max_limit_setting, []).append(f"maxLimit of {label}")
            if isinstance(variable.source, Setting):
                if variable.source.view is None:
                    direct.add(variable.source.name)
                else:
                    uses.setdefault(variable.source.name, []).append(f"{label}: {variable.source.view_doc}")
    for name, spec in KEYS.items():
        if spec.ocpp16 and name not in direct:
            shown = "; ".join(uses.get(name, [])) or _ELSEWHERE.get(name, "not reported")
            lines.append(f"| `{name}` | {_cell(shown)} |")
    return lines


_ELSEWHERE = {"NumberOfConnectors": "the number of EVSE components (one connector each)",
              "ResetRetries": "not read: OCPPCommCtrlr.ResetRetries shows the 0 retries the charger makes"}


def _section(component: Component) -> list[str]:
    profile = "" if component.profile == "Core" else f"; offered with the 1.6 profile {component.profile}"
    lines = [f"## {component.name}", "", f"Reported {_PLACES[component.scope]}{profile}.", "",
             "| Variable | Instance | Attributes | Mutability | Type | Unit | Limits / values | Default "
             "| Persistent | Source |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for variable in component.variables:
        lines.append("| " + " | ".join(_cell(text) for text in _row(variable)) + " |")
    return lines


def _row(variable: Variable) -> list[str]:
    name = f"{variable.name} (required)" if variable.required else variable.name
    return [name, variable.instance or "", ", ".join(variable.attributes), variable.mutability,
            variable.data_type, variable.unit or "", _limits(variable), _default(variable),
            "yes" if variable.persistent else "no", _source(variable)]


def _limits(variable: Variable) -> str:
    parts = []
    low, high = variable.min_limit, variable.max_limit
    if variable.max_limit_setting:
        high_text = f"{variable.max_limit_setting} ({KEYS[variable.max_limit_setting].default})"
    else:
        high_text = _number(high) if high is not None else ""
    if low is not None and high_text:
        parts.append(f"{_number(low)} to {high_text}")
    elif low is not None:
        parts.append(f">= {_number(low)}")
    elif high_text:
        parts.append(f"<= {high_text}" if variable.data_type != "string" else f"at most {high_text} characters")
    if variable.values_list:
        parts.append(", ".join(variable.values_list))
    return "; ".join(parts)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _default(variable: Variable) -> str:
    source = variable.source
    if isinstance(source, Fact):
        return ""
    spec = source.spec
    if spec.writeonly:
        return "(none)"
    if source.view is not None:
        return ""
    text = KeySpec.render(spec.default)
    return f"`{text}`" if text else '""'


def _source(variable: Variable) -> str:
    source = variable.source
    note = f"; {variable.note}" if variable.note else ""
    if isinstance(source, Fact):
        return f"{source.doc}{note}" if source.doc.startswith("fixed") else f"live: {source.doc}{note}"
    assert isinstance(source, Setting)
    if source.view is not None:
        return f"1.6 key `{source.name}`: {source.view_doc}{note}"
    spec = source.spec
    if spec.ocpp16:
        return f"1.6 key `{spec.name}`{note}"
    file = " (file)" if spec.maker or not spec.readonly else ""
    reboot = "; RebootRequired" if spec.reboot_required else ""
    return f"2.0.1 setting `{spec.name}`{file}{reboot}{note}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DOC
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
