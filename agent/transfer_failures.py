"""What kind of failure a transfer ended in, as far as the server's answer tells.

Produced by :mod:`agent.transfer` (HTTP status codes, FTP replies), carried by
``TransferError.kind``, and read by the log job (:mod:`agent.diagnostics`), whose
statuses have a word for each (OCPP's LogStatusNotification: PermissionDenied,
NotSupportedOperation, BadMessage, else UploadFailure). Its own module so that neither
the URL checks nor the job need the transfer clients to name one.
"""

from __future__ import annotations

import enum


class TransferFailure(str, enum.Enum):
    """Refused for want of rights, an operation the server does not offer, an answer that
    makes no sense; else just failed."""

    FAILED = "failed"
    PERMISSION_DENIED = "permission denied"
    NOT_SUPPORTED = "not supported"
    BAD_MESSAGE = "bad message"
