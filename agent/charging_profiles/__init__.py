"""Charging profiles: the records, what installing and clearing them does, and the
composite schedule they add up to. Protocol-neutral; the adapters spell them."""

from .composite import composite_schedule
from .model import (
    CompositeSchedule,
    Electrical,
    Kind,
    LimitPeriod,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
)
from .rules import ProfileLimits, check, clear, end_transaction, install

__all__ = [
    "CompositeSchedule", "Electrical", "Kind", "LimitPeriod", "Period", "Profile", "ProfileLimits",
    "Purpose", "RateUnit", "Recurrency", "Schedule",
    "check", "clear", "composite_schedule", "end_transaction", "install",
]
