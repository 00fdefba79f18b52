"""The agent's one connection to the bench's hardware socket.

All sim drivers of an agent share one :class:`BenchLink`: requests are matched to
replies by id, and pushed events (pilot changes, card taps) are routed to the
drivers that subscribed. :meth:`BenchLink.run` keeps the connection alive for the
agent's lifetime, because the bench, like real hardware on a flaky bus, may come
up after the agent or go away and come back. Protocol: docs/control-channel.md.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from typing import Any

import structlog

from drivers.protocols import DeviceError, PilotState

log = structlog.get_logger(__name__)

DEVICE = "bench"
MAX_LINE = 1 << 20
MIN_DELAY = 0.2
MAX_DELAY = 2.0


class BenchLink:
    """JSON-lines client of the bench; constructing it does no I/O."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 2.0) -> None:
        self.path = str(path)
        self.timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pilot_queues: dict[int, list[asyncio.Queue[PilotState]]] = {}
        self._pilot_states: dict[int, PilotState] = {}
        self._card_queues: list[asyncio.Queue[str]] = []
        self._ever_connected = False
        self._loss_logged = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- requests ---------------------------------------------------------------------

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return the bench's reply; raise :class:`DeviceError` on failure."""
        writer = self._writer
        if writer is None or not self._connected.is_set():
            raise DeviceError(DEVICE, f"{op}: not connected to {self.path}")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(json.dumps({"id": request_id, "op": op, **fields}).encode() + b"\n")
            async with asyncio.timeout(self.timeout):
                await writer.drain()
                reply = await future
        except TimeoutError:
            raise DeviceError(DEVICE, f"{op}: no reply within {self.timeout:g} s") from None
        except ConnectionError as exc:
            raise DeviceError(DEVICE, f"{op}: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)
        if not reply.get("ok"):
            # The bench understood and refused (unknown connector, bad value): retrying won't help.
            raise DeviceError(DEVICE, f"{op}: {reply.get('error', 'failed')}", retry=False)
        return reply

    async def request_as(self, device: str, op: str, **fields: Any) -> dict[str, Any]:
        """:meth:`request`, with failures naming the driver's device as well as the bench."""
        try:
            return await self.request(op, **fields)
        except DeviceError as exc:
            raise DeviceError(device, str(exc), retry=exc.retry) from exc

    async def probe(self, device: str, connector: int | None = None) -> None:
        """What a sim driver's ``open()`` does: wait for the bench, check the connector exists."""
        try:
            await self.wait_connected(self.timeout)
        except DeviceError as exc:
            raise DeviceError(device, str(exc)) from exc
        reply = await self.request_as(device, "hello")
        count = reply.get("connectors")
        if connector is not None and (not isinstance(count, int) or not 1 <= connector <= count):
            raise DeviceError(device, f"the bench has no connector {connector} (it has {count})", retry=False)

    async def wait_connected(self, timeout: float) -> None:
        """Wait until the link is up; raise :class:`DeviceError` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise DeviceError(DEVICE, f"no connection to {self.path} within {timeout:g} s") from None

    # -- pushed events ----------------------------------------------------------------

    def subscribe_pilot(self, connector: int) -> asyncio.Queue[PilotState]:
        """A queue of the connector's pilot states, starting with the last one known."""
        queue: asyncio.Queue[PilotState] = asyncio.Queue()
        if connector in self._pilot_states:
            queue.put_nowait(self._pilot_states[connector])
        self._pilot_queues.setdefault(connector, []).append(queue)
        return queue

    def subscribe_cards(self) -> asyncio.Queue[str]:
        """A queue of card UIDs tapped from now on."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._card_queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        """Stop feeding a queue from :meth:`subscribe_pilot` or :meth:`subscribe_cards`."""
        self._card_queues = [q for q in self._card_queues if q is not queue]
        for connector, queues in self._pilot_queues.items():
            self._pilot_queues[connector] = [q for q in queues if q is not queue]

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message and "event" not in message:
            future = self._pending.get(message["id"]) if isinstance(message["id"], int) else None
            if future is not None and not future.done():
                future.set_result(message)
            return
        event = message.get("event")
        if event == "pilot":
            connector, state = message.get("connector"), PilotState(message.get("state"))
            if not isinstance(connector, int):
                raise ValueError(f"pilot event without a connector: {message}")
            self._pilot_states[connector] = state
            for pilot_queue in self._pilot_queues.get(connector, []):
                pilot_queue.put_nowait(state)
        elif event == "card":
            uid = message.get("uid")
            if not isinstance(uid, str):
                raise ValueError(f"card event without a uid: {message}")
            for card_queue in self._card_queues:
                card_queue.put_nowait(uid.upper())

    # -- connection -------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect forever; run it as a task of the agent's TaskGroup."""
        delay = MIN_DELAY
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(self.path, limit=MAX_LINE)
            except OSError as exc:
                if not self._loss_logged:
                    log.warning("bench unreachable", path=self.path, error=str(exc))
                    self._loss_logged = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
                continue
            delay = MIN_DELAY
            log.info(
                "bench connection restored" if self._ever_connected else "bench connected", path=self.path
            )
            self._ever_connected = True
            self._loss_logged = False
            try:
                await self._serve(reader, writer)
            finally:
                self._disconnect(writer)
            log.warning("bench connection lost", path=self.path)
            self._loss_logged = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._connected.set()
        try:
            while line := await reader.readline():
                try:
                    message = json.loads(line)
                    if not isinstance(message, dict):
                        raise ValueError("not a JSON object")
                    self._dispatch(message)
                except ValueError as exc:
                    log.warning(
                        "bench sent nonsense", line=line[:200].decode(errors="replace"), error=str(exc)
                    )
        except (ConnectionError, ValueError):
            pass

    def _disconnect(self, writer: asyncio.StreamWriter) -> None:
        self._connected.clear()
        self._writer = None
        writer.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"connection to {self.path} lost"))
        self._pending.clear()
