"""The ``ladda-sim`` command: the test backend, the simulated bench, and verbs to drive it.

    ladda-sim csms  --listen 127.0.0.1:9000 --control /tmp/csms.sock
    ladda-sim bench --connectors 2 --hardware-socket state/bench.sock --control /tmp/bench.sock ...
    ladda-sim plug --connector 1 --max-current 16     (and unplug, pause, resume, tap, link, status)
    ladda-sim house-load 20                           (the house's load the grid meter sees, A per phase)
    ladda-sim screen                                  (what the charger's display shows)

The verbs talk to a running bench over its control socket (``--socket``, or
``$LADDA_BENCH_CONTROL``); see docs/control-channel.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .control import ControlError, request_sync

DEFAULT_CONTROL = "bench-control.sock"


def _verbs() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--socket",
        default=os.environ.get("LADDA_BENCH_CONTROL", DEFAULT_CONTROL),
        help="the bench's control socket (default $LADDA_BENCH_CONTROL or ./bench-control.sock)",
    )
    parser = argparse.ArgumentParser(
        prog="ladda-sim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("csms", help="run the test backend (see ladda-sim csms --help)", add_help=False)
    sub.add_parser("bench", help="run the simulated charger hardware (see ladda-sim bench --help)", add_help=False)
    plug = sub.add_parser("plug", help="plug an EV into a connector", parents=[common])
    plug.add_argument("--connector", type=int, default=1)
    plug.add_argument("--max-current", type=float, default=32.0, help="the EV's maximum current (A)")
    for verb, text in (("unplug", "unplug the EV"), ("pause", "the EV stops asking for energy"), ("resume", "the EV asks for energy again")):
        p = sub.add_parser(verb, help=text, parents=[common])
        p.add_argument("--connector", type=int, default=1)
    tap = sub.add_parser("tap", help="tap a card on the reader", parents=[common])
    tap.add_argument("uid", help="card UID, e.g. 04A1B2C3")
    link = sub.add_parser("link", help="cut or restore the backend link", parents=[common])
    link.add_argument("state", choices=("cut", "stall", "up"))
    rcd = sub.add_parser("rcd", help="trip a connector's RCD (--reset: reset it)", parents=[common])
    rcd.add_argument("--connector", type=int, default=1)
    rcd.add_argument("--reset", action="store_true")
    estop = sub.add_parser("estop", help="press the emergency stop (--release: release it)", parents=[common])
    estop.add_argument("--release", action="store_true")
    fault = sub.add_parser("contactor-fault", help="weld a contactor, make it fail to close, or repair it",
                           parents=[common])
    fault.add_argument("fault", choices=("welded", "fails_to_close", "none"))
    fault.add_argument("--connector", type=int, default=1)
    diode = sub.add_parser("diode", help="short the EV's pilot diode (--repair: repair it)", parents=[common])
    diode.add_argument("--connector", type=int, default=1)
    diode.add_argument("--repair", action="store_true")
    reader = sub.add_parser("reader", help="pull the PC/SC card reader out (--plug: plug it back)",
                            parents=[common])
    reader.add_argument("--plug", action="store_true")
    sub.add_parser("pcscd-restart", help="restart pcscd under the card reader's driver", parents=[common])
    house = sub.add_parser("house-load", help="set the house's own load the grid meter sees (A per phase)",
                           parents=[common])
    house.add_argument("current_a", type=float, nargs="+", metavar="AMPERES",
                       help="one value for every phase, or one per phase (e.g. 20, or 20 8 8)")
    grid = sub.add_parser("grid-meter", help="make the grid meter silent, or answer again", parents=[common])
    grid.add_argument("state", choices=("silent", "answer"))
    sub.add_parser("screen", help="show what the charger's display shows", parents=[common])
    display = sub.add_parser("display", help="unplug the display from the I2C bus (--plug: plug it back)",
                             parents=[common])
    display.add_argument("--plug", action="store_true")
    sub.add_parser("status", help="show the bench's state", parents=[common])
    return parser


def _request(args: argparse.Namespace) -> dict[str, Any]:
    verb = args.verb
    fields: dict[str, Any] = {}
    if verb == "plug":
        fields = {"connector": args.connector, "max_current": args.max_current}
    elif verb in ("unplug", "pause", "resume"):
        fields = {"connector": args.connector}
    elif verb == "tap":
        fields = {"uid": args.uid}
    elif verb == "link":
        fields = {"state": args.state}
    elif verb == "rcd":
        fields = {"connector": args.connector, "tripped": not args.reset}
    elif verb == "estop":
        fields = {"pressed": not args.release}
    elif verb == "contactor-fault":
        verb, fields = "contactor_fault", {"connector": args.connector,
                                           "fault": None if args.fault == "none" else args.fault}
    elif verb == "diode":
        verb, fields = "pilot_diode", {"connector": args.connector, "ok": args.repair}
    elif verb == "reader":
        fields = {"plugged": args.plug}
    elif verb == "pcscd-restart":
        verb = "pcscd_restart"
    elif verb == "house-load":
        values = args.current_a
        verb, fields = "house_load", {"current_a": values[0] if len(values) == 1 else values}
    elif verb == "display":
        fields = {"plugged": args.plug}
    elif verb == "grid-meter":
        verb, fields = "grid_meter_silent", {"silent": args.state == "silent"}
    return request_sync(args.socket, verb, **fields)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "csms":
        from .csms.cli import main as csms_main

        return csms_main(argv[1:])
    if argv and argv[0] == "bench":
        from .bench_cli import main as bench_main

        return bench_main(argv[1:])
    args = _verbs().parse_args(argv)
    try:
        reply = _request(args)
    except (ControlError, OSError) as exc:
        print(f"ladda-sim {args.verb}: {exc} (control socket {args.socket})", file=sys.stderr)
        return 1
    reply.pop("ok", None)
    if reply:
        print(json.dumps(reply, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
