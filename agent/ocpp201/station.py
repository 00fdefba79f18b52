"""The running station's facts the 2.0.1 device model reports (``StationFacts``).

Read from the runtime and the settings at the moment a backend asks: a connector's
availability state is what its last status said, the phases and power are the wiring's.
Everything here is in memory: the handlers read the device model on the event loop, where
a database read would wait behind the journal's fsync'd commits.
"""

from __future__ import annotations

from datetime import datetime

from .. import __version__, clock
from ..certificates import CertificateStore
from ..charger import ChargerRuntime
from ..settings import Settings
from .outbound import CONNECTOR_STATUS
from .problems import NO_ERROR


class RuntimeFacts:
    """:class:`agent.ocpp201.device_model.StationFacts` of this charger (one connector per EVSE)."""

    def __init__(self, settings: Settings, runtime: ChargerRuntime,
                 certificates: CertificateStore | None = None) -> None:
        self.settings = settings
        self.runtime = runtime
        self.certificates = certificates
        runtime.authorizer.local_list.count()  # blocking, once at start: kept by the list from now on

    def evse_count(self) -> int:
        return len(self.runtime.numbers)

    def availability_state(self, evse_id: int | None, connector_id: int | None) -> str:
        if evse_id is None:
            states = [self.availability_state(n, 1) for n in self.runtime.numbers]
            station = self.runtime.statuses.get(0)
            if station is not None and station.status in ("Unavailable", "Faulted"):
                return station.status
            return "Occupied" if "Occupied" in states else "Available" if "Available" in states else states[0]
        entry = self.runtime.statuses.get(evse_id)
        return CONNECTOR_STATUS.get(entry.status, "Unavailable") if entry is not None else "Unavailable"

    def available(self, evse_id: int | None, connector_id: int | None) -> bool:
        """What ChangeAvailability made of it, from the runtime's memory (never the state
        database: a report must not wait on the event loop behind a journal commit). A
        change scheduled for the end of a transaction counts, as it is already stored.
        The station is available while any of its EVSEs is."""
        numbers = self.runtime.numbers if evse_id is None else [evse_id]
        for n in numbers:
            conn = self.runtime.charger.connector(n)
            if conn is not None and (conn.operative if conn.scheduled_operative is None else conn.scheduled_operative):
                return True
        return False

    def supply_phases(self, evse_id: int | None) -> int:
        return self.settings.connectors.phases

    def max_power(self, evse_id: int) -> float:
        c = self.settings.connectors
        return round(c.max_current * c.voltage * c.phases, 1)

    def connector_type(self, evse_id: int, connector_id: int) -> str:
        # A socket outlet has a cable lock; a tethered cable has none.
        return "sType2" if evse_id in self.runtime.hardware.locks else "cType2"

    def vendor_name(self) -> str:
        return self.settings.charge_point.vendor

    def model(self) -> str:
        return self.settings.charge_point.model

    def serial_number(self) -> str:
        return self.settings.charge_point.serial_number

    def firmware_version(self) -> str:
        return f"ladda {__version__}"

    def identity(self) -> str:
        return self.settings.charge_point.id

    def now(self) -> datetime:
        return clock.current().now()

    def message_timeout(self) -> int:
        """The active connection profile's messageTimeout (the file's call_timeout unless a
        profile the backend set is in use)."""
        backend = getattr(getattr(self.runtime, "uplink", None), "backend", self.settings.backend)
        return int(backend.call_timeout)

    def reconnect_backoff(self) -> tuple[float, float]:
        return self.settings.backend.reconnect_initial, self.settings.backend.reconnect_max

    def error_code(self, place: int) -> str:
        entry = self.runtime.statuses.get(place)
        return entry.error_code if entry is not None else NO_ERROR

    def certificate_entries(self) -> int:
        """The root certificates installed by the backend (agent/certificates)."""
        return self.certificates.count() if self.certificates is not None else 0

    def local_list_entries(self) -> int:
        local_list = self.runtime.authorizer.local_list
        return local_list.size if local_list.size is not None else local_list.count()

    def charging_profile_entries(self) -> int:
        return len(self.runtime.limits.profiles)

    def display_messages(self) -> int:
        """The backend's messages the screen holds (O01-O06)."""
        return len(self.runtime.message_board)
