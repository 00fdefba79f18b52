"""The test CSMS: an OCPP 1.6J and 2.0.1 backend that answers like a permissive real one
and remembers.

Each connection speaks the version its subprotocol names (``ocpp2.0.1`` preferred when a
charge point offers both). Every frame is captured at the websocket, before any answering
code sees it or after it produced it, so the message log also holds frames that are
rejected. A 1.6 CALL is answered by the library's routing (which validates it against the
1.6 schemas); a 2.0.1 CALL by :mod:`simulators.csms.v201`, which validates it against the
official 2.0.1 schemas itself. Whatever fails its schema, in either version, is counted
per charge point (:attr:`Csms.schema_violations`). CALLs this backend sends are written
as frames by hand so that payloads travel and come back exactly as on the wire, without
the library's key-case rewriting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hmac
import json
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import ocpp.v16
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, validate_payload
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from websockets import Subprotocol
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from simulators.control import ControlError
from simulators.csms import schemas
from simulators.csms.ledger import (
    CALL,
    CALLERROR,
    CALLRESULT,
    INVALID,
    Entry,
    Frame,
    MessageLog,
    TransactionLedger,
)
from simulators.csms.ledger201 import TransactionLedger201
from simulators.csms.policy import Policy
from simulators.csms.v201 import CALLABLE as CALLABLE_V201
from simulators.csms.v201 import Responder201, frame_error

SUBPROTOCOL = "ocpp1.6"
SUBPROTOCOL_V201 = "ocpp2.0.1"
#: Subprotocol -> OCPP version, in order of preference.
VERSIONS = {SUBPROTOCOL_V201: "2.0.1", SUBPROTOCOL: "1.6"}
ACTIONS = frozenset(a.value for a in Action)

log = logging.getLogger("simulators.csms")


class CsmsError(ControlError):
    """A request to the test CSMS cannot be carried out (not connected, no answer, ...)."""


class _ExpectedOcppErrors(logging.Filter):
    """Drop the library's tracebacks for CALLERRORs it sends on purpose.

    Rejecting a malformed CALL is this backend's job, and the CALLERROR is in the message
    log already; a traceback on stderr for each would bury real faults.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, OCPPError)


def quiet_ocpp_library() -> None:
    """The library logs every frame at INFO, idTags included."""
    lib = logging.getLogger("ocpp")
    lib.setLevel(logging.WARNING)
    if not any(isinstance(f, _ExpectedOcppErrors) for f in lib.filters):
        lib.addFilter(_ExpectedOcppErrors())


def charge_point_id(path: str) -> str:
    """The id is the last path segment: ``/ocpp/CP-1`` is ``CP-1``."""
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


