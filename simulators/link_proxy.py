"""A TCP proxy between the agent and its backend, so the link can be cut on demand.

The agent is configured to reach the CSMS through this proxy; ``cut()`` then behaves
like a pulled network cable seen from both ends (connections die abruptly, new ones
are accepted and dropped at once) while the agent, the bench and the CSMS all keep
running. ``restore()`` lets connections through again.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

log = structlog.get_logger(__name__)

CHUNK = 65536


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) -> (host, port); port 0 means pick a free one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class LinkProxy:
    """Forwards every connection on ``listen`` to ``upstream`` until cut."""

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int]) -> None:
        self.listen = listen
        self.upstream = upstream
        self.accepted = 0  # every connection accepted, refused ones included
        self.refused = 0  # connections dropped at once because the link was cut
        self._cut = False
        self._stalled = False
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def state(self) -> str:
        return "cut" if self._cut else "stall" if self._stalled else "up"

    @property
    def port(self) -> int:
        """The port actually listened on (useful when asked for port 0)."""
        if self._server is None:
            raise RuntimeError("proxy not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.listen[0], self.listen[1])

    def cut(self) -> None:
        """Abort every proxied connection on both sides and refuse new ones."""
        if not self._cut:
            log.info("link cut", open_connections=len(self._pairs))
        self._cut = True
        for client, upstream in list(self._pairs):
            client.transport.abort()
            upstream.transport.abort()

    def stall(self) -> None:
        """A half-open link: connections stay open but nothing gets through, no FIN, no RST
        (a router that lost its route, a mobile link gone quiet). Only pings can tell."""
        if not self._stalled:
            log.info("link stalled", open_connections=len(self._pairs))
        self._cut = False
        self._stalled = True

    def restore(self) -> None:
        if self._cut or self._stalled:
            log.info("link restored")
        if self._stalled:
            # Connections that lived through a stall are dead on a real network too.
            for client, upstream in list(self._pairs):
                client.transport.abort()
                upstream.transport.abort()
            for writer in list(self._clients):
                writer.transport.abort()
        self._cut = False
        self._stalled = False

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.transport.abort()
        for _, upstream in list(self._pairs):
            upstream.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._cut:
            self.refused += 1
            writer.transport.abort()
            return
        self._clients.add(writer)
        try:
            if self._stalled:  # a new connection into a stalled link goes nowhere
                with contextlib.suppress(ConnectionError, OSError):
                    while await reader.read(CHUNK):
                        pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError as exc:
                log.warning("link upstream unreachable", upstream=self.upstream, error=str(exc))
                writer.transport.abort()
                return
            if self._cut:  # cut while we were connecting upstream
                up_writer.transport.abort()
                writer.transport.abort()
                return
            pair = (writer, up_writer)
            self._pairs.add(pair)
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._pump(reader, up_writer, pair))
                    tg.create_task(self._pump(up_reader, writer, pair))
            finally:
                self._pairs.discard(pair)
        finally:
            self._clients.discard(writer)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        """Copy one direction (dropping everything while stalled); when it ends, close both
        sides so the other pump ends too."""
        try:
            while data := await reader.read(CHUNK):
                if self._stalled:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for side in pair:
                with contextlib.suppress(Exception):
                    side.close()
