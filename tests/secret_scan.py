"""No secret the suite uses may appear in a log file or a log/diagnostics archive it made.

Every password, authorization key and private key a test hands to the charger (or to a
file server the charger uploads to) is registered here, in the forms a leak would most
likely take: as written, in hexadecimal (the agent itself handles keys as hex), and, where
the test knows the charge point id, as the HTTP Basic token ``base64(<id>:<password>)``
the link sends. Before a test's working
directory is deleted, and after every test that used ``tmp_path``, each log file and each
archive in it (every member of a tar or zip, gzip unpacked) is searched for every
registered secret; a hit fails that test with the file and which secret it was. The
counts are printed at the end of the run, so a scan that found nothing to scan shows.

Besides logs and archives, the agent's JSON records (``*.json``: the log job's record, the
firmware installer's requests) and the journal's side file (``*-held``) are searched.

What is not searched, and why: the files that are how a secret is given to the charger
(its TOML, a password file, a key file, the state database that keeps a backend-set key),
the firmware job (``firmware/job.json``: its location keeps the server's password, so a
download cut short by a restart can go on; 0600 in the state directory, like the
database), and ``csms.log``, the test backend's own log: the backend is where a new key
comes from.
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import io
import shutil
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Shorter values are too likely to occur by chance in a log (a counter, a hex id).
MIN_SECRET_LENGTH = 8
LOG_PATTERNS = ("*.log", "*.log.[0-9]*", "*.jsonl", "*.json", "*-held")
ARCHIVE_PATTERNS = ("*.tar", "*.tar.gz", "*.tgz", "*.zip", "*.gz")
#: The test backend's log: it sent the keys it set (see the module docstring).
NOT_SCANNED = frozenset({"csms.log"})
#: Paths (their last parts) that keep a secret by design (see the module docstring).
NOT_SCANNED_PATHS = (("firmware", "job.json"),)
#: Larger files are read only this far (a firmware bundle is not a log).
MAX_BYTES = 64 * 2**20

_secrets: dict[bytes, str] = {}
#: The passwords and keys registered (not private key lines): what a Basic token may carry.
_passwords: dict[str, str] = {}


@dataclass
class Totals:
    files: int = 0
    members: int = 0
    hits: int = 0


totals = Totals()


def secret(value: str, label: str | None = None) -> str:
    """Register ``value`` as a secret, with its hexadecimal forms (returned, so a constant
    can be defined through it)."""
    if len(value) >= MIN_SECRET_LENGTH:
        name = label or f"{value[:3]}…"
        _passwords.setdefault(value, name)
        _secrets.setdefault(value.encode(), name)
        _secrets.setdefault(value.encode().hex().encode(), f"{name} in hexadecimal")
        _secrets.setdefault(value.encode().hex().upper().encode(), f"{name} in hexadecimal")
    return value


def basic_auth(charge_point_id: str, password: str) -> None:
    """Register the HTTP Basic token a charger with this id sends with this password."""
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
    _secrets.setdefault(token.encode(), f"the Basic token of {charge_point_id} ({_passwords.get(password, 'a key')})")


def stack_secrets(charge_point_id: str, backend: Mapping[str, object] | None, every_password: bool = False,
                  key_too: bool = True) -> None:
    """Register what a charger started with these ``[backend]`` keys would send: its key
    (written in the file, or in ``authorization_key_file``) and its Basic token. With
    ``every_password``, the token with each registered password too (a key the backend
    sets at run time: the security tests). ``key_too=False`` registers the token only:
    a test that plants the key itself in a log, as an older release would have left it,
    to show the archive masks it, registers the key where it checks it."""
    backend = backend or {}
    key = backend.get("authorization_key")
    path = backend.get("authorization_key_file")
    if not key and path:
        try:
            key = Path(str(path)).read_text().strip()
        except OSError:
            key = None
    if isinstance(key, str) and key:
        if key_too:
            secret(key, "the authorization key")
        basic_auth(charge_point_id, key)
    if every_password:
        for password in list(_passwords):
            basic_auth(charge_point_id, password)


def secret_key_pem(pem: bytes | str, label: str = "a private key") -> None:
    """Register a private key PEM: each full line of its base64 body is searched for, so a
    key found whole, or any line of it, is a hit."""
    text = pem.decode() if isinstance(pem, bytes) else pem
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("-----") and len(line) >= 32:
            _secrets.setdefault(line.encode(), label)


def registered() -> dict[bytes, str]:
    return dict(_secrets)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _contents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) for a log file, or for every member of an archive."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES)
    name = path.name
    if _matches(name, LOG_PATTERNS) and not _matches(name, ARCHIVE_PATTERNS):
        yield str(path), data
        return
    yield from _archive(str(path), data)


def _archive(where: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            yield where, data
            return
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                yield from _archive(f"{where}!{info.filename}", archive.read(info))
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive:
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    yield from _archive(f"{where}!{member.name}", extracted.read())
        return
    except tarfile.TarError:
        pass
    yield where, data


def scan(root: Path, tally: Totals | None = None) -> list[str]:
    """Every hit under ``root`` as 'file: which secret'; counts go to ``tally`` (the run's
    ``totals`` unless given)."""
    tally = totals if tally is None else tally
    hits: list[str] = []
    if not root.exists():
        return hits
    secrets = registered()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if path.name in NOT_SCANNED or not _matches(path.name, LOG_PATTERNS + ARCHIVE_PATTERNS):
            continue
        if any(path.parts[-len(tail):] == tail for tail in NOT_SCANNED_PATHS):
            continue
        try:
            parts = list(_contents(path))
        except OSError:
            continue
        tally.files += 1
        tally.members += sum("!" in where for where, _ in parts)
        for where, data in parts:
            for value, label in secrets.items():
                if value in data:
                    hits.append(f"{where}: {label}")
    tally.hits += len(hits)
    return hits


def check(root: Path, tally: Totals | None = None) -> None:
    """Fail the running test if a secret is under ``root``."""
    hits = scan(root, tally)
    assert not hits, "a secret the tests gave the charger is in a log or an archive:\n" + "\n".join(hits)


def check_uploads(files: dict[str, bytes], server: str, tally: Totals | None = None) -> None:
    """Fail the running test if a file uploaded to a test server (kept in memory) holds a secret."""
    tally = totals if tally is None else tally
    secrets = registered()
    hits = []
    for name, data in files.items():
        parts = list(_archive(f"{server}{name}", data))
        tally.files += 1
        tally.members += sum("!" in where for where, _ in parts)
        hits += [f"{where}: {label}" for where, blob in parts for value, label in secrets.items() if value in blob]
    tally.hits += len(hits)
    assert not hits, "a secret the tests gave the charger is in an uploaded file:\n" + "\n".join(hits)


def discard(root: Path, keep: bool = False, tally: Totals | None = None) -> None:
    """Check ``root`` for secrets, then delete it (unless ``keep``); deleted even on a hit."""
    try:
        check(root, tally)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def summary() -> str:
    return (f"secret scan: {totals.files} log files and archives ({totals.members} archive members) "
            f"searched for {len(_secrets)} secrets: {totals.hits} found")
