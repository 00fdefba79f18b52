"""Logging: JSON lines under systemd, readable lines on a terminal, secrets never.

structlog renders both our own events and the standard library's (the ``ocpp`` and
``websockets`` libraries log through ``logging``), so there is one format per process.
The ``ocpp`` library logs every frame at INFO, idTags included: it is held at WARNING.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import structlog

MASK = "****"
_SECRET_FIELDS = {"authorization_key", "password", "secret", "token", "authorizationkey"}


class _Redactor:
    """Replaces the values of secret fields, and any known secret value inside text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        for key, value in list(event.items()):
            if key.lower() in _SECRET_FIELDS and value:
                event[key] = MASK
            elif isinstance(value, str) and self.secrets:
                for secret in self.secrets:
                    if secret in value:
                        value = value.replace(secret, MASK)
                event[key] = value
        return event


def choose_format(fmt: str, environ: Mapping[str, str] = os.environ) -> str:
    """'json' under systemd (JOURNAL_STREAM set) or when asked, else 'console'."""
    if fmt == "auto":
        return "json" if environ.get("JOURNAL_STREAM") else "console"
    return fmt


def configure(level: str = "info", fmt: str = "auto", secrets: Iterable[str] = ()) -> None:
    """Set up structlog and the standard library's logging for this process."""
    rendered = choose_format(fmt)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _Redactor(secrets),
    ]
    renderer: Any
    if rendered == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    # pymodbus logs every timeout at ERROR, once per poll: the meter driver logs a failing
    # meter once itself, when it fails and when it recovers (an SD card is not a log sink).
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
