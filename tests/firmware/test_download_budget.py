"""The agent's firmware download as wired in the app: capped by ``[firmware]
max_download_mb`` and leaving the journal the room ``[state] journal_max_mb`` may still
need on its real disk, against a real HTTP server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app import _firmware_download
from agent.settings import parse_settings
from agent.store import Database
from agent.transfer import TransferError
from tests.file_servers import HttpStore

BUNDLE = os.urandom(2 * 2**20 + 7)


@pytest.fixture
def web() -> Iterator[HttpStore]:
    with HttpStore() as server:
        server.files["/fw.tar.gz"] = BUNDLE
        yield server


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "state")
    database.open()
    yield database
    database.close()


def settings(journal_max_mb: float, max_download_mb: float = 256) -> object:
    text = (f'[charge_point]\nid = "CP"\n[backend]\nurl = "ws://127.0.0.1:9/ocpp"\n'
            f"[state]\njournal_max_mb = {journal_max_mb}\n[firmware]\nmax_download_mb = {max_download_mb}\n")
    return parse_settings(text, Path("ladda.toml"))


def free_mib(path: Path) -> float:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize / 2**20


async def test_a_bundle_within_the_budget_comes_through(web: HttpStore, db: Database, tmp_path: Path) -> None:
    download = _firmware_download(settings(journal_max_mb=64), db)  # type: ignore[arg-type]
    assert await download(web.url("/fw.tar.gz"), tmp_path / "bundle.tar.gz") == len(BUNDLE)
    assert (tmp_path / "bundle.tar.gz").read_bytes() == BUNDLE


async def test_a_bundle_over_max_download_mb_is_refused(web: HttpStore, db: Database, tmp_path: Path) -> None:
    download = _firmware_download(settings(journal_max_mb=64, max_download_mb=1), db)  # type: ignore[arg-type]
    with pytest.raises(TransferError, match="more than the 1.0 MiB allowed") as info:
        await download(web.url("/fw.tar.gz"), tmp_path / "bundle.tar.gz")
    assert not info.value.retry and not (tmp_path / "bundle.tar.gz").exists()


async def test_the_journal_keeps_its_room(web: HttpStore, db: Database, tmp_path: Path) -> None:
    """A journal allowed to grow past the disk's free space leaves no room for a firmware."""
    journal_mb = int(free_mib(tmp_path)) + 1024
    assert journal_mb <= 100_000, "this disk has more free space than journal_max_mb can name"
    download = _firmware_download(settings(journal_max_mb=journal_mb), db)  # type: ignore[arg-type]
    with pytest.raises(TransferError, match="must stay free") as info:
        await download(web.url("/fw.tar.gz"), tmp_path / "bundle.tar.gz")
    assert not info.value.retry and not (tmp_path / "bundle.tar.gz").exists()
