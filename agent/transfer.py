"""File transfers to and from the backend's servers: diagnostics up, firmware down.

OCPP 1.6 leaves the protocol to the URL the backend sends: ``ftp://`` (the most common,
often with ``user:password@``), ``http://`` and ``https://``. The standard library
speaks all three; its calls block, so each transfer runs in a thread of its own. A
cancelled transfer asks its thread to stop at the next block, and every network
operation of an attempt times out, so no thread outlives its caller by more than one
timeout. The thread is a daemon, not one of asyncio's executor threads: a transfer stuck
on a silent server must not hold up the agent's exit, which waits for those.

Every failure is one :class:`TransferError` whose message names the URL, password
masked, and says what failed, in the words a technician would look up: connection
refused, host not found, no response, the HTTP status, the FTP server's reply.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ftplib
import functools
import http.client
import os
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import unquote

from .locations import MASK, SCHEMES, TransferError, check_url, in_directory, masked_url, with_file_name
from .locations import Target as _Target
from .locations import target as _target
from .transfer_failures import TransferFailure

__all__ = ["MASK", "SCHEMES", "TransferError", "check_url", "download", "in_directory", "masked_url", "upload",
           "with_file_name"]

#: No network operation of an attempt (connect, a read, a write) may stall longer than this.
DEFAULT_TIMEOUT_S = 60.0
BLOCK = 64 * 1024

T = TypeVar("T")


class _Cancelled(Exception):
    """The caller gave up on the transfer: its thread stops at the next block."""


class _Refused(Exception):
    """The download would break its budget (too large, or the disk too full): trying again
    cannot help."""


#: How many bytes between two looks at the free space while downloading.
_FREE_CHECK_BYTES = 2**20


@dataclass
class _Budget:
    """What a download may write: at most ``max_bytes`` (None: no cap), and never so much
    that less than ``keep_free`` bytes stay free on the file system it writes to (the
    journal of transactions shares it)."""

    max_bytes: int | None
    keep_free: int
    _checked_at: int = 0

    def announced(self, size: int | None, out: BinaryIO) -> None:
        """The server told the size up front: refuse before fetching a byte."""
        if size is None:
            return
        if self.max_bytes is not None and size > self.max_bytes:
            raise _Refused(f"the file is {_mib(size)}, more than the {_mib(self.max_bytes)} allowed")
        free = _free_bytes(out)
        if free - size < self.keep_free:
            raise _Refused(f"the file is {_mib(size)} and only {_mib(free)} is free on the disk; "
                           f"{_mib(self.keep_free)} must stay free")

    def received(self, total: int, out: BinaryIO) -> None:
        if self.max_bytes is not None and total > self.max_bytes:
            raise _Refused(f"more than the {_mib(self.max_bytes)} allowed was sent")
        if self.keep_free and total - self._checked_at >= _FREE_CHECK_BYTES:
            self._checked_at = total
            free = _free_bytes(out)
            if free < self.keep_free:
                raise _Refused(f"the disk is too full to go on: {_mib(free)} free after {_mib(total)}; "
                               f"{_mib(self.keep_free)} must stay free")


def _free_bytes(out: BinaryIO) -> int:
    stats = os.fstatvfs(out.fileno())
    return stats.f_bavail * stats.f_frsize


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


# ------------------------------------------------------------------ the async interface


async def upload(url: str, path: Path, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Store the file ``path`` at ``url`` (HTTP PUT, or FTP STOR in passive mode); a URL
    ending in ``/`` gets the file's name appended. Returns where it went (password masked)."""
    target = _target(with_file_name(url, path.name))
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed by the thread's function
    except OSError as exc:
        raise TransferError(f"upload to {target.shown}: cannot read {path}: {exc.strerror or exc}",
                            retry=False) from None
    sender = _http_put if target.scheme in ("http", "https") else _ftp_store
    await _in_thread(f"upload to {target.shown}", target, timeout,
                     lambda stop: _closing(source, sender, target, timeout, stop))
    return target.shown


