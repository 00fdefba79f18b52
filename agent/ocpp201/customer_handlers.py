"""Customer information (OCPP 2.0.1 N09 Get Customer Information, N10 Clear Customer
Information), spelled over the core's :mod:`agent.customer_data`, which finds and clears
what the charger holds about a token and says what it keeps and why.

The answer to CustomerInformation:

- **Invalid** when the request names no customer, or more than one way (exactly one of
  idToken, customerIdentifier, customerCertificate; TC_N_33_CS).
- **Rejected** when it asks for nothing (report and clear both false: N09.FR.07,
  N10.FR.07), or when the state database cannot be read or written (a clear is then not
  made: the one commit failed whole).
- **Accepted** otherwise, and then, after the reply, NotifyCustomerInformation messages
  (``data`` at most 512 characters each, ``seqNo`` from 0, ``tbc`` true on all but the
  last): what is held (N09.FR.05), or one message saying no data was found (N09.FR.06,
  N10.FR.04). A clear without a report still sends one message saying what was cleared
  (N10.FR.06); a clear with one reports what was held and what the clear did (N10.FR.03).

Identifiers: an **idToken** is looked up by its value, whatever its type (the core keys
tokens by value, see :mod:`agent.customer_data`; the type is reported where the journal
has it). The log names the request by its requestId and the token by a salted hash only. A **customerIdentifier** is matched against
token values too: the charger holds no customer data but under tokens, so a backend
whose customer identifiers are its tokens finds them, and any other identifier finds
nothing (TC_N_62_CS). A **customerCertificate** finds nothing: this charger has no ISO
15118 contract certificates and learns nothing through one, so it holds nothing about a
certificate's owner; the request is Accepted and answered "no data" (N09.FR.06), not
Rejected: the charger can process it, and its answer is true.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from .. import clock
from ..customer_data import CustomerRecords, describe, describe_erasure, token_digest
from ..store import StoreError

if TYPE_CHECKING:
    from ..charger import ChargerRuntime
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

#: NotifyCustomerInformationRequest.data is at most this long (the schema's maxLength).
DATA_MAX = 512


class CustomerHandlers:
    """The block's request; a mixin of :class:`agent.ocpp201.handlers.Handlers`."""

    session: Ocpp201Link
    runtime: ChargerRuntime

    if TYPE_CHECKING:
        def after_reply(self, callback: Any) -> None: ...

    @on(Action.customer_information)
    async def on_customer_information(self, request_id: int, report: bool, clear: bool,
                                      customer_certificate: dict[str, Any] | None = None,
                                      id_token: dict[str, Any] | None = None,
                                      customer_identifier: str | None = None, **_: Any) -> Any:
        named = [n for n, v in (("idToken", id_token), ("customerIdentifier", customer_identifier),
                                ("customerCertificate", customer_certificate)) if v is not None]
        if len(named) != 1:
            why = "no customer named" if not named else f"several identifiers: {', '.join(named)}"
            log.info("customer information refused", request_id=request_id, answer="Invalid", why=why)
            return call_result.CustomerInformation(status="Invalid", status_info={
                "reason_code": "MissingParam" if not named else "TooManyElements",
                "additional_info": f"exactly one of idToken, customerIdentifier, customerCertificate ({why})"})
        if not report and not clear:
            log.info("customer information refused", request_id=request_id, answer="Rejected", why="nothing asked")
            return call_result.CustomerInformation(status="Rejected", status_info={
                "reason_code": "InvalidValue", "additional_info": "neither report nor clear asked for"})
        if customer_certificate is not None:
            subject = f"customerCertificate serial {customer_certificate.get('serial_number', '?')}"
            logged = "customerCertificate"
            lines = ["no data found: this charger holds no ISO 15118 contract certificates, nor anything "
                     "learnt through one"]
            if clear:
                lines.append("cleared: nothing (nothing is held)")
        else:
            token = str(id_token.get("id_token", "")) if id_token is not None else str(customer_identifier)
            subject = (f"idToken {token} ({id_token.get('type', '?')})" if id_token is not None
                       else f"customerIdentifier {token} (matched against token values)")
            logged = f"{'idToken' if id_token is not None else 'customerIdentifier'} #{token_digest(token)}"
            try:
                lines = await self._gather(token, report, clear)
            except StoreError as exc:
                log.error("customer information failed: state database", request_id=request_id, error=str(exc))
                return call_result.CustomerInformation(status="Rejected", status_info={
                    "reason_code": "InternalError", "additional_info": "the charger's records cannot be read now"})
        log.info("customer information", request_id=request_id, report=report, clear=clear, customer=logged)
        pages = notify_pages([f"{subject}:", *lines], request_id, _wire_time(clock.current().now()))
        self.after_reply(lambda: self.session.send_later("NotifyCustomerInformation", pages))
        return call_result.CustomerInformation(status="Accepted")

    async def _gather(self, token: str, report: bool, clear: bool) -> list[str]:
        """The report's lines; with ``clear``, the data is cleared after it was read
        (N10.FR.03 reports what was cleared)."""
        runtime = self.runtime
        records = CustomerRecords(runtime.db, runtime.state, runtime.journal, runtime.authorizer.local_list)
        data, erasure = await records.gather(token, clear)
        held = describe(data)
        if erasure is None:
            return held or ["no data found"]
        if data.empty:
            return ["no data found", *describe_erasure(erasure, data)]
        log.warning("customer data cleared on the backend's request", transactions_cleared=len(erasure.cleared),
                    transactions_kept=len(erasure.kept_until_delivered), cache_entries=erasure.cache_entries)
        done = describe_erasure(erasure, data)
        return [*held, *done] if report else done


def _wire_time(moment: datetime) -> str:
    """UTC with milliseconds and Z, as every stamp this charger sends."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def notify_pages(lines: list[str], request_id: int, generated_at: str) -> list[dict[str, Any]]:
    """NotifyCustomerInformation payloads carrying ``lines`` (newline-separated), each
    ``data`` at most DATA_MAX characters: lines are not split unless one alone is longer.
    ``seq_no`` from 0, ``tbc`` true on all but the last."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        pieces = [line[i:i + DATA_MAX] for i in range(0, len(line), DATA_MAX)] or [""]
        for piece in pieces:
            joined = f"{current}\n{piece}" if current else piece
            if len(joined) <= DATA_MAX:
                current = joined
            else:
                chunks.append(current)
                current = piece
    chunks.append(current)
    return [{"data": chunk, "tbc": n < len(chunks) - 1, "seq_no": n, "generated_at": generated_at,
             "request_id": request_id} for n, chunk in enumerate(chunks)]
