"""What the LEDs show for each OCPP status: the driver's view of the connector.

Kept as a table apart from the drivers, so every indicator (separate LEDs, an RGB LED,
a display one day) tells the driver the same thing in the same situation.
"""

from __future__ import annotations

from drivers.protocols import Signal

_BY_STATUS: dict[str, Signal] = {
    "Available": Signal.AVAILABLE,
    "Preparing": Signal.AUTHORIZING,
    "Charging": Signal.CHARGING,
    "SuspendedEV": Signal.SUSPENDED,
    "SuspendedEVSE": Signal.SUSPENDED,
    "Finishing": Signal.AVAILABLE,
    "Reserved": Signal.UNAVAILABLE,
    "Unavailable": Signal.UNAVAILABLE,
    "Faulted": Signal.FAULT,
}


def signal_for(status: str) -> Signal:
    """The signal for an OCPP 1.6 ChargePointStatus value (unknown ones show nothing)."""
    return _BY_STATUS.get(status, Signal.OFF)
