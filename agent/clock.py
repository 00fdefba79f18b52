"""The charger's idea of the time, and how it knows it.

A Raspberry Pi has no real-time clock: after a power cut it boots with the time it
last saved (or 1970) until NTP answers, and a charger offline may never reach NTP. A
transaction stamped with that time would be billed on the wrong day. So:

- ``system``: the kernel says the clock is synchronised (``adjtimex``): use it.
- ``backend``: it is not, but the backend told us its time (BootNotification and
  Heartbeat answers carry ``currentTime``): use the system's monotonic clock from that
  moment, which no NTP step or saved date can disturb.
- ``unsynchronised``: neither yet. Stamps are provisional: the start-up wall time plus
  the monotonic time elapsed, so they are exact relative to each other, and once the
  backend's time arrives every provisional stamp made by this process is shifted by one
  known amount (:meth:`Journal.correct_provisional`). Stamps a crashed process left
  provisional cannot be corrected and stay marked as such in the journal.

One process-wide clock, because every stamp the charger writes must come from the
same source; ``agent.store.utc_now`` reads it.

A time the backend offers is taken only when it is plausible: not before this release
was made (:data:`RELEASED`, a constant of the source, so it needs neither network nor
file dates, which a copy or an install resets) and at most :data:`PLAUSIBLE_YEARS`
years after it. Anything else (a backend saying 0001-01-01 or 9999-12-31) is refused
with :class:`ImplausibleTime` and the charger keeps the time it had.
"""

from __future__ import annotations

import ctypes
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog

log = structlog.get_logger(__name__)

SYSTEM = "system"
BACKEND = "backend"
UNSYNCHRONISED = "unsynchronised"

#: The modes of ``[system] clock``.
MODES = ("auto", "system", "backend")

