"""Reservations (OCPP 2.0.1 block H: H01 ReserveNow, H02 CancelReservation, H03 use of a
reserved EVSE, H04 ReservationStatusUpdate), spelled over the core's reservations.

Who may use a reserved EVSE, when a reservation ends and why, and that it outlives a
restart are the core's (the session machine and :meth:`ChargerRuntime.reserve`), shared
with OCPP 1.6; one EVSE has one connector here, so an EVSE is the core's connector.
What 2.0.1 adds:

- **ReserveNow without an evseId** (H01.FR.04 ff.): the core's reservation of the station
  as a whole (1.6's connector 0) keeps one EVSE free for the token while it holds, which
  is what the specification asks. It is Rejected when ``ReservationCtrlr.NonEvseSpecific``
  is false. There may be several, as long as each keeps an EVSE of its own: once there
  are as many as spare EVSEs, every spare one shows Reserved, and one more is Occupied
  (TC_H_14_CS; the core's ``several_wide_reservations`` rule, which 1.6 does not use).
- **connectorType**: an EVSE reserved by number must have a connector of that type, else
  Rejected. Without a number, when every EVSE has the type the station is reserved as a
  whole; when only some have it, the first Available one of them is reserved by number
  (the charger picks, as H01 lets it); when none has it, Rejected.
- **groupIdToken** is the core's parent idTag: a card whose group the backend names may
  use the reservation (H03, TC_H_19_CS).
- ``ReservationCtrlr.Enabled`` false, or a charger that does not offer reservations
  (``ReservationCtrlr.Available`` false): every ReserveNow is Rejected (TC_H_22_CS).
- **ReservationStatusUpdate** (H04): :class:`ReservationReports` is told by the runtime
  when a reservation ends. Expired when its time ran out, Removed when its EVSE (or the
  station) became Faulted or Unavailable. None when it was used (the Started event
  carries its reservationId) or cancelled by the backend. A reservation that ends while
  the charger is offline is not reported: the backend learns of it from the EVSE's status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from ..authorization import parse_expiry
from ..session.model import ReservationEnd
from .station import RuntimeFacts

if TYPE_CHECKING:
    from ..charger import ChargerRuntime
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

#: The station as a whole, in the core's numbering of reservations.
WHOLE_STATION = 0
#: What a reservation's end is called in a ReservationStatusUpdate; an end not listed is not reported.
REPORTED_ENDS = {
    ReservationEnd.EXPIRED: "Expired",
    ReservationEnd.FAULTED: "Removed",
    ReservationEnd.UNAVAILABLE: "Removed",
}


class ReservationHandlers:
    """The block's requests; a mixin of :class:`agent.ocpp201.handlers.Handlers`."""

    session: Ocpp201Link
    runtime: ChargerRuntime

    @on(Action.reserve_now)
    async def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict[str, Any],
                             connector_type: str | None = None, evse_id: int | None = None,
                             group_id_token: dict[str, Any] | None = None, **_: Any) -> Any:
        token = str(id_token.get("id_token", ""))
        group = (group_id_token or {}).get("id_token")
        target, why = self._reservation_target(evse_id, connector_type)
        expiry = parse_expiry(expiry_date_time)
        if target is None:
            status = "Rejected"
        elif expiry is None:
            status, why = "Rejected", f"unreadable expiryDateTime {expiry_date_time!r}"
        else:
            status = self.runtime.reserve(target, id, token, group, expiry)
        log.info("reserve now", reservation_id=id, evse=evse_id, connector_type=connector_type, reserved=target,
                 id_token=token, group_id_token=group, answer=status, why=why or None)
        return call_result.ReserveNow(status=status)

    def _reservation_target(self, evse_id: int | None, connector_type: str | None) -> tuple[int | None, str]:
        """The core's connector to reserve (0: the station as a whole), or None and why not."""
        config = self.session.config
        if not config.offers("Reservation"):
            return None, "this charger does not offer reservations (ReservationCtrlr.Available)"
        if not config.bool("ReservationCtrlr.Enabled"):
            return None, "reservations are disabled (ReservationCtrlr.Enabled)"
        facts = RuntimeFacts(self.session.settings, self.runtime)
        numbers = list(self.runtime.numbers)
        if evse_id is not None:
            if evse_id not in numbers:
                return None, f"no EVSE {evse_id}"
            if connector_type is not None and facts.connector_type(evse_id, 1) != connector_type:
                return None, f"EVSE {evse_id} has no {connector_type} connector"
            return evse_id, ""
        if not config.bool("ReserveConnectorZeroSupported"):
            return None, "reservations without an EVSE are not supported (ReservationCtrlr.NonEvseSpecific)"
        fitting = [n for n in numbers if connector_type is None or facts.connector_type(n, 1) == connector_type]
        if not fitting:
            return None, f"no EVSE has a {connector_type} connector"
        if fitting == numbers:
            return WHOLE_STATION, ""
        statuses = self.runtime.statuses
        # An EVSE whose transaction waits for its EV to come back shows Available too (E10).
        free = [n for n in fitting if n in statuses and statuses[n].status == "Available"
                and n not in self.runtime.local_tx]
        return (free or fitting)[0], ""

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        status = self.runtime.cancel_reservation(reservation_id)
        log.info("cancel reservation", reservation_id=reservation_id, answer=status)
        return call_result.CancelReservation(status=status)


class ReservationReports:
    """H04 on the link: the runtime's ``uplink.reservation_ended`` hook, answered with a
    ReservationStatusUpdate sent by the link's own sender (the one that sends triggered
    messages and report pages, owned by the connection's task group). A mixin of
    :class:`agent.ocpp201.session.Ocpp201Link` (it uses the link's connection state)."""

    _cp: Any
    _accepted: bool

    send_later: Callable[[str, list[dict[str, Any]]], None]

    def reservation_ended(self, reservation_id: int, why: ReservationEnd) -> None:
        status = REPORTED_ENDS.get(why)
        if status is None:
            return
        if self._cp is None or not self._accepted:
            log.info("reservation ended while offline; not reported", reservation_id=reservation_id, why=why.value)
            return
        self.send_later("ReservationStatusUpdate",
                        [{"reservation_id": reservation_id, "reservation_update_status": status}])
