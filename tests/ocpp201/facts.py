"""A station's live facts for device model tests: two EVSEs, plain values a test can change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass
class FakeFacts:
    evses: int = 2
    states: dict[tuple[int | None, int | None], str] = field(default_factory=dict)
    inoperative: set[tuple[int | None, int | None]] = field(default_factory=set)
    clock: datetime = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=timezone.utc)
    #: Fault codes by place (0: the station), NoError when absent.
    faults: dict[int, str] = field(default_factory=dict)
    backoff: tuple[float, float] = (10.0, 60.0)

    def evse_count(self) -> int:
        return self.evses

    def availability_state(self, evse_id: int | None, connector_id: int | None) -> str:
        return self.states.get((evse_id, connector_id), "Available")

    def available(self, evse_id: int | None, connector_id: int | None) -> bool:
        return (evse_id, connector_id) not in self.inoperative

    def supply_phases(self, evse_id: int | None) -> int:
        return 3

    def max_power(self, evse_id: int) -> float:
        return 22080.0 if evse_id == 1 else 11040.0

    def connector_type(self, evse_id: int, connector_id: int) -> str:
        return "sType2"

    def vendor_name(self) -> str:
        return "Ladda"

    def model(self) -> str:
        return "L2"

    def serial_number(self) -> str:
        return "SN-7"

    def firmware_version(self) -> str:
        return "1.4.0"

    def identity(self) -> str:
        return "LADDA-0001"

    def now(self) -> datetime:
        return self.clock

    def message_timeout(self) -> int:
        return 30

    def reconnect_backoff(self) -> tuple[float, float]:
        return self.backoff

    def error_code(self, place: int) -> str:
        return self.faults.get(place, "NoError")

    def certificate_entries(self) -> int:
        return 1

    def local_list_entries(self) -> int:
        return 12

    def charging_profile_entries(self) -> int:
        return 3

    def display_messages(self) -> int:
        return 2
