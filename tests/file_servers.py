"""Real file servers for the transfer, diagnostics and firmware tests: an FTP server
(pyftpdlib) with a user, a password and an anonymous area, an HTTP(S) server that stores
what is PUT and serves it back, a port nobody listens on, and one that accepts
connections and never answers."""

from __future__ import annotations

import base64
import contextlib
import http.server
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import trustme
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler

from tests.secret_scan import check_uploads, secret
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

FTP_USER = "diag"
FTP_PASSWORD = secret("Ftp-S3cret-pw")
HTTP_USER = "uploader"
HTTP_PASSWORD = secret("Http-S3cret-pw")

logging.getLogger("pyftpdlib").setLevel(logging.WARNING)


class FtpServer:
    """pyftpdlib on 127.0.0.1 in a thread: ``FTP_USER``/``FTP_PASSWORD`` may read and write
    under ``root``; anonymous users may read ``root/pub``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pub").mkdir(parents=True, exist_ok=True)
        authorizer = DummyAuthorizer()
        authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elradfmwMT")
        authorizer.add_anonymous(str(root / "pub"))
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "test server ready",
                                                  "auth_failed_timeout": 0.05})
        self.server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
        self.port = self.server.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ftp-server", daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.server.ioloop.loop(timeout=0.02, blocking=False)
        self.server.close_all()

    def url(self, path: str = "/", user: str | None = FTP_USER, password: str | None = FTP_PASSWORD) -> str:
        credentials = f"{user}:{password}@" if user is not None else ""
        return f"ftp://{credentials}127.0.0.1:{self.port}{path}"

    def __enter__(self) -> FtpServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


class HttpStore:
    """An HTTP server in a thread that keeps the body of every PUT under its path and serves
    it back on GET; ``/private/`` needs HTTP Basic ``HTTP_USER``/``HTTP_PASSWORD``, a path
    under ``/broken/`` answers 500, and one under ``/unsized/`` is sent without its length
    (HTTP/1.0 style: the end of the connection ends the body). With ``tls``, it serves https
    with that certificate."""

    def __init__(self, tls: trustme.LeafCert | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        #: When set by a test, a PUT or GET is answered only once this is set (held open).
        self.gate: threading.Event | None = None
        store = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _refused(self) -> bool:
                store.requests.append((self.command, self.path))
                if self.path.startswith("/broken/"):
                    self.send_error(500, "Internal Server Error")
                    return True
                expected = "Basic " + base64.b64encode(f"{HTTP_USER}:{HTTP_PASSWORD}".encode()).decode()
                if self.path.startswith("/private/") and self.headers.get("Authorization") != expected:
                    self.send_error(401, "Unauthorized")
                    return True
                return False

            def do_PUT(self) -> None:  # noqa: N802 - the http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if store.gate is not None:
                    store.gate.wait(30)
                if self._refused():
                    return
                store.files[self.path] = body
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                if store.gate is not None:
                    store.gate.wait(30)
                if self._refused():
                    return
                if self.path not in store.files:
                    self.send_error(404, "Not Found")
                    return
                body = store.files[self.path]
                self.send_response(200)
                if self.path.startswith("/unsized/"):
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # a client that stops reading hangs up
                    self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.configure_cert(context)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="http-store", daemon=True)

    def url(self, path: str = "/", user: str | None = None, password: str | None = None) -> str:
        credentials = f"{user}:{password}@" if user is not None else ""
        return f"{self.scheme}://{credentials}127.0.0.1:{self.port}{path}"

    def __enter__(self) -> HttpStore:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
        uploaded = {path for method, path in self.requests if method == "PUT"}
        check_uploads({path: body for path, body in self.files.items() if path in uploaded},
                      f"{self.scheme}://127.0.0.1:{self.port}")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])