async def download(url: str, dest: Path, timeout: float = DEFAULT_TIMEOUT_S, *, max_bytes: int | None = None,
                   keep_free: int = 0) -> int:
    """Fetch ``url`` into the file ``dest`` (HTTP GET, or FTP RETR in passive mode);
    returns the number of bytes. ``dest`` appears only once complete: a failed or
    cancelled download leaves no partial file behind. A file larger than ``max_bytes``,
    or one that would leave less than ``keep_free`` bytes free on the disk, is refused
    (before it is fetched when the server tells its size) with a TransferError that
    says so and is not worth retrying."""
    target = _target(url)
    if target.path.endswith("/") or not target.path:
        raise TransferError(f"download from {target.shown}: the URL names a directory, not a file", retry=False)
    partial = dest.with_name(dest.name + ".part")
    try:
        out = open(partial, "wb")  # noqa: SIM115 - closed by the thread's function
    except OSError as exc:
        raise TransferError(f"download from {target.shown}: cannot write {partial}: {exc.strerror or exc}",
                            retry=False) from None
    fetcher = _http_get if target.scheme in ("http", "https") else _ftp_retrieve
    budget = _Budget(max_bytes, keep_free)
    try:
        size = await _in_thread(f"download from {target.shown}", target, timeout,
                                lambda stop: _closing(out, functools.partial(fetcher, budget=budget), target, timeout, stop))
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size


def _closing(file: BinaryIO, func: Callable[[_Target, BinaryIO, float, threading.Event], T], target: _Target,
             timeout: float, stop: threading.Event) -> T:
    with file:
        return func(target, file, timeout, stop)


async def _in_thread(what: str, target: _Target, timeout: float, work: Callable[[threading.Event], T]) -> T:
    """Run ``work`` in a daemon thread; on cancellation, tell it to stop. Every failure
    becomes one TransferError (the cause is dropped: library errors may quote the URL)."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[T] = loop.create_future()
    stop = threading.Event()

    def settle(result: T | None, error: BaseException | None) -> None:
        if outcome.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)  # type: ignore[arg-type]

    def attempt() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = work(stop)
        except _Cancelled:
            return  # the caller gave up: nobody waits for an answer
        except _Refused as exc:
            error = TransferError(f"{what} refused: {exc}", retry=False)
        except Exception as exc:  # noqa: BLE001 - every library failure is described, never leaked
            error = TransferError(f"{what} failed: {target.scrub(_describe(exc, target, timeout))}",
                                  kind=_kind(exc))
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=attempt, name="ladda-transfer", daemon=True).start()
    try:
        return await outcome
    except asyncio.CancelledError:
        stop.set()
        raise


#: HTTP statuses and FTP reply codes that say more than "failed".
_HTTP_KINDS = {401: TransferFailure.PERMISSION_DENIED, 403: TransferFailure.PERMISSION_DENIED, 405: TransferFailure.NOT_SUPPORTED, 501: TransferFailure.NOT_SUPPORTED}
_FTP_KINDS = {"530": TransferFailure.PERMISSION_DENIED, "532": TransferFailure.PERMISSION_DENIED, "553": TransferFailure.PERMISSION_DENIED,
              "500": TransferFailure.NOT_SUPPORTED, "502": TransferFailure.NOT_SUPPORTED, "504": TransferFailure.NOT_SUPPORTED}


def _kind(exc: BaseException) -> TransferFailure:
    """What kind of failure ``exc`` is, for a status that names it."""
    if isinstance(exc, urllib.error.HTTPError):
        return _HTTP_KINDS.get(exc.code, TransferFailure.FAILED)
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return _kind(exc.reason)
    if isinstance(exc, (ftplib.error_perm, ftplib.error_temp)):
        return _FTP_KINDS.get(str(exc).strip()[:3], TransferFailure.FAILED)
    if isinstance(exc, OSError):  # the link failed (a connection reset is no answer at all)
        return TransferFailure.FAILED
    if isinstance(exc, (ftplib.error_proto, ftplib.error_reply, http.client.HTTPException)):
        return TransferFailure.BAD_MESSAGE  # an answer the protocol has no place for
    return TransferFailure.FAILED


def _describe(exc: BaseException, target: _Target, timeout: float) -> str:
    """What went wrong, in words, for the common failures of each protocol."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return _describe(reason, target, timeout) if isinstance(reason, BaseException) else str(reason)
    if isinstance(exc, ftplib.Error):
        reply = str(exc).strip() or type(exc).__name__
        return f"FTP server replied {reply!r}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {target.host!r} (DNS: {exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {target.netloc}"
    if isinstance(exc, TimeoutError):
        return f"no response from {target.netloc} within {timeout:g} s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the server's certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, EOFError):
        return f"connection closed by {target.netloc}"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP response from {target.netloc}: {type(exc).__name__} {exc}".rstrip()
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({target.netloc})"
    return f"{type(exc).__name__}: {exc}"


