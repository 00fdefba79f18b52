"""K12/K13: the backend hears when the site limit (the building's energy manager, an EMS
in 2.0.1's words) starts, changes or stops limiting an EVSE.

The limit core tells its listeners whenever a connector's limit or its source changes
(``LimitCore.listeners``; :attr:`agent.limits.Decision.by_site` says whether the site's
share is what limits it). This module keeps, per EVSE, the limit last told and sends:

- NotifyChargingLimit (chargingLimitSource EMS, the limit as a one-period schedule) when
  the site starts limiting the EVSE, and again when its limit moves by more than
  SmartChargingCtrlr.LimitChangeSignificance percent of the limit last told (K12.FR.02);
- ClearedChargingLimit (EMS) when it stops (K13).

The messages queue on the link (``send_later``): said while offline, they follow in order
once the backend is back. The same limits are what GetChargingProfiles reports as
ChargingStationExternalConstraints profiles (:func:`external_profiles`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from .. import clock
from ..charging_profiles import Kind, Period, Profile, Purpose, RateUnit, Schedule
from ..limits import Decision
from ..store import iso

if TYPE_CHECKING:
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

EMS = "EMS"


def external_id(evse_id: int) -> int:
    """The id the site limit of ``evse_id`` is reported under: negative, so that it never
    names a profile a backend installed (their ids are its own, and positive in practice)."""
    return -evse_id


def external_profiles(decisions: Mapping[int, Decision], now: datetime) -> list[Profile]:
    """The site limits in force, as ChargingStationExternalConstraints profiles (one per
    EVSE the site limits, from now on), for GetChargingProfiles (chargingLimitSource EMS)."""
    return [
        Profile(id=external_id(n), connector=n, purpose=Purpose.EXTERNAL, stack_level=0, kind=Kind.ABSOLUTE,
                schedule=Schedule(RateUnit.AMPS, (Period(0, d.amps),), start=now.replace(microsecond=0)))
        for n, d in sorted(decisions.items()) if d.by_site and d.amps is not None
    ]


class ChargingLimitNotifier:
    """Tells a 2.0.1 backend of the site limit per EVSE; one per link, listening to the core."""

    def __init__(self, link: Ocpp201Link) -> None:
        self.link = link
        #: EVSE -> the limit last told (amperes per phase).
        self.told: dict[int, float] = {}
        link.runtime.limits.listeners.append(self.changed)
        self.changed(link.runtime.limits.decisions())  # a limit already in force

    def changed(self, decisions: Mapping[int, Decision]) -> None:
        significance = float(self.link.config["SmartChargingCtrlr.LimitChangeSignificance"])
        phases = self.link.runtime.limits.electrical.phases
        for n, decision in sorted(decisions.items()):
            before = self.told.get(n)
            if decision.by_site and decision.amps is not None:
                amps = decision.amps
                if before is not None and not _significant(before, amps, significance):
                    continue
                self.told[n] = amps
                log.info("site limit told to the backend", evse=n, amps=round(amps, 1))
                self.link.send_later("NotifyChargingLimit", [notify_payload(n, amps, phases, clock.current().now())])
            elif before is not None:
                del self.told[n]
                log.info("site limit lifted, told to the backend", evse=n)
                self.link.send_later("ClearedChargingLimit", [{"charging_limit_source": EMS, "evse_id": n}])


def _significant(before: float, after: float, percent: float) -> bool:
    """Whether a limit moved by more than ``percent`` of the one last told."""
    if before == 0:
        return after != 0
    return abs(after - before) / before * 100 > percent


def notify_payload(evse_id: int, amps: float, phases: int, now: datetime) -> dict[str, Any]:
    """NotifyChargingLimit for the site's limit on ``evse_id`` (keyword names of ``call.NotifyChargingLimit``)."""
    return {
        "charging_limit": {"chargingLimitSource": EMS},
        "evse_id": evse_id,
        "charging_schedule": [{
            "id": evse_id,
            "startSchedule": iso(now.replace(microsecond=0)),
            "chargingRateUnit": RateUnit.AMPS.value,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": int(amps * 10 + 1e-6) / 10,
                                        "numberPhases": phases}],
        }],
    }
