"""Logging: JSON lines under systemd, readable lines on a terminal, secrets never
(every event passes :mod:`agent.redaction` last, tracebacks included).

structlog renders both our own events and the standard library's (the ``ocpp`` and
``websockets`` libraries log through ``logging``), so there is one format per process.
The ``ocpp`` library logs every frame at INFO, idTags included: it is held at WARNING.

The agent also keeps its own copy of the events, as JSON lines in
``<state_dir>/logs/ladda.log`` rotated by size, so that diagnostics can include recent
logs without the permissions (or the presence) of the systemd journal.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog

from .redaction import MASK, Redactor

__all__ = ["MASK", "configure", "choose_format", "log_path", "kept_log_files"]

LOG_DIR = "logs"
LOG_FILE = "ladda.log"
#: Rotated files kept besides the current one: the configured total is split over all of them.
LOG_BACKUPS = 3


def choose_format(fmt: str, environ: Mapping[str, str] = os.environ) -> str:
    """'json' under systemd (JOURNAL_STREAM set) or when asked, else 'console'."""
    if fmt == "auto":
        return "json" if environ.get("JOURNAL_STREAM") else "console"
    return fmt


def log_path(state_dir: Path) -> Path:
    """Where the agent keeps its own log file."""
    return state_dir / LOG_DIR / LOG_FILE


def kept_log_files(state_dir: Path) -> list[Path]:
    """The log files that exist, oldest first (``ladda.log.3`` ... ``ladda.log``)."""
    current = log_path(state_dir)
    names = [current.with_name(f"{LOG_FILE}.{n}") for n in range(LOG_BACKUPS, 0, -1)] + [current]
    return [path for path in names if path.is_file()]


def _file_handler(path: Path, total_bytes: int) -> logging.Handler:
    """A size-rotated file of JSON lines; the total of all its files stays under ``total_bytes``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return logging.handlers.RotatingFileHandler(
        path, maxBytes=max(1, total_bytes // (LOG_BACKUPS + 1)), backupCount=LOG_BACKUPS, encoding="utf-8"
    )


def configure(
    level: str = "info",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    file: Path | None = None,
    file_bytes: int = 0,
) -> None:
    """Set up structlog and the standard library's logging for this process.

    With ``file`` and ``file_bytes`` > 0, the same events are also written to ``file`` as
    JSON lines, whatever the console format. A file that cannot be opened (read-only or
    full state directory) is reported on the console and the agent logs on without it.
    """
    rendered = choose_format(fmt)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text first, so that the redactor (always last) sees them too.
        structlog.processors.format_exc_info,
        Redactor(secrets),
    ]
    renderer: Any
    if rendered == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout if rendered == "json" else sys.stderr)
    handler.setFormatter(formatter)
    handlers: list[logging.Handler] = [handler]
    file_problem: str | None = None
    if file is not None and file_bytes > 0:
        try:
            to_file = _file_handler(file, file_bytes)
        except OSError as exc:
            file_problem = f"{file}: {exc.strerror or exc}"
        else:
            # JSON in the file whatever the console shows: diagnostics filter it by timestamp.
            to_file.setFormatter(structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(),
                ],
            ))
            handlers.append(to_file)
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    # pymodbus logs every timeout at ERROR, once per poll: the meter driver logs a failing
    # meter once itself, when it fails and when it recovers (an SD card is not a log sink).
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if file_problem is not None:
        structlog.get_logger(__name__).warning("cannot keep a log file; logging to the console only",
                                               problem=file_problem)