class _Guarded:
    """A file read in blocks, stopping when the transfer was cancelled."""

    def __init__(self, file: BinaryIO, stop: threading.Event) -> None:
        self.file = file
        self.stop = stop

    def read(self, size: int = BLOCK) -> bytes:
        if self.stop.is_set():
            raise _Cancelled()
        return self.file.read(size if size and size > 0 else BLOCK)


# ------------------------------------------------------------------ HTTP(S)


def _opener() -> urllib.request.OpenerDirector:
    # No proxy from the environment (a charger talks to its backend's servers directly,
    # as the websocket does), and the system's CA bundle for https.
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl.create_default_context())
    )


def _authorized(request: urllib.request.Request, target: _Target) -> urllib.request.Request:
    """HTTP Basic from the URL's ``user:password@``; never repeated to a redirect's target."""
    if target.user:
        token = base64.b64encode(f"{target.user}:{target.password}".encode()).decode()
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _http_put(target: _Target, source: BinaryIO, timeout: float, stop: threading.Event) -> None:
    size = os.fstat(source.fileno()).st_size
    request = _authorized(urllib.request.Request(
        target.plain_url(), data=_Guarded(source, stop), method="PUT",  # type: ignore[arg-type]
        headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
    ), target)
    with _opener().open(request, timeout=timeout) as response:
        response.read()


def _http_get(target: _Target, out: BinaryIO, timeout: float, stop: threading.Event, budget: _Budget) -> int:
    request = _authorized(urllib.request.Request(target.plain_url()), target)
    total = 0
    with _opener().open(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length", "")
        budget.announced(int(length) if length.isdigit() else None, out)
        while block := response.read(BLOCK):
            if stop.is_set():
                raise _Cancelled()
            total += len(block)
            budget.received(total, out)
            out.write(block)
    return total


# ------------------------------------------------------------------ FTP


def _ftp_session(target: _Target, timeout: float) -> ftplib.FTP:
    """Connected, logged in (anonymous without a user), passive, binary."""
    ftp = ftplib.FTP(timeout=timeout)
    try:
        ftp.connect(target.host, target.port)
        ftp.login(target.user, target.password)  # ftplib logs in as anonymous when user is ""
        ftp.set_pasv(True)
    except BaseException:
        ftp.close()
        raise
    return ftp


def _ftp_place(ftp: ftplib.FTP, target: _Target) -> str:
    """Change to the URL's directories (RFC 1738: one CWD per segment, from the login
    directory); return the file's name."""
    *directories, name = [unquote(segment) for segment in target.path.split("/")]
    for directory in directories:
        if directory:
            ftp.cwd(directory)
    return name


def _ftp_store(target: _Target, source: BinaryIO, timeout: float, stop: threading.Event) -> None:
    ftp = _ftp_session(target, timeout)
    try:
        name = _ftp_place(ftp, target)
        ftp.storbinary(f"STOR {name}", _Guarded(source, stop), blocksize=BLOCK)  # type: ignore[arg-type]
        _quit(ftp)
    finally:
        ftp.close()


def _ftp_retrieve(target: _Target, out: BinaryIO, timeout: float, stop: threading.Event, budget: _Budget) -> int:
    total = 0

    def write(block: bytes) -> None:
        nonlocal total
        if stop.is_set():
            raise _Cancelled()
        total += len(block)
        budget.received(total, out)
        out.write(block)

    ftp = _ftp_session(target, timeout)
    try:
        name = _ftp_place(ftp, target)
        budget.announced(_ftp_size(ftp, name), out)
        ftp.retrbinary(f"RETR {name}", write, blocksize=BLOCK)
        _quit(ftp)
    finally:
        ftp.close()
    return total


def _ftp_size(ftp: ftplib.FTP, name: str) -> int | None:
    """The file's size by SIZE (RFC 3659, in binary mode), or None if the server won't say."""
    try:
        ftp.voidcmd("TYPE I")
        return ftp.size(name)
    except (*ftplib.all_errors, ValueError):
        return None


def _quit(ftp: ftplib.FTP) -> None:
    """Say goodbye; the transfer's own reply (226) already said it succeeded, so a server
    that hangs up first changes nothing."""
    with contextlib.suppress(*ftplib.all_errors):
        ftp.quit()
