"""Charging profiles in the core's own terms, shared by the OCPP 1.6 and 2.0.1 adapters.

A profile limits the current or power a connector (or the whole charger, connector 0)
may draw over time. The adapters turn SetChargingProfile (1.6) and SetChargingProfile /
the external-constraints profiles (2.0.1) into these records; the limit core stacks them
into one composite schedule per connector (:mod:`.composite`) and the runtime offers the
EV the minimum of that and every other limit.

Times are timezone-aware UTC ``datetime``; offsets into a schedule are whole seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Purpose(enum.Enum):
    """What a profile limits. The values are OCPP 1.6's words; 2.0.1's
    ChargingStationMaxProfile is CHARGER_MAX, and its ChargingStationExternalConstraints
    (a limit set by something outside the charger, like an energy manager) is EXTERNAL."""

    CHARGER_MAX = "ChargePointMaxProfile"  # connector 0 only: the whole charger
    TX_DEFAULT = "TxDefaultProfile"  # any transaction without a TxProfile (connector 0: every connector)
    TX = "TxProfile"  # one running transaction
    EXTERNAL = "ChargingStationExternalConstraints"  # 2.0.1; capped like CHARGER_MAX, per connector


class Kind(enum.Enum):
    ABSOLUTE = "Absolute"  # periods count from ``Schedule.start``
    RECURRING = "Recurring"  # from ``Schedule.start``, again every day or week
    RELATIVE = "Relative"  # periods count from the start of the transaction


class Recurrency(enum.Enum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(enum.Enum):
    AMPS = "A"  # per phase
    WATTS = "W"  # total over the phases


@dataclass(frozen=True, slots=True)
class Period:
    """From ``start_s`` seconds into the schedule until the next period's start."""

    start_s: int
    limit: float  # in the schedule's unit; 0 means nothing may flow (not "no limit")
    number_phases: int | None = None  # None: the connector's own (3 on a three-phase supply)


@dataclass(frozen=True, slots=True)
class Schedule:
    unit: RateUnit
    periods: tuple[Period, ...]  # start_s strictly increasing, the first 0
    #: Seconds from the schedule's start after which it no longer applies; None: until the
    #: next recurrence (recurring), the end of the transaction (relative), or for ever.
    duration_s: int | None = None
    #: When offset 0 is, for ABSOLUTE and RECURRING (required for them); None for RELATIVE.
    start: datetime | None = None
    #: The lowest rate the EV can take (informative; the limit core never offers less than
    #: IEC 61851's 6 A anyway).
    min_rate: float | None = None
    #: The backend's own number for the schedule (2.0.1 ChargingScheduleType.id), kept to
    #: report the profile back as it was given; None where the protocol has none (1.6).
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    connector: int  # 0: the whole charger (CHARGER_MAX) or every connector (TX_DEFAULT)
    purpose: Purpose
    stack_level: int  # among profiles of the same purpose on the same connector, the highest applies
    kind: Kind
    schedule: Schedule
    recurrency: Recurrency | None = None  # RECURRING only
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | None = None  # TX: the transaction it belongs to (the core's own id)


@dataclass(frozen=True, slots=True)
class Electrical:
    """What converting between A and W needs, per connector: W = A x phases x voltage."""

    phases: int = 3
    voltage_v: float = 230.0


@dataclass(frozen=True, slots=True)
class LimitPeriod:
    """One stretch of a composite schedule, in seconds from its start: ``limit`` applies
    from ``start_s`` until just before ``end_s``. Unlike a profile's :class:`Period` it
    has an end, so a stretch where no profile applies stays a gap instead of being
    stretched over by the period before it."""

    start_s: int
    end_s: int
    limit: float  # in the composite schedule's unit; 0 is a limit (nothing may flow)
    number_phases: int | None = None  # the deciding period's; None: it named none

    def __post_init__(self) -> None:
        if not 0 <= self.start_s < self.end_s:
            raise ValueError(f"a limit period needs 0 <= start_s < end_s, got {self.start_s}..{self.end_s}")


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    """What applies to a connector from ``start`` for ``duration_s`` seconds. A stretch
    where no profile applies has no period (the schedule may be empty, or start late):
    the charger's own maximum applies there, and it is not reported as a profile's."""

    connector: int
    start: datetime
    duration_s: int
    unit: RateUnit
    periods: tuple[LimitPeriod, ...]  # sorted, non-overlapping, within [0, duration_s)
