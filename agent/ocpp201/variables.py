"""GetVariables, SetVariables and the base reports (OCPP 2.0.1 B05-B07) over the device model.

Requests and results are snake_case dicts, as the ``ocpp`` library's routing passes a
payload's fields to a handler and serialises what it returns: the adapter hands a
request's list in and returns the list it gets back. Values travel as strings and are
parsed with the runtime settings' own rules, so a value 1.6's ChangeConfiguration would
refuse is refused here too, and a change made either way is the one the other reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from agent.runtime_settings.configuration import Configuration
from agent.runtime_settings.keys import KeySpec, Value

from .device_model import ALWAYS_KNOWN, COMPONENTS, Component, Fact, Setting, StationFacts, Variable, Where

#: attributeValue's schema bound in SetVariables (ReportData allows 2500 characters).
SET_VALUE_MAX = 1000
_INFO_MAX = 512
REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")

Request = Mapping[str, Any]
Result = dict[str, Any]


class DeviceModel:
    """The device model of one station: the table, read through its settings and facts."""

    def __init__(self, config: Configuration, facts: StationFacts,
                 components: Iterable[Component] = COMPONENTS) -> None:
        self._config = config
        self._facts = facts
        self._components = {component.name: component for component in components}

    # --- B06 GetVariables ---------------------------------------------------------------

    def get_variables(self, requests: Iterable[Request]) -> list[Result]:
        """One GetVariableResult per GetVariableData, in order."""
        return [self._get(request) for request in requests]

    def _get(self, request: Request) -> Result:
        attribute_type = request.get("attribute_type") or "Actual"
        found = self._find(request, attribute_type)
        if isinstance(found, str):
            return _result(request, found, attribute_type)
        component, variable, where = found
        if variable.mutability == "WriteOnly":
            return _result(request, "Rejected", attribute_type, "WriteOnly", "a write-only variable is never read back")
        result = _result(request, "Accepted", attribute_type)
        result["attribute_value"] = self.value(component, variable, where)
        return result

    # --- B05 SetVariables ---------------------------------------------------------------

    async def set_variables(self, requests: Iterable[Request]) -> list[Result]:
        """One SetVariableResult per SetVariableData, in order; each accepted value is
        persisted (and its listeners told) before the next is looked at."""
        return [await self._set(request) for request in requests]

    def write_only_values(self, requests: Iterable[Request]) -> list[str]:
        """The values addressed to a write-only variable (a password), whatever becomes of
        them: the handler registers them as secrets before anything else sees them."""
        out = []
        for request in requests:
            component = self._components.get((request.get("component") or {}).get("name"))
            name = (request.get("variable") or {}).get("name")
            value = request.get("attribute_value")
            if component is not None and isinstance(value, str) and any(
                    v.name == name and v.mutability == "WriteOnly" for v in component.variables):
                out.append(value)
        return out

    async def _set(self, request: Request) -> Result:
        attribute_type = request.get("attribute_type") or "Actual"
        found = self._find(request, attribute_type)
        if isinstance(found, str):
            return _result(request, found, attribute_type)
        component, variable, _where = found
        raw = request.get("attribute_value")
        if not isinstance(raw, str):
            return _result(request, "Rejected", attribute_type, "InvalidValue", "attributeValue must be a string")
        if len(raw) > SET_VALUE_MAX:
            return _result(request, "Rejected", attribute_type, "ValueTooLarge",
                           f"at most {SET_VALUE_MAX} characters")
        if variable.mutability == "ReadOnly":
            return _result(request, "Rejected", attribute_type, "ReadOnly", "a read-only variable")
        if not self._offered(component):
            return _result(request, "Rejected", attribute_type, "NotAvailable",
                           f"this station does not offer {component.name}'s function")
        assert isinstance(variable.source, Setting)
        status, why = await self._config.apply(variable.source.name, raw)
        if status == "Rejected":
            return _result(request, status, attribute_type, "InvalidValue", why or "")
        return _result(request, status, attribute_type)

    # --- B07 GetBaseReport --------------------------------------------------------------

    def base_report(self, report_base: str) -> list[Result] | None:
        """The ReportData of a base report; None for a base this station does not know."""
        if report_base == "FullInventory":
            return [self.report_data(c, v, w) for c, v, w in self.known()]
        if report_base == "ConfigurationInventory":
            return [self.report_data(c, v, w) for c, v, w in self.known()
                    if v.mutability != "ReadOnly" and self._offered(c)]
        if report_base == "SummaryInventory":
            return [self.report_data(c, v, w) for c, v, w in self.known()
                    if v.name == "AvailabilityState"
                    or v.name == "Problem" and self.value(c, v, w) == "true"]
        return None

    def custom_report(self, component_variable: Iterable[Request] | None = None,
                      component_criteria: Iterable[str] | None = None) -> list[Result]:
        """GetReport (B08): the variables the componentVariable entries name (a component
        without variable: all its variables; without evse: every place), of components whose
        criteria variable (Active, Available, Enabled, Problem) reads true when criteria are given."""
        wanted = list(component_variable or [])
        criteria = set(component_criteria or [])
        out = []
        for component, variable, where in self.known():
            if wanted and not any(_matches(entry, component, variable, where) for entry in wanted):
                continue
            if criteria and not any(self._criterion(component, where, name) for name in criteria):
                continue
            out.append(self.report_data(component, variable, where))
        return out

    def _criterion(self, component: Component, where: Where, name: str) -> bool:
        """The criterion variable reads true; one held per instance (TariffCostCtrlr's
        Available and Enabled, for Tariff and Cost) when any instance does."""
        return any(self.value(component, variable, where) == "true"
                   for variable in component.variables if variable.name == name)

    # --- reading the table --------------------------------------------------------------

    def known(self) -> Iterator[tuple[Component, Variable, Where]]:
        """Every variable this station reports, at every place, in table order."""
        for component in self._components.values():
            offered = self._offered(component)
            for where in component.places(self._facts.evse_count()):
                for variable in component.variables:
                    if offered or variable.name in ALWAYS_KNOWN:
                        yield component, variable, where

    def value(self, component: Component, variable: Variable, where: Where) -> str:
        """A variable's Actual (or only) value in its wire form."""
        source = variable.source
        if isinstance(source, Fact):
            return _render(source.read(self._facts, where))
        if not self._offered(component) and variable.name == "Enabled":
            return "false"  # the function is not there to enable
        value = self._config[source.name]
        return _render(source.view(value, where) if source.view else value)

    def report_data(self, component: Component, variable: Variable, where: Where) -> Result:
        attributes = []
        for attribute_type in variable.attributes:
            attribute: Result = {"type": attribute_type}
            if variable.mutability != "WriteOnly":
                attribute["value"] = self.value(component, variable, where)
            attribute |= {"mutability": variable.mutability, "persistent": variable.persistent,
                          "constant": variable.constant}
            attributes.append(attribute)
        return {"component": _component_ref(component, where), "variable": _variable_ref(variable),
                "variable_attribute": attributes, "variable_characteristics": self._characteristics(variable)}

    def _characteristics(self, variable: Variable) -> Result:
        out: Result = {"data_type": variable.data_type, "supports_monitoring": False}
        if variable.unit:
            out["unit"] = variable.unit
        if variable.min_limit is not None:
            out["min_limit"] = variable.min_limit
        max_limit = variable.max_limit
        if variable.max_limit_setting is not None:
            max_limit = self._config.int(variable.max_limit_setting)
        if max_limit is not None:
            out["max_limit"] = max_limit
        if variable.values_list:
            out["values_list"] = ",".join(variable.values_list)
        return out

    def _offered(self, component: Component) -> bool:
        return self._config.offers(component.profile)

    def _find(self, request: Request, attribute_type: str) -> tuple[Component, Variable, Where] | str:
        """The variable a request names, or the status saying why there is none."""
        component_ref = request.get("component") or {}
        variable_ref = request.get("variable") or {}
        component = self._components.get(component_ref.get("name"))
        if component is None or component_ref.get("instance") is not None:
            return "UnknownComponent"
        where = self._place(component, component_ref.get("evse"))
        if where is None:
            return "UnknownComponent"
        name, instance = variable_ref.get("name"), variable_ref.get("instance")
        if not self._offered(component) and name not in ALWAYS_KNOWN:
            return "UnknownVariable"
        for variable in component.variables:
            if variable.name == name and variable.instance == instance:
                if attribute_type not in variable.attributes:
                    return "NotSupportedAttributeType"
                return component, variable, where
        return "UnknownVariable"

    def _place(self, component: Component, evse: Mapping[str, Any] | None) -> Where | None:
        """Where a component reference points, None when this station has no such place."""
        if component.scope == "station" or component.scope == "anywhere" and evse is None:
            return Where() if evse is None else None
        if not evse:
            return None
        evse_id, connector_id = evse.get("id"), evse.get("connector_id")
        if not isinstance(evse_id, int) or not 1 <= evse_id <= self._facts.evse_count():
            return None
        if component.scope == "evse":
            return Where(evse_id) if connector_id is None else None
        if component.scope == "anywhere" and connector_id is None:
            return Where(evse_id, 1)  # the EVSE's one connector, where its events name the part
        if connector_id != 1:  # one connector per EVSE
            return None
        return Where(evse_id, connector_id)


