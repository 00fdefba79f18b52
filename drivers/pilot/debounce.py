"""Confirm a sampled value only after it was read several times, far enough apart.

What the rule protects against (docs/hardware.md, "What the pilot debounce protects
against"): a single sample can catch a spark of noise from the contactor, and a
falling pilot level drags the peak detector through the bands below it (at most
33 ms in any one band, 36 ms with the hold capacitor 10 % high); reporting either would make the agent open or close the
contactor on a glitch. A value is therefore confirmed only when ``confirm`` samples
in a row agree *and* the last of them started at least ``span_s`` after the first
one finished: a level present for less than ``span_s`` cannot produce that run,
however fast the samples come. Pure, so the rule can be tested without an ADC.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Debouncer(Generic[T]):
    """Confirms a value after ``confirm`` consecutive equal samples spanning ``span_s`` seconds."""

    def __init__(self, confirm: int, span_s: float = 0.0) -> None:
        if confirm < 1:
            raise ValueError(f"confirm must be at least 1, not {confirm}")
        if not span_s >= 0:
            raise ValueError(f"span must be 0 s or more, not {span_s}")
        self.confirm = confirm
        self.span_s = span_s
        self._value: T | None = None
        self._run = 0
        self._first_finished = 0.0
        self._done = False

    @property
    def pending(self) -> T | None:
        """The value of the run being confirmed (None when no run is open or it is confirmed)."""
        return None if self._done or not self._run else self._value

    @property
    def run(self) -> tuple[int, float]:
        """The open run's length and when its first sample finished (monotonic seconds)."""
        return self._run, self._first_finished

    def feed(self, value: T, started: float = 0.0, finished: float = 0.0) -> T | None:
        """Take one sample, read between the monotonic times ``started`` and ``finished``;
        return it when this sample completes the run (once per run), else None."""
        if self._run and value == self._value:
            self._run += 1
        else:
            self._value, self._run, self._first_finished, self._done = value, 1, finished, False
        if self._done or self._run < self.confirm or (self.span_s and started - self._first_finished < self.span_s):
            return None
        self._done = True
        return value

    def reset(self) -> None:
        """Forget the current run (after a failed read: the next run starts afresh)."""
        self._value, self._run, self._done = None, 0, False
