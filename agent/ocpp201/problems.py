"""Faults as OCPP 2.0.1 events: the component that failed, told with NotifyEvent.

A 2.0.1 backend sees a faulted connector twice: its StatusNotification says Faulted,
and a NotifyEvent names the component that failed (the meter, the contactor, the RCD,
the card reader) with its variable ``Problem`` true, then false (``cleared``) once it
works again. The charger's fault codes (the vocabulary its session machine and safety
path use) map to the standardized component names here, in one place.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

#: Which component a fault code names (OCPP 2.0.1 part 2, standardized components).
COMPONENT_OF = {
    "PowerMeterFailure": "FiscalMetering",
    "PowerSwitchFailure": "PowerContactor",
    "GroundFailure": "RCD",
    "ReaderFailure": "TokenReader",
    "ConnectorLockFailure": "ConnectorPlugRetentionLock",
    "HighTemperature": "TemperatureSensor",
    "OverCurrentFailure": "ElectricalFeed",
    "UnderVoltage": "ElectricalFeed",
    "OverVoltage": "ElectricalFeed",
    "EVCommunicationError": "ConnectedEV",
    "InternalError": "Controller",
    "LocalListConflict": "LocalAuthListCtrlr",
}
NO_ERROR = "NoError"


@dataclass
class ProblemReports:
    """What this connection told the backend of each place's problems, and the events to
    tell the next change. ``place`` is a connector (EVSE) number, 0 for the station."""

    told: dict[int, str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def events(self, place: int, error_code: str, timestamp: str, info: str = "",
               vendor_error_code: str = "") -> list[dict[str, Any]]:
        """The EventData for a status with ``error_code`` at ``place`` (none when nothing
        changed): the previous problem cleared, the new one raised."""
        before = self.told.get(place, NO_ERROR)
        if error_code == before:
            return []
        out = []
        if before != NO_ERROR:
            out.append(self._event(place, before, timestamp, problem=False))
        if error_code != NO_ERROR:
            out.append(self._event(place, error_code, timestamp, problem=True, info=info or vendor_error_code))
            self.told[place] = error_code
        else:
            self.told.pop(place, None)
        return out

    def _event(self, place: int, code: str, timestamp: str, problem: bool, info: str = "") -> dict[str, Any]:
        component: dict[str, Any] = {"name": COMPONENT_OF.get(code, "ChargingStation")}
        if place:
            component["evse"] = {"id": place, "connectorId": 1}
        event: dict[str, Any] = {
            "eventId": next(self._ids),
            "timestamp": timestamp,
            "trigger": "Delta",
            "actualValue": "true" if problem else "false",
            "techCode": code[:50],
            "eventNotificationType": "HardWiredNotification",
            "component": component,
            "variable": {"name": "Problem"},
        }
        if info:
            event["techInfo"] = info[:500]
        if not problem:
            event["cleared"] = True
        return event
