"""The OCPP-J 2.0.1 endpoint of one connection: the shared framing (``agent.link``) with
2.0.1's spelling of errors and its actions."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from ..link import dialect
from ..link.rpc import CallFailed, Endpoint
from ..link.throttle import Throttle

__all__ = ["CallFailed", "Rpc", "DIALECT"]

DIALECT = dialect.v201(frozenset(a.value for a in Action))


class Rpc(Endpoint):
    """OCPP-J 2.0.1 framing and request/response matching for one connection."""

    def __init__(self, cp_id: str, connection: Any, response_timeout: float, throttle: Throttle | None = None) -> None:
        super().__init__(cp_id, connection, response_timeout, DIALECT, call_result, throttle)

    async def answers_pings(self, timeout: float) -> bool:
        """Whether the backend's end of the websocket still answers a ping within
        ``timeout`` seconds: a CALL left unanswered on a link that pings through is the
        backend's silence about that message (E13), not a dead link."""
        try:
            pong = await self._connection.ping()
            async with asyncio.timeout(timeout):
                await pong
        except Exception:  # noqa: BLE001 - closed, closing or silent: not a working link
            return False
        return True