class Responder(ocpp.v16.ChargePoint):
    """Answers one charge point's CALLs and books them; holds no state of its own.

    The inbound loop sets :attr:`frame` to the CALL being routed, so handlers book the
    payload exactly as sent rather than the library's case-converted keywords.
    """

    def __init__(self, cp_id: str, session: Session, csms: Csms) -> None:
        super().__init__(cp_id, session)
        self.csms = csms
        self.frame = Frame(CALL)
        #: The transactionId of the last StartTransaction answered (for ``follow_with``).
        self.last_transaction_id: int | None = None

    async def handle_call(self, entry: Entry, frame: Frame, raw: str) -> None:
        """Count a schema failure the library is about to answer, then let it answer.

        Checked before routing, not after a CALLERROR, so that the count is there by the
        time the charger reads the answer; it costs about what the library's own check
        costs. Only actions this responder handles are checked: any other gets
        NotImplemented or NotSupported from the library before its payload matters.
        """
        if frame.action in self.route_map:
            violation = await schemas.check_v16(frame.action, "Request", frame.payload)
            if violation is not None:
                self.csms.record_violation(self.id, entry, violation)
        self.frame = frame
        await self.route_message(raw)

    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        status, interval = self.csms.policy.boot_reply()
        self.csms.boot_status[self.id] = status
        log.info("%s booted: %s, interval %d s", self.id, status, interval)
        return call_result.BootNotification(
            current_time=self.csms.policy.current_time(), interval=interval, status=status
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self.csms.policy.current_time())

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **_: Any) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status(self, **_: Any) -> call_result.SignedFirmwareStatusNotification:
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **_: Any) -> call_result.SignCertificate:
        return call_result.SignCertificate(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, **_: Any) -> call_result.DataTransfer:
        # A pricing backend (California Pricing whitepaper) takes the charger's ConnectorUnplugged.
        if vendor_id == "org.openchargealliance.costmsg" and message_id == "ConnectorUnplugged":
            return call_result.DataTransfer(status="Accepted")
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=self.csms.policy.id_tag_info(id_tag))

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        self.csms.ledger.meter_values(self.id, self.frame.unique_id, self.frame.payload)
        return call_result.MeterValues()

    @on(Action.start_transaction)
    def on_start_transaction(self, id_tag: str, **_: Any) -> call_result.StartTransaction:
        tx_id = self.csms.ledger.start(self.id, self.frame.unique_id, self.frame.payload)
        self.last_transaction_id = tx_id
        log.info("%s started transaction %d", self.id, tx_id)
        return call_result.StartTransaction(
            transaction_id=tx_id, id_tag_info=self.csms.policy.id_tag_info(id_tag)
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(
        self, id_tag: str | None = None, **_: Any
    ) -> call_result.StopTransaction:
        self.csms.ledger.stop(self.id, self.frame.unique_id, self.frame.payload)
        log.info("%s stopped transaction %s", self.id, self.frame.payload.get("transactionId"))
        info = self.csms.policy.id_tag_info(id_tag) if id_tag is not None else None
        return call_result.StopTransaction(id_tag_info=info)


Matcher = Callable[[Frame], bool]


class Session:
    """One websocket connection of one charge point; also the library's ``connection``.

    ``version`` ("1.6" or "2.0.1") follows the subprotocol the handshake agreed on.
    """

    def __init__(self, cp_id: str, ws: ServerConnection, csms: Csms) -> None:
        self.cp_id = cp_id
        self.ws = ws
        self.csms = csms
        self.version = VERSIONS.get(ws.subprotocol or "", "1.6")
        self.responder: Responder | Responder201 = (
            Responder201(cp_id, self, csms) if self.version == "2.0.1" else Responder(cp_id, self, csms)
        )
        self.replaced = False
        self.finished = asyncio.Event()
        self._waiters: list[tuple[Matcher, asyncio.Future[tuple[Frame, str]]]] = []
        self._call_lock = asyncio.Lock()

    async def send(self, raw: str, binary: bool = False) -> None:
        """Log, then send: the log order is the order frames left this backend."""
        self.csms.log.record_frame(self.cp_id, "out", raw, binary)
        self.csms.notify()
        log.debug("%s <- %s", self.cp_id, raw)
        await self.ws.send(raw.encode("utf-8", "surrogatepass") if binary else raw)

    async def run(self) -> None:
        """Read frames until the connection ends; route CALLs, hand results to waiters."""
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                if self.replaced:
                    break
                binary = isinstance(message, bytes)
                raw = message.decode("utf-8", "replace") if binary else str(message)
                entry, frame = self.csms.log.record_frame(self.cp_id, "in", raw, binary)
                self.csms.notify()
                log.debug("%s -> %s", self.cp_id, raw)
                if frame.type == CALL:
                    garbage = self.csms.take_raw_answer(self.cp_id, frame.action)
                    if garbage is not None:  # played by answer_raw: not routed, not booked
                        await self.send(garbage.replace("$ID", frame.unique_id))
                        continue
                    await self.responder.handle_call(entry, frame, raw)
                    self._follow(frame)
                    continue
                if frame.type == CALLRESULT and entry["action"]:
                    await self._check_result(entry, frame)
                self._deliver(frame, raw)
                if frame.type == INVALID:
                    error = self._frame_error(frame)
                    if error is not None:
                        await self.send(error)

    def _follow(self, frame: Frame) -> None:
        """Send the CALL ``follow_with`` put after this one, once its answer is out (a
        task: this loop must read on for that CALL's answer)."""
        template = self.csms.take_follow_up(self.cp_id, frame.action)
        if template is None:
            return
        action, text = template
        payload = frame.payload if isinstance(frame.payload, dict) else {}
        tx = getattr(self.responder, "last_transaction_id", None)
        text = text.replace("$TRANSACTION_ID", str(tx if tx is not None else 0))
        text = text.replace("$ID_TAG", str(payload.get("idTag", "")))
        task = asyncio.create_task(self.csms.call_followed(self.cp_id, frame.action, action, json.loads(text)))
        self.csms.follow_tasks.add(task)
        task.add_done_callback(self.csms.follow_tasks.discard)

    async def _check_result(self, entry: Entry, frame: Frame) -> None:
        """Hold a result against the schema of the CALL it answers (sent by ``call`` or
        ``send_raw`` alike); a failure is counted, the result delivered all the same."""
        if self.version == "2.0.1":
            violation = schemas.check_v201(entry["action"], "Response", frame.payload)
        else:
            violation = await schemas.check_v16(entry["action"], "Response", frame.payload)
        if violation is not None:
            self.csms.record_violation(self.cp_id, entry, violation)

    def _frame_error(self, frame: Frame) -> str | None:
        """The CALLERROR a malformed frame gets, if its unique id can be read."""
        if self.version == "2.0.1":
            return frame_error(frame)
        if _looks_like_call(frame):
            return json.dumps(
                [4, frame.unique_id, "FormationViolation", "not a valid OCPP-J CALL frame", {}]
            )
        return None

    def end(self) -> None:
        """Fail whoever still waits for an answer on this connection."""
        self.finished.set()
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(CsmsError(f"{self.cp_id} disconnected before answering"))
        self._waiters.clear()

    async def exchange(
        self, raw: str, matches: Matcher, timeout: float, what: str, binary: bool = False
    ) -> tuple[Frame, str]:
        """Send a frame and wait for the frame that answers it, one exchange at a time.

        OCPP allows one outstanding CALL per direction, so exchanges queue; ``timeout``
        covers the queueing too, so that N waiting requests do not take N timeouts.
        """
        fut: asyncio.Future[tuple[Frame, str]] = asyncio.get_running_loop().create_future()
        waiter = (matches, fut)
        try:
            async with asyncio.timeout(timeout), self._call_lock:
                if self.finished.is_set():
                    raise CsmsError(f"{self.cp_id} disconnected")
                self._waiters.append(waiter)
                await self.send(raw, binary)
                return await fut
        except TimeoutError:
            raise CsmsError(f"{self.cp_id} did not answer {what} within {timeout:g} s") from None
        except ConnectionClosed:
            raise CsmsError(f"{self.cp_id} disconnected while sending {what}") from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _deliver(self, frame: Frame, raw: str) -> None:
        for waiter in self._waiters:
            matches, fut = waiter
            if not fut.done() and matches(frame):
                fut.set_result((frame, raw))
                self._waiters.remove(waiter)
                return
        if frame.type in (CALLRESULT, CALLERROR):
            log.debug("%s sent an answer nobody waits for: %s", self.cp_id, raw)


def _looks_like_call(frame: Frame) -> bool:
    parsed = frame.parsed
    return isinstance(parsed, list) and bool(parsed) and parsed[0] == 2 and bool(frame.unique_id)


def _unique_id_of(raw: str) -> str | None:
    with contextlib.suppress(ValueError, RecursionError):
        msg = json.loads(raw)
        if isinstance(msg, list) and len(msg) >= 2 and isinstance(msg[1], str):
            return msg[1]
    return None


class Csms:
    """All charge points, their logs and transactions, and the answering policy.

    ``ledger`` books 1.6 transactions, ``ledger201`` 2.0.1 ones; both note anomalies in
    the same list, so one ``ledger`` command shows a mixed fleet.
    """

    def __init__(self, policy: Policy | None = None, passwords: dict[str, str] | None = None) -> None:
        self.policy = policy or Policy()
        #: Charge points whose handshake is refused, with the HTTP status to refuse with.
        self.refusals: dict[str, int] = {}
        #: HTTP Basic passwords (security profiles 1 and 2): a listed charge point must send its own.
        self.passwords: dict[str, str] = dict(passwords or {})
        #: The TLS context served (wss://), changed in place by ``set_tls`` for later handshakes.
        self.tls: ssl.SSLContext | None = None
        #: What ``reset_policy`` returns to: the passwords given at start-up.
        self.initial_passwords: dict[str, str] = dict(self.passwords)
        #: What ``reset_policy`` returns to: the policy given at start-up.
        self.initial_policy = Policy()
        self.initial_policy.restore(self.policy)
        self.log = MessageLog()
        self.ledger = TransactionLedger()
        self.ledger201 = TransactionLedger201(self.ledger.note_anomaly)
        self.sessions: dict[str, Session] = {}
        self.boot_status: dict[str, str] = {}
        #: The OCPP version of each charge point's latest connection.
        self.versions: dict[str, str] = {}
        #: Per charge point, every received payload that failed its schema, in arrival order.
        self.schema_violations: dict[str, list[Entry]] = {}
        self.port: int | None = None
        #: Frames to answer the next CALLs of (charge point, action) with (``answer_raw``).
        self.raw_answers: dict[tuple[str, str], list[str]] = {}
        #: CALLs to send right after answering the next CALL of (charge point, action): (action, payload text).
        self.follow_ups: dict[tuple[str, str], list[tuple[str, str]]] = {}
        #: Per charge point, each ``follow_with`` CALL sent and its answer, in order.
        self.followed: dict[str, list[dict[str, Any]]] = {}
        self.follow_tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    def answer_raw(self, cp: str, action: str, frames: list[str]) -> None:
        """Answer the next ``len(frames)`` CALLs of ``action`` from ``cp`` with these frames,
        ``$ID`` replaced by the CALL's unique id, instead of the normal answer: a backend
        that answers garbage. Those CALLs are logged but not booked in the ledger."""
        if not all(isinstance(f, str) for f in frames):
            raise ValueError("frames must be a list of strings (the exact text to answer with)")
        self.raw_answers.setdefault((cp, action), []).extend(frames)

    def follow_with(self, cp: str, after: str, action: str, payload: dict[str, Any]) -> None:
        """After answering ``cp``'s next CALL of ``after``, send it the CALL ``action`` with
        ``payload`` at once: a backend that follows an answer with a request (the pricing
        whitepaper's SetUserPrice after Authorize, RunningCost after StartTransaction).
        In ``payload``'s text, ``$TRANSACTION_ID`` becomes the transactionId just answered
        (StartTransaction) and ``$ID_TAG`` the CALL's idTag."""
        if action not in ACTIONS:
            raise ValueError(f"{action!r} is not an OCPP 1.6 action")
        if not isinstance(payload, dict):
            raise ValueError("payload must be a JSON object")
        self.follow_ups.setdefault((cp, after), []).append((action, json.dumps(payload)))

    def take_follow_up(self, cp: str, after: str) -> tuple[str, str] | None:
        queue = self.follow_ups.get((cp, after))
        return queue.pop(0) if queue else None

    async def call_followed(self, cp: str, after: str, action: str, payload: dict[str, Any]) -> None:
        """One ``follow_with`` CALL; its answer is kept for ``followed``."""
        try:
            reply = await self.call(cp, action, payload)
        except (CsmsError, ValueError) as exc:
            reply = {"error": {"code": "NoAnswer", "description": str(exc), "details": {}}}
        self.followed.setdefault(cp, []).append({"after": after, "action": action, "payload": payload, **reply})

    def take_raw_answer(self, cp: str, action: str) -> str | None:
        queue = self.raw_answers.get((cp, action))
        return queue.pop(0) if queue else None

    def record_violation(self, cp: str, entry: Entry, violation: schemas.Violation) -> None:
        """Note a received payload that fails its schema: on its message-log entry (as
        ``schema_violation``) and in the charge point's list."""
        found = violation.as_dict()
        entry["schema_violation"] = found
        self.schema_violations.setdefault(cp, []).append(
            {
                "seq": entry["seq"],
                "time": entry["time"],
                "version": self.versions.get(cp),
                "type": entry["type"],
                "action": entry["action"],
                "unique_id": entry["unique_id"],
                **found,
            }
        )
        log.warning(
            "%s sent a %s %s that fails its schema: %s", cp, entry["action"], entry["type"],
            violation.detail,
        )

    @contextlib.asynccontextmanager
    async def listen(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
        """Serve websockets (wss with ``tls``) until the block exits, then close every connection (1001)."""
        quiet_ocpp_library()
        async with serve(
            self._handle,
            host,
            port,
            subprotocols=[Subprotocol(p) for p in VERSIONS],
            select_subprotocol=_select_subprotocol,
            process_request=self._check_request,
            logger=logging.getLogger("simulators.csms.websockets"),
            ssl=tls,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            scheme = "wss" if tls is not None else "ws"
            log.info("listening on %s://%s:%d/<path>/<charge point id>", scheme, host, self.port)
            yield server

    def notify(self) -> None:
        """Wake everyone waiting for a new log entry."""
        self._changed.set()
        self._changed = asyncio.Event()

    def status(self) -> dict[str, Any]:
        ids = list(dict.fromkeys([*self.log.charge_points, *self.sessions]))
        return {
            "charge_points": [
                {
                    "id": cp,
                    "connected": cp in self.sessions,
                    "boot_status": self.boot_status.get(cp),
                }
                for cp in ids
            ],
            "port": self.port,
            "versions": {cp: self.versions[cp] for cp in ids if cp in self.versions},
            "schema_violations": {cp: len(self.schema_violations.get(cp, [])) for cp in ids},
        }

    async def call(
        self,
        cp: str,
        action: str,
        payload: dict[str, Any],
        timeout: float = 30.0,
        validate: bool = True,
    ) -> dict[str, Any]:
        """Send a CALL and return its answer as received: ``result`` or ``error``.

        The charge point's version decides which actions exist and which schemas apply.
        """
        session = self._session(cp)
        v201 = session.version == "2.0.1"
        if action not in (CALLABLE_V201 if v201 else ACTIONS):
            raise ValueError(
                f"{action!r} is not an OCPP {session.version} action a CSMS sends"
                if v201 else f"{action!r} is not an OCPP 1.6 action"
            )
        if not isinstance(payload, dict):
            raise ValueError("payload must be a JSON object")
        unique_id = str(uuid.uuid4())
        if validate and v201:
            problem = schemas.check_v201(action, "Request", payload)
            if problem is not None:
                raise ValueError(
                    f"request is not a valid OCPP 2.0.1 {action} payload: {problem.detail}"
                )
        elif validate:
            await _validate(Call(unique_id, action, copy.deepcopy(payload)), "request")
        raw = json.dumps([2, unique_id, action, payload])
        frame, _ = await session.exchange(
            raw,
            lambda f: f.type in (CALLRESULT, CALLERROR) and f.unique_id == unique_id,
            timeout,
            action,
        )
        if frame.type == CALLERROR:
            p = frame.payload
            return {
                "error": {
                    "code": p["errorCode"],
                    "description": p["errorDescription"],
                    "details": p["errorDetails"],
                }
            }
        reply: dict[str, Any] = {"result": frame.payload}
        if v201:
            problem = schemas.check_v201(action, "Response", frame.payload)
            if problem is not None:
                reply["schema_error"] = (
                    f"answer is not a valid OCPP 2.0.1 {action} payload: {problem.detail}"
                )
            return reply
        try:
            await _validate(CallResult(unique_id, copy.deepcopy(frame.payload), action), "answer")
        except ValueError as exc:
            reply["schema_error"] = str(exc)
        return reply

    async def send_raw(
        self, cp: str, frame: str, timeout: float = 30.0, expect_reply: bool = True,
        binary: bool = False, any_id: bool = False,
    ) -> dict[str, Any]:
        """Send any frame (text, or ``binary``: its UTF-8 bytes) and return what answers it.

        ``any_id``: an answer with the unique id "-1" (to a frame the charge point could
        not read) counts too, so a fuzzer need not know how much of a frame was readable.
        See docs/csms.md.
        """
        if not isinstance(frame, str):
            raise ValueError("frame must be a string (the exact text to send)")
        session = self._session(cp)
        if not expect_reply:
            await session.send(frame, binary)
            return {}
        unique_id = _unique_id_of(frame)
        ids = {unique_id, "-1"} if any_id else {unique_id}
        if unique_id is None:
            matches: Matcher = lambda f: f.type in (CALLERROR, INVALID)  # noqa: E731
        else:
            matches = lambda f: f.type != CALL and f.unique_id in ids  # noqa: E731
        answer, raw = await session.exchange(frame, matches, timeout, "the raw frame", binary)
        return {"reply": answer.parsed if answer.parsed is not None else raw}

    async def disconnect(self, cp: str, abrupt: bool = False) -> None:
        """Close a charge point's websocket (``abrupt``: drop TCP without a close frame)."""
        session = self._session(cp)
        if abrupt:
            session.ws.transport.abort()
        else:
            await session.ws.close(1000, "closed by the CSMS control channel")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                await session.finished.wait()

    async def wait_for(
        self, cp: str, action: str, count: int = 1, since_seq: int = 0, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Inbound CALLs of ``action`` after ``since_seq``, once ``count`` were answered.

        Answered, not just received: by then the ledger shows what they did, so a caller
        may read it at once.
        """
        found: list[dict[str, Any]] = []
        answered: set[str] = set()
        calls: list[dict[str, Any]] = []
        cursor = since_seq
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    # Only what arrived since the last look: a wait over a long drain
                    # must not cost the backend more with every message.
                    for e in self.log.messages(cp, cursor):
                        cursor = e["seq"]
                        if e["direction"] == "out" and e["type"] in (CALLRESULT, CALLERROR):
                            answered.add(e["unique_id"])
                        elif e["direction"] == "in" and e["type"] == CALL and e["action"] == action:
                            calls.append(e)
                    found = [e for e in calls if e["unique_id"] in answered]
                    if len(found) >= count:
                        return found
                    await changed.wait()
        except TimeoutError:
            raise CsmsError(
                f"timed out after {timeout:g} s waiting for {count} {action} from {cp}"
                f" after seq {since_seq} (got {len(found)})"
            ) from None

    def _session(self, cp: str) -> Session:
        session = self.sessions.get(cp)
        if session is None:
            connected = ", ".join(self.sessions) or "none"
            raise CsmsError(f"charge point {cp!r} is not connected (connected: {connected})")
        return session

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse (HTTP 400) a handshake without an id or without an OCPP subprotocol
        this backend speaks (ocpp1.6, ocpp2.0.1)."""
        cp_id = charge_point_id(request.path)
        if not cp_id:
            return connection.respond(
                HTTPStatus.BAD_REQUEST, "connect to ws://host:port/<path>/<charge point id>\n"
            )
        offered = [
            p.strip()
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in header.split(",")
        ]
        refusal = self.refusals.get(cp_id)
        if refusal is not None:
            self.log.record_event(cp_id, "rejected", reason=f"refused with HTTP {refusal}", status=refusal)
            self.notify()
            return connection.respond(HTTPStatus(refusal), "refused by the test backend\n")
        expected = self.passwords.get(cp_id)
        if expected is not None:
            problem = _basic_auth_problem(request.headers.get("Authorization"), cp_id, expected)
            if problem is not None:
                self.log.record_event(cp_id, "rejected", reason=problem, status=401)
                self.notify()
                log.warning("%s refused: %s", cp_id, problem)
                response = connection.respond(HTTPStatus.UNAUTHORIZED, f"{problem}\n")
                response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
                return response
        if not set(VERSIONS) & set(offered):
            self.log.record_event(
                cp_id, "rejected", reason="neither ocpp1.6 nor ocpp2.0.1 offered", offered=offered
            )
            self.notify()
            log.warning("%s refused: subprotocols offered %s, not ocpp1.6 or ocpp2.0.1", cp_id, offered)
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                "this backend speaks only the ocpp1.6 and ocpp2.0.1 subprotocols\n",
            )
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        cp_id = charge_point_id(ws.request.path if ws.request else "")
        session = Session(cp_id, ws, self)
        self.versions[cp_id] = session.version
        old = self.sessions.get(cp_id)
        if old is not None:
            old.replaced = True
            self.log.record_event(cp_id, "disconnected", reason="replaced by a new connection")
        self.sessions[cp_id] = session
        remote = ws.remote_address
        self.log.record_event(
            cp_id,
            "connected",
            remote=f"{remote[0]}:{remote[1]}" if remote else None,
            path=ws.request.path if ws.request else None,
            subprotocol=ws.subprotocol,
            basic_auth_user=_basic_auth_user(ws.request.headers.get("Authorization") if ws.request else None),
            client_certificate=_client_certificate_subject(ws),
        )
        self.notify()
        log.info("%s connected from %s", cp_id, remote)
        try:
            async with asyncio.TaskGroup() as tasks:
                if old is not None:
                    tasks.create_task(old.ws.close(1000, "replaced by a new connection"))
                await session.run()
        finally:
            session.end()
            if self.sessions.get(cp_id) is session:
                del self.sessions[cp_id]
            if not session.replaced:
                self.log.record_event(
                    cp_id, "disconnected", code=ws.close_code, reason=ws.close_reason
                )
                log.info("%s disconnected (%s)", cp_id, ws.close_code)
            self.notify()


def _select_subprotocol(_: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """The newest version the charge point offers; the handshake check refused the rest."""
    return next((Subprotocol(p) for p in VERSIONS if p in offered), None)


async def _validate(message: Call | CallResult, what: str) -> None:
    try:
        await validate_payload(message, "1.6")
    except OCPPError as exc:
        cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
        raise ValueError(
            f"{what} is not a valid OCPP 1.6 {message.action} payload: {cause or exc.description}"
        ) from None


def _basic_auth_problem(header: str | None, cp_id: str, password: str) -> str | None:
    """Why an Authorization header does not carry ``cp_id``'s password, or None if it does."""
    if not header:
        return "no Authorization header"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return f"Authorization scheme {scheme!r}, not Basic"
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except ValueError:
        return "malformed Basic credentials"
    user, sep, given = decoded.partition(b":")
    if not sep:
        return "malformed Basic credentials"
    if user != cp_id.encode():
        return "the Basic user name is not the charge point id"
    if not hmac.compare_digest(given, password.encode()):
        return "wrong password"
    return None


def _client_certificate_subject(ws: ServerConnection) -> str | None:
    """The commonName of a verified client certificate (security profile 3), if any."""
    peer = ws.transport.get_extra_info("peercert") if ws.transport is not None else None
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return "(no commonName)"


def server_tls_context(certificate: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """TLS for ``wss://``: this backend's certificate, and with ``client_ca`` the demand for a
    client certificate signed by it (security profile 3)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    return context


def send_tls_alerts() -> None:
    """Make this process's asyncio send the TLS alert of a failed server handshake, as
    any real TLS server does (Python 3.11's asyncio closes the socket with the alert still
    unsent): a charger refused for its TLS version then sees "protocol version" (its
    InvalidTLSVersion case) instead of a bare connection reset. For the test CSMS only."""
    from asyncio import sslproto

    original = sslproto.SSLProtocol._on_handshake_complete
    if getattr(original, "sends_alerts", False):
        return

    def on_handshake_complete(self: Any, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None:
            with contextlib.suppress(Exception):
                self._process_outgoing()  # the alert OpenSSL wrote for the peer
        original(self, handshake_exc)

    on_handshake_complete.sends_alerts = True  # type: ignore[attr-defined]
    sslproto.SSLProtocol._on_handshake_complete = on_handshake_complete  # type: ignore[method-assign]


def change_tls(context: ssl.SSLContext, certificate: str | None = None, key: str | None = None,
               max_version: str | None = None) -> None:
    """Serve the handshakes from now on with another certificate and key, and/or only up
    to ``max_version`` ("TLSv1_1": a backend too old for a charger, which needs 1.2; "":
    back to the newest). Connections already open keep theirs."""
    if certificate is not None and key is not None:
        context.load_cert_chain(certificate, key)
    if max_version is not None:
        if max_version:
            version = ssl.TLSVersion[max_version]
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 allows TLS below 1.2 only at level 0
            context.maximum_version = version
        else:
            context.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers("DEFAULT")


def _basic_auth_user(header: str | None) -> str | None:
    """The user name of an HTTP Basic Authorization header (never the password), if any."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return "(malformed)"
    return decoded.split(":", 1)[0]
