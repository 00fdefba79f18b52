"""Profiles as plain JSON records, for the state database.

The record is the core's own model, not a protocol's message: a profile installed
through OCPP 1.6 is still in force when the charger is moved to a 2.0.1 backend.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .model import Kind, Period, Profile, Purpose, RateUnit, Recurrency, Schedule


def to_record(profile: Profile) -> dict[str, Any]:
    schedule = profile.schedule
    return {
        "id": profile.id,
        "connector": profile.connector,
        "purpose": profile.purpose.value,
        "stack_level": profile.stack_level,
        "kind": profile.kind.value,
        "recurrency": profile.recurrency.value if profile.recurrency else None,
        "valid_from": _time(profile.valid_from),
        "valid_to": _time(profile.valid_to),
        "transaction_id": profile.transaction_id,
        "schedule": {
            "unit": schedule.unit.value,
            "start": _time(schedule.start),
            "duration_s": schedule.duration_s,
            "min_rate": schedule.min_rate,
            "id": schedule.id,
            "periods": [[p.start_s, p.limit, p.number_phases] for p in schedule.periods],
        },
    }


def from_record(record: dict[str, Any]) -> Profile:
    """The profile a record holds; KeyError or ValueError for a record this release cannot read."""
    s = record["schedule"]
    return Profile(
        id=int(record["id"]),
        connector=int(record["connector"]),
        purpose=Purpose(record["purpose"]),
        stack_level=int(record["stack_level"]),
        kind=Kind(record["kind"]),
        schedule=Schedule(
            unit=RateUnit(s["unit"]),
            periods=tuple(Period(int(a), float(b), None if c is None else int(c)) for a, b, c in s["periods"]),
            duration_s=s["duration_s"],
            start=_parse(s["start"]),
            min_rate=s["min_rate"],
            id=None if s.get("id") is None else int(s["id"]),  # records of older releases have none
        ),
        recurrency=Recurrency(record["recurrency"]) if record["recurrency"] else None,
        valid_from=_parse(record["valid_from"]),
        valid_to=_parse(record["valid_to"]),
        transaction_id=record["transaction_id"],
    )


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
