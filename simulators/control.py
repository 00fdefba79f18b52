"""The control channel: JSON lines over a local (Unix domain) socket.

Used by the simulated bench and the test CSMS so that a person (``ladda-sim``), the
demo and any outside test harness drive them the same way. One request per line,
one reply per request, in order:

    -> {"cmd": "plug", "connector": 1, "max_current": 16}
    <- {"ok": true}
    -> {"cmd": "nonsense"}
    <- {"ok": false, "error": "unknown command 'nonsense'; known: plug, ..."}

A reply always has ``ok``; a failed one has ``error``; anything else a command
returns is merged into the reply. See docs/control-channel.md for every command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Reply = dict[str, Any]
Command = Callable[..., Awaitable[Reply | None]]

MAX_LINE = 1 << 20


class ControlError(Exception):
    """A control request failed; the message is the peer's explanation."""


class CommandTable:
    """Maps command names to coroutine functions taking the request's fields."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def command(self, name: str) -> Callable[[Command], Command]:
        def register(func: Command) -> Command:
            self._commands[name] = func
            return func

        return register

    def add(self, name: str, func: Command) -> None:
        self._commands[name] = func

    @property
    def names(self) -> list[str]:
        return sorted(self._commands)

    async def dispatch(self, request: Any) -> Reply:
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": 'a request is a JSON object with a string "cmd"'}
        args = dict(request)
        name = args.pop("cmd")
        func = self._commands.get(name)
        if func is None:
            return {"ok": False, "error": f"unknown command {name!r}; known: {', '.join(self.names)}"}
        try:
            result = await func(**args)
        except TypeError as exc:
            return {"ok": False, "error": f"{name}: bad arguments ({exc})"}
        except (ValueError, KeyError, LookupError, ControlError) as exc:
            return {"ok": False, "error": f"{name}: {exc}"}
        reply: Reply = {"ok": True}
        if result:
            reply.update(result)
        return reply


async def serve(path: str | os.PathLike[str], table: CommandTable) -> asyncio.AbstractServer:
    """Listen on a Unix socket at ``path`` (replacing a stale one) and answer requests."""
    sock_path = Path(path)
    sock_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                except json.JSONDecodeError as exc:
                    reply: Reply = {"ok": False, "error": f"not JSON: {exc}"}
                else:
                    reply = await table.dispatch(request)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # the process is shutting down with a client still connected
        finally:
            writer.close()

    return await asyncio.start_unix_server(handle, path=str(sock_path), limit=MAX_LINE)


class ControlClient:
    """An asyncio client keeping one connection open for many requests."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def request(self, cmd: str, **args: Any) -> Reply:
        """Send one command; return its reply, or raise :class:`ControlError`."""
        async with self._lock:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_unix_connection(
                    self.path, limit=MAX_LINE
                )
            assert self._reader is not None
            self._writer.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            await self._writer.drain()
            line = await self._reader.readline()
        if not line:
            await self.close()
            raise ControlError(f"{self.path}: connection closed")
        reply: Reply = json.loads(line)
        if not reply.get("ok"):
            raise ControlError(reply.get("error", "failed"))
        return reply

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def request_sync(path: str | os.PathLike[str], cmd: str, socket_timeout: float = 60.0, **args: Any) -> Reply:
    """Blocking one-shot request, for command-line use and synchronous test code.

    ``socket_timeout`` bounds the wait for the reply; a command's own ``timeout`` field
    (e.g. of ``wait_for``) passes through in ``args``.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(socket_timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ControlError(f"{path}: connection closed")
            buf += chunk
    reply: Reply = json.loads(buf)
    if not reply.get("ok"):
        raise ControlError(reply.get("error", "failed"))
    return reply
