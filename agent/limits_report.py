"""``ladda limits``: what limits each connector now, why, and the schedule ahead.

A technician asks this on the charger itself. The charging profiles and the
transactions come from the state database (so the answer is right with the agent
stopped, too); the site's share and the cable's rating, which only the running agent
knows, come from its live file (:mod:`agent.live_limits`) when it runs.
"""

from __future__ import annotations

import logging
import math
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import structlog

from .ack_notes import runtime_dir
from .charging_profiles import Electrical, ProfileLimits, RateUnit
from .journal import Journal
from .limits import LimitCore
from .live_limits import live_path, read
from .settings import Settings
from .store import ChargerState, Database, StoreError, parse_iso

#: systemd/ladda.service's RuntimeDirectory.
SERVICE_RUNTIME_DIR = Path("/run/ladda")


def print_limits(settings: Settings, state_dir: Path, hours: float, out=sys.stdout) -> int:  # type: ignore[no-untyped-def]
    # The report is the output: only warnings and errors are logged, and to stderr.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    db = Database(state_dir)
    if not db.path.exists():
        print(f"error: no state database at {db.path} (has the agent run with this state directory?)", file=sys.stderr)
        return 1
    connectors = settings.connectors
    core = LimitCore(
        numbers=range(1, connectors.count + 1), electrical=Electrical(connectors.phases, connectors.voltage),
        max_current=connectors.max_current, state=ChargerState(db),
        limits=lambda: ProfileLimits(0, frozenset(), 0, 0), publish=lambda n, a: None,
    )
    try:
        db.open()
        core.load()
        running = Journal(db).open_transactions()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    for record in running:
        core.transactions[record.connector] = (record.local_id, parse_iso(record.started_at))
    # The agent's runtime directory: /run/ladda under systemd (RuntimeDirectory=ladda),
    # which a shell does not have in $RUNTIME_DIRECTORY; else the same as the agent's.
    places = [d for d in (runtime_dir(), SERVICE_RUNTIME_DIR) if d is not None and d.is_dir()]
    live = next((found for d in places if (found := read(live_path(db.path, d))) is not None), None)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    horizon = max(0, int(hours * 3600))
    local = now.astimezone().tzname()
    print(f"Limits at {now.astimezone():%Y-%m-%d %H:%M:%S} {local}; connector maximum {connectors.max_current:g} A "
          f"per phase, {connectors.phases} phase(s) at {connectors.voltage:g} V.", file=out)
    if live is None:
        print("The agent is not running (or runs elsewhere): the site limit and the cable rating are not shown; "
              "the charging profiles are.", file=out)
    print(f"{len(core.profiles)} charging profile(s) installed.", file=out)
    for n in core.numbers:
        print("", file=out)
        decision = core.decide(n, now)
        shown = live["connectors"].get(str(n)) if live is not None else None
        if shown is not None:
            amps, source = shown["amps"], shown["source"]
            offered = f"; offering {_amps(shown['offered_a'])} now" if shown.get("offered_a") else "; offering nothing now"
        else:
            amps, source, offered = decision.amps, decision.source, ""
        limit = _amps(connectors.max_current if amps is None else amps)
        tx = f" (transaction {core.transactions[n][0]})" if n in core.transactions else ""
        print(f"Connector {n}{tx}: limit {limit}, from {source}{offered}.", file=out)
        if amps is not None and amps < 6:
            print("  Under the 6 A a pilot may offer: the connector offers nothing (SuspendedEVSE).", file=out)
        _print_schedule(core, n, now, horizon, out)
    if any(p.connector == 0 and p.purpose.value == "ChargePointMaxProfile" for p in core.profiles):
        print("", file=out)
        print("Whole charger (connector 0): a ChargePointMaxProfile limits all connectors together; it is shared "
              "between the connectors in a transaction.", file=out)
        _print_schedule(core, 0, now, horizon, out)
    return 0


def _print_schedule(core: LimitCore, connector: int, now: datetime, horizon: int, out) -> None:  # type: ignore[no-untyped-def]
    if horizon == 0:
        return
    composite = core.composite(connector, now, horizon, RateUnit.AMPS)
    if not composite.periods:
        print(f"  Next {horizon / 3600:g} h: no charging profile applies.", file=out)
        return
    print(f"  Next {horizon / 3600:g} h, from the charging profiles (local time):", file=out)
    cursor = 0
    for period in composite.periods:
        if period.start_s > cursor:
            print(f"    {_at(now, cursor)} to {_at(now, period.start_s)}  no profile (connector maximum)", file=out)
        phases = f", {period.number_phases} phase(s)" if period.number_phases else ""
        print(f"    {_at(now, period.start_s)} to {_at(now, period.end_s)}  {_amps(period.limit)}{phases}", file=out)
        cursor = period.end_s
    if cursor < horizon:
        print(f"    {_at(now, cursor)} onwards  no profile (connector maximum)", file=out)


def _amps(value: float) -> str:
    """As the pilot offers it: in tenths of an ampere, never rounded up."""
    return f"{math.floor(value * 10 + 1e-9) / 10:g} A"


def _at(start: datetime, seconds: int) -> str:
    return f"{(start + timedelta(seconds=seconds)).astimezone():%a %H:%M:%S}"
