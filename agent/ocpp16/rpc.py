"""A thin wrapper of the ``ocpp`` library's 1.6 ChargePoint: one per websocket connection.

It fixes what the library leaves to its users, so the rest of the adapter need not
care: every inbound frame gets an answer (malformed JSON included), CALLERROR codes
are spelled as OCPP 1.6 spells them, calls always raise on CALLERROR, and work that
must happen *after* a reply was sent (a triggered message, a reset) is queued through
:meth:`after_reply` instead of the library's ``@after`` hooks, whose exceptions are lost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.messages import Call, CallError, unpack
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action

_V16_ACTIONS = frozenset(a.value for a in Action)

# The library raises some errors with their OCPP 2.0.1 names.
_V16_ERROR_CODES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}


class CallFailed(Exception):
    """The backend answered a call with CALLERROR, or not at all in time."""

    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action}: {code}: {description}")
        self.action = action
        self.code = code


class Rpc(ChargePoint):
    """OCPP-J framing and request/response matching for one connection."""

    def __init__(self, cp_id: str, connection: Any, response_timeout: float) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout)
        self._after: list[Callable[[], None]] = []

    def after_reply(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (synchronous, non-blocking) once the current reply is sent."""
        self._after.append(callback)

    async def route_message(self, raw_msg: Any) -> None:
        try:
            unpack(raw_msg)
        except OCPPError as error:
            await self._send(CallError(_unique_id_of(raw_msg), error.code, error.description, {}).to_json())
            return
        try:
            await super().route_message(raw_msg)
        finally:
            callbacks, self._after = self._after, []
            for callback in callbacks:
                callback()

    async def _handle_call(self, msg: Call) -> Any:
        # OCPP-J 1.6 section 4.2.3: NotImplemented is an action the receiver does not know,
        # NotSupported one it knows but does not support (the library has them swapped).
        if msg.action not in self.route_map:
            error = NotSupportedError if msg.action in _V16_ACTIONS else OcppNotImplemented
            raise error(details={"cause": f"{msg.action} is not handled by this charge point"})
        return await super()._handle_call(msg)

    async def _send(self, message: str) -> None:
        if message.startswith("[4,"):
            frame = json.loads(message)
            frame[2] = _V16_ERROR_CODES.get(frame[2], frame[2])
            frame[4] = _jsonable(frame[4])
            message = json.dumps(frame, separators=(",", ":"))
        await super()._send(message)

    async def request(self, payload: Any) -> Any:
        """Send a CALL and return the typed result; raise CallFailed on error or timeout."""
        action = type(payload).__name__
        try:
            result = await self.call(payload, suppress=False)
        except OCPPError as error:
            raise CallFailed(action, error.code, error.description) from error
        except asyncio.TimeoutError as error:
            raise CallFailed(action, "Timeout", f"no answer within {self._response_timeout:g} s") from error
        except (ConnectionClosed, OSError) as error:
            raise CallFailed(action, "ConnectionLost", str(error) or type(error).__name__) from error
        # Python 3.11's asyncio.wait_for (which the library's call() uses) drops a
        # cancellation that arrives together with the answer: honour it here, or a task
        # being cancelled would carry on as if nothing happened.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError()
        return result


def _unique_id_of(raw: Any) -> str:
    """The message id of a frame we could not unpack, or '-1' when there is none."""
    try:
        frame = json.loads(raw)
    except (ValueError, TypeError):
        return "-1"
    if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str):
        return frame[1]
    return "-1"


def _jsonable(details: Any) -> dict[str, Any]:
    """Error details as plain JSON, without the library's echo of the whole offending frame."""
    if not isinstance(details, dict):
        return {}
    return {
        str(k): v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
        for k, v in details.items()
        if k != "ocpp_message"
    }
