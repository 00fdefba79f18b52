"""The ``ladda`` command: run, check-config, demo, sessions, limits, probe."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .settings import EX_CONFIG, ConfigError, check_run_state_dir, load_settings, render_settings, resolve_state_dir
from .settings.security import secret_forms

if TYPE_CHECKING:
    from .journal import MeterGap, TransactionRecord
    from .session_costs import SessionFigures
    from .tariff import Tariff

DEFAULT_CONFIG = "/etc/ladda/ladda.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ladda", description="Charge-point agent for EV chargers (OCPP 1.6J).")
    parser.add_argument("--version", action="version", version=f"ladda {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the charge-point service")
    run.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"configuration file (default {DEFAULT_CONFIG})")
    run.add_argument("--state-dir", help="state directory (default: $STATE_DIRECTORY, else the file's [state])")

    check = sub.add_parser("check-config", help="validate a configuration file and print the effective settings")
    check.add_argument("config", help="configuration file")
    check.add_argument("--state-dir", help="the state directory the service uses, where installed CSMS roots are "
                                           "looked for (default: $STATE_DIRECTORY, else the file's [state])")

    demo = sub.add_parser("demo", help="play a charging scenario on simulated hardware against a local test backend")
    demo.add_argument("--scenario", help="scenario file (default: config/demo-scenario.toml)")
    demo.add_argument("--workdir", help="keep state, logs and sockets here instead of a temporary directory")
    demo.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6", help="the OCPP version to play it in")

    probe = sub.add_parser("probe",
                           help="check one kind of device as configured: meter, rfid, pilot, gpio or display")
    probe.add_argument("device", choices=["meter", "rfid", "pilot", "gpio", "display"], help="what to check")
    probe.add_argument("--toggle", action="store_true",
                       help="gpio: close and open each contactor and lock, light each LED signal")
    probe.add_argument("--offer", type=float, default=0.0, metavar="AMPERES",
                       help="pilot: offer this current (6 to 80) for 5 s while reading the state")
    probe.add_argument("--count", type=int, default=0, help="rfid: stop after this many cards (default: Ctrl-C)")
    probe.add_argument("--timeout", type=float, default=0.0, help="rfid: give up after this many seconds")
    probe.add_argument("--hold", type=float, default=2.0, metavar="SECONDS",
                       help="display: how long every cell stays lit before the size and address are shown")
    probe.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"configuration file (default {DEFAULT_CONFIG})")

    sessions = sub.add_parser("sessions", help="list the transactions recorded on this charger, with energy, "
                                                "plugged, charging and idle time, and cost under [tariff]")
    sessions.add_argument("-c", "--config",
                          help=f"configuration file: its state directory and [tariff] (default {DEFAULT_CONFIG}, "
                               "unless --state-dir is given: then no file is read and no cost is shown)")
    sessions.add_argument("--state-dir")
    sessions.add_argument("--limit", type=int, default=50)
    fmt = sessions.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")

    limits = sub.add_parser("limits", help="show each connector's current limit, why, and the next hours' schedule")
    limits.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"configuration file (default {DEFAULT_CONFIG})")
    limits.add_argument("--state-dir", help="state directory (default: $STATE_DIRECTORY, else the file's [state])")
    limits.add_argument("--hours", type=float, default=24.0, help="how far ahead to show the schedule (default 24)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.config, args.state_dir)
    if args.command == "run":
        return _run(args.config, args.state_dir)
    if args.command == "demo":
        from simulators.demo import run_demo  # the demo drives simulators; only this verb needs them

        return run_demo(args.scenario, args.workdir, args.ocpp)
    if args.command == "sessions":
        return _sessions(args)
    if args.command == "limits":
        settings = _load(args.config, args.state_dir)
        if settings is None:
            return EX_CONFIG
        from .limits_report import print_limits

        return print_limits(settings, resolve_state_dir(settings, args.state_dir, os.environ), args.hours)
    if args.command == "probe":
        settings = _load(args.config)
        if settings is None:
            return EX_CONFIG
        from .probe import run_probe

        return run_probe(args.device, settings, toggle=args.toggle, offer=args.offer,
                         count=args.count, timeout=args.timeout, hold=args.hold)
    return 2


def _load(path: str, state_dir: str | None = None):  # type: ignore[no-untyped-def]
    """The settings, checked against the state directory actually used (option, then
    $STATE_DIRECTORY, then the file's), or None after printing what is wrong."""
    try:
        return load_settings(path, state_dir, os.environ)
    except ConfigError as exc:
        print(f"configuration error{'s' if len(exc.errors) > 1 else ''}:", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return None


def _check_config(path: str, state_dir: str | None = None) -> int:
    settings = _load(path, state_dir)
    if settings is None:
        return EX_CONFIG
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"# {path}: OK (effective configuration, secrets masked)")
    print(render_settings(settings))
    return 0


def _run(path: str, state_dir: str | None) -> int:
    settings = _load(path, state_dir)
    if settings is None:
        return EX_CONFIG
    import structlog

    from . import logs
    from .app import serve

    unusable = check_run_state_dir(settings, state_dir, os.environ)
    if unusable:  # before the log file and the database try to create it
        print("configuration error:", *unusable, sep="\n", file=sys.stderr)
        return EX_CONFIG
    secrets = secret_forms(settings.backend.authorization_key)
    directory = resolve_state_dir(settings, state_dir, os.environ)
    logs.configure(settings.logging.level, settings.logging.format, secrets,
                   file=logs.log_path(directory), file_bytes=int(settings.logging.file_mb * 2**20))
    for warning in settings.warnings:
        structlog.get_logger("agent.settings").warning("configuration warning", detail=warning)
    return serve(settings, directory)


def _sessions(args: argparse.Namespace) -> int:
    from .journal import Journal
    from .store import Database, StoreError

    from .session_costs import figures

    tariff = None
    if args.state_dir and args.config is None:
        state_dir = Path(args.state_dir)
    else:
        settings = _load(args.config or DEFAULT_CONFIG)
        if settings is None:
            return EX_CONFIG
        state_dir = Path(args.state_dir) if args.state_dir else resolve_state_dir(settings, None, os.environ)
        tariff = settings.tariff.tariff() if settings.tariff is not None else None
    db = Database(state_dir)
    if not db.path.exists():
        print(f"error: no state database at {db.path} (has the agent run with this state directory?)", file=sys.stderr)
        return 1
    try:
        db.open()
        journal = Journal(db)
        records = list(reversed(journal.transactions(args.limit)))
        counted = [(r, figures(journal, r, tariff)) for r in records]
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    if args.json:
        print(json.dumps([_as_dict(r, f) for r, f in counted], indent=2))
    elif args.csv:
        rows = [_flat(r, f) for r, f in counted]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["local_id"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        _print_sessions(counted, tariff)
    return 0


def _as_dict(record: TransactionRecord, counted: SessionFigures) -> dict[str, object]:
    """A record for ``--json``: every field, each meter gap with its length in seconds, the
    session's energy and times (seconds) from its timeline, and its cost (null without a
    tariff), amounts as decimal strings."""
    from .session_costs import cost_fields

    row = asdict(record)
    row["meter_gaps"] = [{**asdict(g), "seconds": g.seconds} for g in record.meter_gaps]
    row["id_tag"] = record.id_tag or ""  # a string as always: "" for no token (see _print_sessions)
    row |= _times(counted)
    row["times_uncertain"] = counted.uncertain
    row["cost"] = cost_fields(counted.cost)
    return row


def _times(counted: SessionFigures) -> dict[str, float | None]:
    return {name: None if value is None else round(value, 3) for name, value in (
        ("energy_wh", counted.energy_wh), ("plugged_s", counted.plugged_s), ("charging_s", counted.charging_s),
        ("idle_s", counted.idle_s))}


def _flat(record: TransactionRecord, counted: SessionFigures) -> dict[str, object]:
    """A record for ``--csv``, one cell per value: how many meter gaps, and their total
    seconds (empty while one is still open); ``--json`` has each gap. Energy and times as
    in ``--json``; the cost as its total and currency (empty without a tariff)."""
    row = asdict(record)
    row["id_tag"] = record.id_tag or ""
    row["meter_gaps"] = len(record.meter_gaps)
    total = _gap_seconds(record.meter_gaps)
    row["meter_gap_s"] = "" if total is None else round(total)
    row |= {k: "" if v is None else v for k, v in _times(counted).items()}
    cost = counted.cost
    row |= {"cost": "" if cost is None else str(cost.total), "tax": "" if cost is None else str(cost.tax),
            "currency": "" if cost is None else cost.currency, "times_uncertain": counted.uncertain}
    return row


def _gap_seconds(gaps: tuple[MeterGap, ...]) -> float | None:
    """How long the meter failed in all, or None while it still fails."""
    seconds = [g.seconds for g in gaps]
    return None if None in seconds else sum(s for s in seconds if s is not None)


def _gaps_cell(gaps: tuple[MeterGap, ...]) -> str:
    """The meter gaps column: "-" for a transaction measured throughout."""
    if not gaps:
        return "-"
    total = _gap_seconds(gaps)
    return f"{len(gaps)} ({'failing' if total is None else _duration(total)})"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _gap_line(local_id: int, gap: MeterGap) -> str:
    """One gap in words: when, how long, and the good readings on either side."""
    before = f"{gap.wh_before} Wh before" if gap.wh_before is not None else "no reading before"
    if gap.ended_at is None:
        return f"  local {local_id}: from {gap.began_at}, still failing; {before}"
    span = f"{gap.began_at} to {gap.ended_at} ({_duration(gap.seconds or 0.0)})"
    if gap.wh_after is None:
        return f"  local {local_id}: {span}; {before}, still failing at the stop"
    return f"  local {local_id}: {span}; {before}, {gap.wh_after} Wh after"


def _print_sessions(counted: list[tuple[TransactionRecord, SessionFigures]], tariff: Tariff | None) -> None:
    """The table: "backend" is the id an OCPP 1.6 backend gave, "transaction id" the
    charger's own (the id an OCPP 2.0.1 backend knows the transaction by); idTag "-" for a
    transaction an EV began that no token was ever authorized for (OCPP 2.0.1 TxStartPoint
    EVConnected; "" in --json and --csv). "plugged", "charging" and "idle" are the times
    from the session's timeline (a running one's up to now); "cost" is under [tariff],
    "-" without one. A "?" after them marks a session part of whose time is not known (a
    process died before it learnt the time): listed below the table."""
    from .tariff import money

    header = ("local", "backend", "transaction id", "conn", "idTag", "started", "stopped", "Wh start", "Wh stop", "kWh",
              "plugged", "charging", "idle", "cost", "reason", "meter gaps", "unsent", "abandoned")
    lines = [header]
    for r, f in counted:
        stop = r.meter_stop_wh
        kwh = f"{(stop - r.meter_start_wh) / 1000:.3f}" if stop is not None else "-"
        cost = money(f.cost.total, tariff) if f.cost is not None and tariff is not None else "-"
        mark = " ?" if f.uncertain else ""
        lines.append(
            (
                str(r.local_id), str(r.backend_id or "-"), r.tx_uid or "-", str(r.connector), r.id_tag or "-",
                r.started_at, r.stopped_at or "running", str(r.meter_start_wh),
                str(stop if stop is not None else "-"), kwh,
                *(_duration(s) + mark if s is not None else "-" for s in (f.plugged_s, f.charging_s, f.idle_s)),
                cost + mark, r.stop_reason or "-", _gaps_cell(r.meter_gaps),
                str(r.pending_messages), str(r.abandoned_messages),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    if len(lines) == 1:
        print("(no transactions recorded)")
    unsure = [str(r.local_id) for r, f in counted if f.uncertain]
    if unsure:
        print()
        print(f"times marked ? (local {', '.join(unsure)}): part was stamped by a process that died before it "
              "learnt the time; that stretch's energy is counted, its time is not: check before billing")
    gaps = [_gap_line(r.local_id, g) for r, _ in counted for g in r.meter_gaps]
    if gaps:
        print()
        print("meter gaps (the meter failed while charging went on: no reading covers this energy):")
        print("\n".join(gaps))


if __name__ == "__main__":
    raise SystemExit(main())
