"""One OCPP-J connection's endpoint: answers the backend's CALLs, matches the answers to
the charger's own CALLs, and survives whatever the backend sends.

Every frame that can be read as a CALL gets exactly one answer: the handler's result,
or a CALLERROR whose code says what was wrong (OCPP-J 1.6 section 4.2.3; 2.0.1 part 4,
section 4.3). Answers to the charger's own calls are checked like requests: an answer
with an undefined error code, the wrong shape or a number the charger cannot store
fails that one call (:class:`CallFailed`) and nothing else. Only a transport failure
ends the connection.

Handlers are the adapter's methods marked with the ``ocpp`` library's ``@on``; they get
the payload's fields as snake_case keyword arguments and return the library's payload
dataclass. They must never send a CALL themselves (the answer could not be read while
they wait): work that follows the reply is queued with :meth:`Endpoint.after_reply`.
Nothing here logs a payload: bad input is logged by kind, throttled, with the id, the
action and why, never the values (which may be keys or passwords).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from decimal import Decimal
from types import ModuleType
from typing import Any

import structlog
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.routing import create_route_map
from websockets.exceptions import ConnectionClosed

from .dialect import Dialect, ErrorKind
from .frames import Call, Error, Frame, Result, RpcError, Unusable, parse, shown
from .schema import Schemas, SchemaViolation
from .throttle import Throttle

log = structlog.get_logger("agent.link")

#: Frames larger than this are checked against their schema in a worker thread, so that
#: a megabyte of local list does not hold up the event loop (and the charger) meanwhile.
_LARGE_FRAME = 64 * 1024


class CallFailed(Exception):
    """The backend answered a call with CALLERROR, with an unusable answer, or not at all."""

    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action}: {code}: {description}")
        self.action = action
        self.code = code
        self.description = description


class Endpoint:
    """OCPP-J framing and request/response matching for one websocket connection."""

    def __init__(
        self,
        cp_id: str,
        connection: Any,
        response_timeout: float,
        dialect: Dialect,
        results: ModuleType,
        throttle: Throttle | None = None,
    ) -> None:
        self.id = cp_id
        self._connection = connection
        self._response_timeout = response_timeout
        self.dialect = dialect
        self._results = results
        self.schemas = Schemas(dialect)
        self.route_map = create_route_map(self)
        #: Actions this charger knows but does not offer (a feature profile left out):
        #: answered NotSupported like an action without a handler.
        self.declined: frozenset[str] = frozenset()
        #: Shared by the link's connections when given, so that a backend that reconnects
        #: after each bad frame is still logged once a minute per kind.
        self.throttle = throttle if throttle is not None else Throttle()
        self._call_lock = asyncio.Lock()
        self._pending: tuple[str, str, asyncio.Future[Frame]] | None = None
        self._after: list[Callable[[], None]] = []

    # ------------------------------------------------------------ inbound
    async def start(self) -> None:
        """Read and route frames until the connection ends (then raise its ConnectionClosed)."""
        try:
            while True:
                await self.route_message(await self._connection.recv())
        except BaseException as exc:
            self._fail_pending(exc)
            raise
        finally:
            self.throttle.flush()

    def after_reply(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (synchronous, non-blocking) once the current reply is sent."""
        self._after.append(callback)

    async def route_message(self, message: str | bytes) -> None:
        large = len(message) > _LARGE_FRAME
        try:
            # A frame near the 1 MiB limit takes a good part of a second to read and check:
            # not on the event loop, which also runs the charger.
            frame = await asyncio.to_thread(parse, message) if large else parse(message)
        except RpcError as error:
            self.throttle.note(f"frame:{error.kind.name}", "refused a frame that is not OCPP-J", level="warning",
                               unique_id=shown(error.unique_id), code=self.dialect.code(error.kind),
                               why=error.description, size=len(message))
            await self._send_error(error.unique_id, error.kind, error.description)
            return
        except Unusable as why:
            self.throttle.note("frame:unusable", "ignored a frame", level="info", why=str(why), size=len(message))
            return
        if isinstance(frame, Call):
            await self._answer(frame, large)
        else:
            self._take_answer(frame)

    async def _answer(self, call: Call, large: bool) -> None:
        try:
            try:
                payload = await self._handle(call, large)
            except RpcError as error:
                self.throttle.note(f"call:{error.kind.name}:{self._action_kind(call.action)}",
                                   "refused a request", level="warning", action=shown(call.action),
                                   unique_id=call.unique_id, code=self.dialect.code(error.kind),
                                   why=error.description)
                await self._send_error(call.unique_id, error.kind, error.description)
            except (ConnectionClosed, asyncio.CancelledError):
                raise
            except Exception:  # noqa: BLE001 - a defect of ours: the connection must not pay for it
                self.throttle.note(f"bug:{self._action_kind(call.action)}", "a request could not be processed",
                                   level="error", action=shown(call.action), exc_info=True)
                await self._send_error(call.unique_id, ErrorKind.INTERNAL, "the request could not be processed")
            else:
                await self._send(json.dumps([3, call.unique_id, payload], separators=(",", ":"), default=_jsonable))
        finally:
            callbacks, self._after = self._after, []
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # noqa: BLE001 - our bug; the connection must not pay for it
                    log.exception("work after a reply failed", action=call.action)

    def _action_kind(self, action: str) -> str:
        return action if action in self.dialect.actions else "(undefined)"

    async def _handle(self, call: Call, large: bool) -> dict[str, Any]:
        """The result payload for ``call``; RpcError says which CALLERROR answers it instead."""
        action = call.action
        if action not in self.dialect.actions:
            raise RpcError(ErrorKind.NOT_IMPLEMENTED, f"{shown(action)} is not an OCPP {self.dialect.version} action")
        self.admit(action)
        handlers = self.route_map.get(action, {})
        handler = handlers.get("_on_action")
        if handler is None or action in self.declined or not self.schemas.has_request(action):
            raise RpcError(ErrorKind.NOT_SUPPORTED, f"{action} is not supported by this charge point")
        try:
            if large:
                await asyncio.to_thread(self.schemas.check_call, action, call.payload)
            else:
                self.schemas.check_call(action, call.payload)
        except SchemaViolation as violation:
            raise RpcError(violation.kind, violation.description) from None
        arguments = camel_to_snake_case(call.payload)
        try:
            inspect.signature(handler).bind(**arguments)
        except TypeError:
            raise RpcError(ErrorKind.FORMAT, "the payload does not fit the action") from None
        try:
            response = handler(**arguments)
            if inspect.isawaitable(response):
                response = await response
        except RpcError:
            raise
        except OCPPError as error:
            raise RpcError(self.dialect.kind_of(error.code), error.description or "") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - our bug: log it (throttled) and answer InternalError
            self.throttle.note(f"bug:{action}:{type(exc).__name__}", "request handler failed", level="error",
                               action=action, exc_info=True)
            raise RpcError(ErrorKind.INTERNAL, f"{action} could not be processed") from None
        result = snake_to_camel_case(remove_nones(serialize_as_dict(response) if is_dataclass(response)
                                                  else response))
        try:
            self.schemas.check_result(action, result)
        except SchemaViolation as violation:
            log.error("answer does not match its schema", action=action, why=violation.description)
            raise RpcError(ErrorKind.INTERNAL, f"{action} could not be processed") from None
        return result

    def admit(self, action: str) -> None:
        """Raise RpcError if this connection may not serve ``action`` now (a protocol's rule
        about when the backend may ask; none here)."""

    async def _send_error(self, unique_id: str, kind: ErrorKind, description: str) -> None:
        code = self.dialect.code(kind)
        frame = [4, unique_id, code, description[:255] or self.dialect.description(code), {}]
        await self._send(json.dumps(frame, separators=(",", ":")))

    # ------------------------------------------------------------ outbound
    def _take_answer(self, frame: Result | Error) -> None:
        pending = self._pending
        if pending is None or pending[0] != frame.unique_id or pending[2].done():
            self.throttle.note("answer:unmatched", "ignored an answer to no outstanding request", level="info",
                               unique_id=shown(frame.unique_id))
            return
        pending[2].set_result(frame)
        self.answered(pending[1], frame)

    def answered(self, action: str, frame: Result | Error) -> None:
        """Told of each answer as it is read, before any frame after it is routed (the
        caller awaiting it resumes later): for a protocol rule that must hold from the very
        next request on. Nothing here."""

    def _fail_pending(self, error: BaseException) -> None:
        pending = self._pending
        if pending is not None and not pending[2].done():
            pending[2].set_exception(ConnectionClosedWhileWaiting(str(error) or type(error).__name__))

    async def call(self, payload: Any) -> Any:
        """Send ``payload`` (a library payload dataclass) as a CALL; return the typed result.

        Raises CallFailed for a CALLERROR, an unusable answer or no answer in time.
        OCPP-J allows one outstanding CALL per direction: calls queue on a lock, and each
        one's timeout starts when it is sent.
        """
        action = type(payload).__name__
        body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
        try:
            self.schemas.check_call(action, body)
        except SchemaViolation as violation:
            log.error("request does not match its schema, not sent", action=action, why=violation.description)
            raise CallFailed(action, self.dialect.code(ErrorKind.INTERNAL), violation.description) from None
        async with self._call_lock:
            unique_id = str(uuid.uuid4())
            answered: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
            self._pending = (unique_id, action, answered)
            try:
                await self._send(json.dumps([2, unique_id, action, body], separators=(",", ":"),
                                            default=_jsonable))
                async with asyncio.timeout(self._response_timeout):
                    answer = await answered
            except TimeoutError:
                raise CallFailed(action, "Timeout", f"no answer within {self._response_timeout:g} s") from None
            finally:
                self._pending = None
        return self._typed(action, answer)

    def _typed(self, action: str, answer: Frame) -> Any:
        if isinstance(answer, Error):
            code = self.dialect.defined_code(answer.code)
            if code is None:
                self.throttle.note("answer:undefined-code", "the backend answered with an undefined error code",
                                   action=action, code=shown(answer.code))
                raise CallFailed(action, self.dialect.code(ErrorKind.GENERIC),
                                 f"undefined error code {shown(answer.code)}: {shown(answer.description, 80)}")
            raise CallFailed(action, code, shown(answer.description, 80))
        assert isinstance(answer, Result)
        problem = answer.problem
        if problem is None:
            try:
                self.schemas.check_result(action, answer.payload)
            except SchemaViolation as violation:
                problem = violation.description
        if problem is None:
            try:
                return getattr(self._results, action)(**camel_to_snake_case(answer.payload))
            except TypeError:
                problem = "the answer does not fit the action"
        self.throttle.note(f"answer:invalid:{action}", "the backend's answer is unusable", action=action, why=problem)
        raise CallFailed(action, self.dialect.code(ErrorKind.FORMAT), problem)

    async def request(self, payload: Any) -> Any:
        """:meth:`call`, with a lost connection reported as CallFailed("ConnectionLost")."""
        action = type(payload).__name__
        try:
            result = await self.call(payload)
        except (ConnectionClosed, ConnectionClosedWhileWaiting, OSError) as error:
            raise CallFailed(action, "ConnectionLost", str(error) or type(error).__name__) from error
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError()
        return result

    async def _send(self, message: str) -> None:
        await self._connection.send(message)


class ConnectionClosedWhileWaiting(ConnectionError):
    """The connection ended while a call waited for its answer."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "to_json"):
        return value.to_json()
    return str(value)
