"""Confirm a sampled value only after it was read several times in a row.

A pilot sample can catch the peak detector mid-way between two levels, or a spark
of noise from the contactor; reporting it would make the agent open and close the
contactor on a glitch. Pure, so the rule can be tested without an ADC.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Debouncer(Generic[T]):
    """Confirms a value after ``confirm`` consecutive equal samples."""

    def __init__(self, confirm: int) -> None:
        if confirm < 1:
            raise ValueError(f"confirm must be at least 1, not {confirm}")
        self.confirm = confirm
        self._value: T | None = None
        self._run = 0

    def feed(self, value: T) -> T | None:
        """Take one sample; return it when this sample completes a run of ``confirm``
        equal ones (once per run), else None."""
        if self._run and value == self._value:
            self._run += 1
        else:
            self._value, self._run = value, 1
        return value if self._run == self.confirm else None

    def reset(self) -> None:
        """Forget the current run (after a failed read: the next run starts afresh)."""
        self._value, self._run = None, 0
