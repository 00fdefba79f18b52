"""Faults as OCPP 2.0.1 events: the component that failed, told with NotifyEvent.

A 2.0.1 backend sees a faulted connector twice: its StatusNotification says Faulted,
and a NotifyEvent names the component that failed (the meter, the contactor, the RCD,
the card reader) with its variable ``Problem`` true, then false (``cleared``) once it
works again. The charger's fault codes (the vocabulary its session machine and safety
path use) map to the standardized component names here, in one place: the events and
the device model's ``Problem`` variables both read :data:`COMPONENT_OF`.

What was told outlives a connection and a restart (the backend keeps a raised Problem
until it hears it cleared, whatever happened to the link meanwhile), and so does the
eventId counter (two events never share an id): both are kept in the state database's
notes (:data:`PROBLEMS_NOTE`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

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
#: The component an event names for a code :data:`COMPONENT_OF` does not know: the
#: station as a whole (place 0), else the EVSE.
STATION_COMPONENT = "ChargingStation"
EVSE_COMPONENT = "EVSE"
#: The note (``ChargerState``'s notes table) holding what was told and the next eventId.
PROBLEMS_NOTE = "v201_problems"


def component_of(code: str, place: int) -> str:
    """The component a fault ``code`` at ``place`` (0: the station) names."""
    return COMPONENT_OF.get(code, EVSE_COMPONENT if place else STATION_COMPONENT)


class Notes(Protocol):
    """Where the reports are kept between runs (``agent.store.ChargerState``)."""

    def read_note(self, name: str) -> str | None: ...

    def leave_note(self, name: str, value: str) -> None: ...


@dataclass
class ProblemReports:
    """What was told the backend of each place's problems (raised and not yet cleared),
    and the events to tell the next change. ``place`` is a connector (EVSE) number, 0 for
    the station."""

    told: dict[int, str] = field(default_factory=dict)
    #: The next event's eventId: counts on across connections and restarts.
    next_id: int = 1

    @classmethod
    def load(cls, notes: Notes) -> ProblemReports:
        """What an earlier run (or connection) told (blocking: a database read); a note
        that does not parse is a fresh start, never a reason not to start."""
        text = notes.read_note(PROBLEMS_NOTE)
        try:
            data = json.loads(text) if text else {}
            told = {int(place): str(code) for place, code in data.get("told", {}).items()}
            return cls(told, max(1, int(data.get("next_id", 1))))
        except (ValueError, TypeError, AttributeError):
            return cls()

    def save(self, notes: Notes) -> None:
        """Keep what was told and the counter for the next run (blocking: a database write)."""
        notes.leave_note(PROBLEMS_NOTE, json.dumps({"told": {str(k): v for k, v in self.told.items()},
                                                    "next_id": self.next_id}))

    def restore(self, place: int, code: str) -> None:
        """Undo a change that never reached the backend (the link was lost while it was
        sent): the next status of ``place`` tells it again."""
        if code == NO_ERROR:
            self.told.pop(place, None)
        else:
            self.told[place] = code

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
        name = component_of(code, place)
        component: dict[str, Any] = {"name": name}
        if place:
            component["evse"] = {"id": place} if name == EVSE_COMPONENT else {"id": place, "connectorId": 1}
        self.next_id += 1
        event: dict[str, Any] = {
            "eventId": self.next_id - 1,
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