def report_pages(report_data: list[Result], request_id: int, generated_at: datetime | str,
                 per_page: int) -> list[Result]:
    """NotifyReport payloads carrying `report_data` `per_page` items at a time: seq_no from
    0, tbc true on all but the last. An empty report is one message without report_data."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    stamp = generated_at if isinstance(generated_at, str) else _timestamp(generated_at)
    chunks = [report_data[i:i + per_page] for i in range(0, len(report_data), per_page)] or [[]]
    pages = []
    for seq_no, chunk in enumerate(chunks):
        page: Result = {"request_id": request_id, "generated_at": stamp, "seq_no": seq_no,
                        "tbc": seq_no < len(chunks) - 1}
        if chunk:
            page["report_data"] = chunk
        pages.append(page)
    return pages


def _timestamp(moment: datetime) -> str:
    """UTC with milliseconds and Z: what the strictest backends accept."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _render(value: Value | datetime) -> str:
    if isinstance(value, datetime):
        return _timestamp(value)
    return KeySpec.render(value)


def _result(request: Request, status: str, attribute_type: str, reason: str | None = None,
            info: str | None = None) -> Result:
    result: Result = {"attribute_status": status, "attribute_type": attribute_type,
                      "component": dict(request.get("component") or {}),
                      "variable": dict(request.get("variable") or {})}
    if reason is not None:
        status_info: Result = {"reason_code": reason}
        if info:
            status_info["additional_info"] = info[:_INFO_MAX]
        result["attribute_status_info"] = status_info
    return result


def _component_ref(component: Component, where: Where) -> Result:
    ref: Result = {"name": component.name}
    if where.evse_id is not None:
        evse: Result = {"id": where.evse_id}
        if where.connector_id is not None:
            evse["connector_id"] = where.connector_id
        ref["evse"] = evse
    return ref


def _variable_ref(variable: Variable) -> Result:
    return {"name": variable.name} | ({"instance": variable.instance} if variable.instance else {})


def _matches(entry: Request, component: Component, variable: Variable, where: Where) -> bool:
    """Whether a GetReport componentVariable entry selects this variable at this place."""
    ref = entry.get("component") or {}
    if ref.get("name") != component.name or ref.get("instance") is not None:
        return False
    evse = ref.get("evse")
    if evse:
        if evse.get("id") != where.evse_id:
            return False
        if evse.get("connector_id") is not None and evse.get("connector_id") != where.connector_id:
            return False
    wanted = entry.get("variable")
    if not wanted:
        return True
    if wanted.get("name") != variable.name:
        return False
    return wanted.get("instance") is None or wanted.get("instance") == variable.instance