#: A clock the backend confirms within this many seconds is taken as right (mode "auto").
AGREEMENT_S = 2.0
#: When this release was made: no backend time before it is believed. Moved forward on
#: each release (never past the day of the release: a true time would then be refused).
RELEASED = datetime(2026, 12, 1, tzinfo=timezone.utc)
#: How far past :data:`RELEASED` a backend's time may be (a charger's service life).
PLAUSIBLE_YEARS = 20
EARLIEST = RELEASED
LATEST = RELEASED.replace(year=RELEASED.year + PLAUSIBLE_YEARS)
#: The security event (SecurityEventNotification type) of a refused backend time. None
#: of the security whitepaper's list fits (SettingSystemTime says the time was changed;
#: here it was not), and the list is open to others.
REFUSED_EVENT = "SettingSystemTimeRefused"
#: A move of the charger's time by more than this many seconds (the backend's time taken
#: over an unsynchronised clock) is a SettingSystemTime security event. OCPP 2.0.1 calls
#: the bound ClockCtrlr.TimeAdjustmentReportingThreshold; the whitepaper names none.
TIME_REPORT_S = 20.0
#: What :meth:`Clock.now` never goes beyond, whatever the system clock says: stamps
#: stay four-digit years that arithmetic of a few days cannot overflow.
_FLOOR_S = datetime(1970, 1, 1, tzinfo=timezone.utc).timestamp()
_CEILING_S = (datetime.max.replace(tzinfo=timezone.utc) - timedelta(days=366)).timestamp()
_TIME_ERROR = 5  # adjtimex(2): "the system clock is not synchronized to a reliable server"


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> (Linux, 64-bit and 32-bit alike: longs throughout,
    # followed by padding the kernel may write to).
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


def kernel_clock_synchronised() -> bool | None:
    """What the kernel says (NTP, chrony and systemd-timesyncd all tell it); None if it
    cannot be asked (not Linux)."""
    try:
        # The C library is already in the process: no ctypes.util.find_library, which runs
        # ldconfig in a subprocess and imports shutil and tempfile to do so.
        libc = ctypes.CDLL(None, use_errno=True)
        state = libc.adjtimex(ctypes.byref(_Timex()))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return bool(state != _TIME_ERROR)


class ImplausibleTime(ValueError):
    """The backend offered a time outside [EARLIEST, LATEST]; it was not taken.
    ``first``: the first such refusal since a time was last taken (report it once)."""

    def __init__(self, offered: str, first: bool) -> None:
        super().__init__(
            f"backend time {offered[:40]} refused: not between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
        )
        self.offered = offered
        self.first = first


@dataclass(frozen=True, slots=True)
class Reading:
    """A moment and how it was obtained."""

    moment: datetime
    source: str


class Clock:
    def __init__(
        self,
        mode: str = "auto",
        synchronised: Callable[[], bool | None] = kernel_clock_synchronised,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode = mode
        self._synchronised = synchronised
        self._wall = wall
        self._monotonic = monotonic
        #: Identifies this process's provisional stamps in the journal.
        self.process = uuid.uuid4().hex[:12]
        self._wall0 = wall()
        self._mono0 = monotonic()
        self._backend_at: tuple[float, float] | None = None  # (backend epoch seconds, our monotonic)
        self._system_ok = self._ask_system()
        self._refusing = False  # the backend's last offered time was refused
        #: How far the last adopted backend time moved the charger's time (s; 0 when the
        #: system clock stayed in charge): a move past TIME_REPORT_S is a SettingSystemTime event.
        self.last_jump = 0.0

    def _ask_system(self) -> bool:
        if self.mode == "system":
            return True
        if self.mode == "backend":
            return False
        answer = self._synchronised()
        return True if answer is None else bool(answer)

    def recheck(self) -> None:
        """Ask the kernel again (NTP may have synchronised the clock since start-up)."""
        if self.mode == "auto" and not self._system_ok and self._ask_system():
            log.info("system clock now synchronised; using it")
            self._system_ok = True

    @property
    def source(self) -> str:
        if self._system_ok:
            return SYSTEM
        return BACKEND if self._backend_at is not None else UNSYNCHRONISED

    @property
    def provisional_tag(self) -> str:
        """What the journal records for a stamp that may still be corrected."""
        return f"{UNSYNCHRONISED}:{self.process}"

    @property
    def tag(self) -> str:
        """How the next stamp is obtained, as recorded with it in the journal."""
        source = self.source
        return self.provisional_tag if source == UNSYNCHRONISED else source

    def now(self) -> datetime:
        mono = self._monotonic()
        if self._system_ok:
            seconds = self._wall()
        elif self._backend_at is not None:
            backend, at = self._backend_at
            seconds = backend + (mono - at)
        else:
            seconds = self._wall0 + (mono - self._mono0)
        return datetime.fromtimestamp(min(max(seconds, _FLOOR_S), _CEILING_S), timezone.utc)

    def adopt_backend_time(self, current_time: str, sent_at: float, answered_at: float) -> float | None:
        """The backend's ``currentTime`` from an answer to a request sent at monotonic
        ``sent_at`` and answered at ``answered_at``. Returns the shift, in seconds, to apply
        to this process's provisional stamps when this is the first time known, else None.
        Raises :class:`ImplausibleTime` (and changes nothing) for a time outside
        [EARLIEST, LATEST]."""
        try:
            backend = datetime.fromisoformat(current_time.replace("Z", "+00:00"))
        except (ValueError, AttributeError):
            log.warning("unreadable currentTime from the backend", current_time=str(current_time)[:40])
            return None
        if backend.tzinfo is None:
            backend = backend.replace(tzinfo=timezone.utc)
        if not EARLIEST <= backend <= LATEST:
            first, self._refusing = not self._refusing, True
            raise ImplausibleTime(current_time, first)
        self._refusing = False
        # The backend stamped its answer somewhere between our send and our receipt.
        at = (sent_at + answered_at) / 2
        first = self._backend_at is None
        self.last_jump = 0.0
        if not self._system_ok:
            # What the charger's time said at ``at`` before it follows this answer.
            before = (self._backend_at[0] + (at - self._backend_at[1]) if self._backend_at is not None
                      else self._wall0 + (at - self._mono0))
            self.last_jump = backend.timestamp() - before
        self._backend_at = (backend.timestamp(), at)
        wall_at = self._wall() - (self._monotonic() - at)
        drift = backend.timestamp() - wall_at
        if self._system_ok:
            if abs(drift) > AGREEMENT_S and self.mode == "system":
                log.warning("backend time differs from the system clock", seconds=round(drift, 1))
            return None
        if self.mode == "auto" and abs(drift) <= AGREEMENT_S:
            # The kernel does not vouch for the clock (no NTP yet, or none inside a
            # container) but the backend agrees with it: it is right, and staying on it
            # keeps stamps smooth when NTP takes over.
            log.info("system clock confirmed by the backend's time", seconds=round(drift, 3))
            self._system_ok = True
            self.last_jump = 0.0  # the time stays the system clock's
            return 0.0 if first else None
        if not first:
            return None
        shift = backend.timestamp() - at - (self._wall0 - self._mono0)
        log.warning("system clock not synchronised; following the backend's time", shift_s=round(shift, 3))
        return shift


_clock = Clock(mode="system")


def current() -> Clock:
    return _clock


def install(clock: Clock) -> Clock:
    """Make ``clock`` the process's clock (at start-up, once the mode is configured)."""
    global _clock
    _clock = clock
    return clock
