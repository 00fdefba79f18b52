"""``ladda-sim csms``: run the test CSMS until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from simulators.control import serve as serve_control
from simulators.csms.control import build_commands
from simulators.csms.policy import BOOT_STATUSES, Policy
from simulators.csms.server import Csms, send_tls_alerts, server_tls_context

log = logging.getLogger("simulators.csms")


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT (port 0 picks a free one), got {text!r}"
        )
    return host.strip("[]"), int(port)


def _seconds(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected whole seconds >= 0, got {text!r}")
    return int(text)


def _password(text: str) -> tuple[str, str]:
    cp, sep, password = text.partition("=")
    if not sep or not cp or not password:
        raise argparse.ArgumentTypeError(f"expected CHARGE_POINT_ID=PASSWORD, got {text!r}")
    return cp, password


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ladda-sim csms",
        description="A test OCPP 1.6J and 2.0.1 backend that records every frame, keeps a "
        "transaction ledger and counts schema violations.",
    )
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 9000), metavar="HOST:PORT",
                        help="websocket address (default 127.0.0.1:9000; port 0 picks a free port)")
    parser.add_argument("--control", required=True, metavar="PATH",
                        help="Unix socket for the control channel")
    parser.add_argument("--ready-file", metavar="PATH",
                        help='once listening, write {"port": N, "pid": P} here (atomically)')
    parser.add_argument("--heartbeat-interval", type=_seconds, default=300, metavar="N",
                        help="interval in an Accepted BootNotification answer (default 300 s)")
    parser.add_argument("--boot-status", choices=BOOT_STATUSES, default="Accepted",
                        help="status in BootNotification answers (default Accepted)")
    security = parser.add_argument_group("security profiles (default: plain ws://, no authentication)")
    security.add_argument("--tls-cert", metavar="PEM",
                          help="serve wss:// with this certificate (chain); needs --tls-key")
    security.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    security.add_argument("--client-ca", metavar="PEM",
                          help="with --tls-cert: demand a client certificate signed by this CA (profile 3)")
    security.add_argument("--password", type=_password, action="append", default=[], metavar="ID=PASSWORD",
                          help="demand HTTP Basic auth with PASSWORD from charge point ID, else HTTP 401 "
                               "(profiles 1 and 2); repeatable; the control command set_password changes it")
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default INFO")
    return parser


def _write_ready(path: Path, port: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
    os.replace(tmp, path)


def _ignore_cancelled_stream_callbacks(
    loop: asyncio.AbstractEventLoop, context: dict[str, object]
) -> None:
    """Python 3.11 logs a spurious error for each control connection still open at exit.

    Its stream server's done-callback calls ``task.exception()`` on the cancelled
    connection task (fixed in 3.12); everything else goes to the default handler.
    """
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


async def run(args: argparse.Namespace) -> None:
    """Serve until a stop signal; leave no socket or ready file behind."""
    host, port = args.listen
    csms = Csms(Policy(heartbeat_interval=args.heartbeat_interval, boot_status=args.boot_status),
                passwords=dict(args.password))
    tls = server_tls_context(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
    csms.tls = tls
    if tls is not None:
        send_tls_alerts()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_ignore_cancelled_stream_callbacks)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready = Path(args.ready_file) if args.ready_file else None
    async with csms.listen(host, port, tls):
        control = await serve_control(args.control, build_commands(csms))
        try:
            if ready is not None:
                assert csms.port is not None
                await asyncio.to_thread(_write_ready, ready, csms.port)
            log.info("control channel on %s", args.control)
            await stop.wait()
            log.info("stopping")
        finally:
            control.close()
            with contextlib.suppress(FileNotFoundError):
                Path(args.control).unlink()
            if ready is not None:
                with contextlib.suppress(FileNotFoundError):
                    ready.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        parser.error("--client-ca needs --tls-cert and --tls-key (client certificates need TLS)")
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_level != "DEBUG":  # one line per connection would drown the useful ones
        logging.getLogger("simulators.csms.websockets").setLevel(logging.WARNING)
    try:
        asyncio.run(run(args))
    except OSError as exc:  # ssl.SSLError too: an unusable certificate or key
        log.error("cannot start: %s", exc)
        return 1
    return 0
