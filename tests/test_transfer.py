"""File transfers against real servers (tests/file_servers.py): FTP with a user, a password
and an anonymous area, HTTP(S) that stores what is PUT, a port nobody listens on, and one
that accepts connections and never answers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from agent import transfer
from agent.transfer import TransferError

from tests.file_servers import (
    FTP_USER,
    HTTP_PASSWORD,
    HTTP_USER,
    FtpServer,
    HttpStore,
    closed_port,
    silent_server,
)


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[FtpServer]:
    with FtpServer(tmp_path / "ftp") as server:
        yield server


@pytest.fixture
def web() -> Iterator[HttpStore]:
    with HttpStore() as server:
        yield server


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    """A file bigger than one transfer block."""
    path = tmp_path / "diagnostics-CP-1-20250102T030405Z.tar.gz"
    path.write_bytes(os.urandom(3 * transfer.BLOCK + 123))
    return path


# ---------------------------------------------------------------- what works


async def test_http_put_into_a_directory_and_get_back(web: HttpStore, payload: Path, tmp_path: Path) -> None:
    where = await transfer.upload(web.url("/uploads/"), payload)
    assert where == web.url(f"/uploads/{payload.name}")
    assert web.files[f"/uploads/{payload.name}"] == payload.read_bytes()
    dest = tmp_path / "back.bin"
    assert await transfer.download(where, dest) == payload.stat().st_size
    assert dest.read_bytes() == payload.read_bytes()


async def test_http_put_to_a_named_file_with_basic_auth(web: HttpStore, payload: Path) -> None:
    where = await transfer.upload(web.url("/private/today.tgz", HTTP_USER, HTTP_PASSWORD), payload)
    assert web.files["/private/today.tgz"] == payload.read_bytes()
    assert HTTP_PASSWORD not in where and where == web.url("/private/today.tgz", HTTP_USER, "****")


async def test_https_with_the_system_trust_store(
    payload: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    with HttpStore(tls=ca.issue_cert("127.0.0.1")) as secure:
        with pytest.raises(TransferError) as info:
            await transfer.upload(secure.url("/up/"), payload)
        assert str(info.value).startswith(
            f"upload to {secure.url('/up/' + payload.name)} failed: TLS: the server's certificate is not trusted ("
        ), str(info.value)
        assert secure.files == {}
        # The system's trust store (OpenSSL reads SSL_CERT_FILE) is what decides.
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        await transfer.upload(secure.url("/up/"), payload)
        assert secure.files == {f"/up/{payload.name}": payload.read_bytes()}


async def test_ftp_store_with_password_and_retrieve(ftp: FtpServer, payload: Path, tmp_path: Path) -> None:
    (ftp.root / "incoming").mkdir()
    where = await transfer.upload(ftp.url("/incoming/"), payload)
    assert where == ftp.url(f"/incoming/{payload.name}", password="****")
    assert (ftp.root / "incoming" / payload.name).read_bytes() == payload.read_bytes()
    dest = tmp_path / "firmware.bin"
    assert await transfer.download(ftp.url(f"/incoming/{payload.name}"), dest) == payload.stat().st_size
    assert dest.read_bytes() == payload.read_bytes()


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("ftp://diag:pw@host/incoming", "ftp://diag:pw@host/incoming/{name}"),
        ("ftp://diag:pw@host/incoming/", "ftp://diag:pw@host/incoming/{name}"),
        ("ftp://host", "ftp://host/{name}"),
        ("ftp://host/", "ftp://host/{name}"),
        ("http://host:8080/diag", "http://host:8080/diag/{name}"),
        ("https://u:p%40ss@[2001:db8::1]/a/b/", "https://u:p%40ss@[2001:db8::1]/a/b/{name}"),
        ("https://host/upload?token=a%2Fb", "https://host/upload/{name}?token=a%2Fb"),
    ],
)
def test_a_directory_location_with_or_without_its_slash(location: str, url: str) -> None:
    name = "diagnostics-CP-1-20250102T030405Z.tar.gz"
    assert transfer.in_directory(location, name) == url.format(name=name)
    # A name is one path segment: nothing in it makes a directory or a query.
    assert transfer.in_directory(location, "CP 1/#2.tgz") == url.format(name="CP%201%2F%232.tgz")


async def test_ftp_store_into_a_directory_named_without_a_slash(ftp: FtpServer, payload: Path) -> None:
    (ftp.root / "diag" / "site-7").mkdir(parents=True)
    where = await transfer.upload(transfer.in_directory(ftp.url("/diag/site-7"), payload.name), payload)
    assert where == ftp.url(f"/diag/site-7/{payload.name}", password="****")
    assert (ftp.root / "diag" / "site-7" / payload.name).read_bytes() == payload.read_bytes()


async def test_ftp_anonymous_download(ftp: FtpServer, tmp_path: Path) -> None:
    (ftp.root / "pub" / "fw-1.2.bin").write_bytes(b"firmware image")
    dest = tmp_path / "fw.bin"
    assert await transfer.download(ftp.url("/fw-1.2.bin", user=None), dest) == 14
    assert dest.read_bytes() == b"firmware image"


# ---------------------------------------------------------------- what fails, and what it says


async def test_http_404_and_500(web: HttpStore, payload: Path, tmp_path: Path) -> None:
    with pytest.raises(TransferError) as missing:
        await transfer.download(web.url("/nothing-here.bin"), tmp_path / "x")
    assert str(missing.value) == f"download from {web.url('/nothing-here.bin')} failed: HTTP 404 Not Found"
    assert missing.value.retry
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()
    with pytest.raises(TransferError) as broken:
        await transfer.upload(web.url("/broken/"), payload)
    assert str(broken.value) == (
        f"upload to {web.url('/broken/' + payload.name)} failed: HTTP 500 Internal Server Error"
    )


async def test_ftp_login_failure(ftp: FtpServer, payload: Path) -> None:
    with pytest.raises(TransferError) as info:
        await transfer.upload(ftp.url("/", password="wrong-Passw0rd"), payload)
    message = str(info.value)
    assert message.startswith(f"upload to ftp://{FTP_USER}:****@127.0.0.1:{ftp.port}/{payload.name} failed: ")
    assert "FTP server replied '530" in message, message
    assert "wrong-Passw0rd" not in message


async def test_ftp_missing_directory(ftp: FtpServer, payload: Path) -> None:
    with pytest.raises(TransferError) as info:
        await transfer.upload(ftp.url("/no/such/dir/"), payload)
    assert "FTP server replied '550" in str(info.value)


async def test_connection_refused(payload: Path) -> None:
    port = closed_port()
    for scheme in ("ftp", "http"):
        with pytest.raises(TransferError) as info:
            await transfer.upload(f"{scheme}://user:pw-S3cret@127.0.0.1:{port}/", payload)
        assert str(info.value) == (
            f"upload to {scheme}://user:****@127.0.0.1:{port}/{payload.name} failed: "
            f"connection refused by 127.0.0.1:{port}"
        )


async def test_unknown_host(payload: Path) -> None:
    with pytest.raises(TransferError) as info:
        await transfer.upload("ftp://user:pw-S3cret@no-such-host.invalid/", payload)
    assert "failed: cannot resolve host 'no-such-host.invalid' (DNS: " in str(info.value)
    assert "pw-S3cret" not in str(info.value)


@pytest.mark.parametrize("scheme", ["ftp", "http"])
async def test_timeout(scheme: str, payload: Path) -> None:
    with silent_server() as port:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TransferError) as info:
            await transfer.upload(f"{scheme}://user:pw-S3cret@127.0.0.1:{port}/", payload, timeout=0.3)
        elapsed = asyncio.get_running_loop().time() - started
    assert str(info.value).endswith(f"failed: no response from 127.0.0.1:{port} within 0.3 s")
    assert 0.25 < elapsed < 2.0


async def test_cancelled_download_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "fw.bin"
    with silent_server() as port:
        task = asyncio.create_task(transfer.download(f"http://127.0.0.1:{port}/fw.bin", dest, timeout=2))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sftp://user:pw-S3cret@host/dir/", "unsupported protocol sftp://; use ftp://, http:// or https://"),
        ("ftp:///dir/", "no host in the URL"),
        ("diagnostics.example.com/upload", "unsupported protocol (none); use ftp://, http:// or https://"),
    ],
)
async def test_unusable_url_is_not_retried(url: str, reason: str, payload: Path) -> None:
    with pytest.raises(TransferError) as info:
        transfer.check_url(url)
    assert str(info.value) == f"{transfer.masked_url(url)}: {reason}"
    assert not info.value.retry and "pw-S3cret" not in str(info.value)
    with pytest.raises(TransferError):
        await transfer.upload(url, payload)
    with pytest.raises(TransferError) as named:
        transfer.in_directory(url, payload.name)
    assert str(named.value) == str(info.value)


async def test_missing_local_file_is_not_retried(web: HttpStore, tmp_path: Path) -> None:
    with pytest.raises(TransferError) as info:
        await transfer.upload(web.url("/up/"), tmp_path / "gone.tar.gz")
    assert str(info.value) == (
        f"upload to {web.url('/up/gone.tar.gz')}: cannot read {tmp_path / 'gone.tar.gz'}: No such file or directory"
    )
    assert not info.value.retry and web.requests == []


def test_masked_url() -> None:
    assert transfer.masked_url("ftp://u:p%40ss@host:2121/d/") == "ftp://u:****@host:2121/d/"
    assert transfer.masked_url("ftp://u:p@ss@host/") == "ftp://u:****@host/"
    assert transfer.masked_url("ftp://anonymous@host/") == "ftp://anonymous@host/"
    assert transfer.masked_url("https://host/x") == "https://host/x"


# ---------------------------------------------------------------- the download budget


def _free(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


BIG = os.urandom(3 * 2**20 + 5)  # 3 MiB and a bit: past the first look at the free space


async def test_a_download_larger_than_allowed_is_refused_before_it_is_fetched(
    web: HttpStore, ftp: FtpServer, tmp_path: Path
) -> None:
    web.files["/fw.tar.gz"] = BIG
    (ftp.root / "pub" / "fw.tar.gz").write_bytes(BIG)
    dest = tmp_path / "dl" / "fw.tar.gz"
    dest.parent.mkdir()
    for url in (web.url("/fw.tar.gz"), ftp.url("/fw.tar.gz", user=None)):  # Content-Length; FTP SIZE
        with pytest.raises(TransferError) as info:
            await transfer.download(url, dest, max_bytes=2**20)
        assert str(info.value) == f"download from {url} refused: the file is 3.0 MiB, more than the 1.0 MiB allowed"
        assert not info.value.retry
        assert list(dest.parent.iterdir()) == []
    # The same file within the cap comes through whole.
    assert await transfer.download(web.url("/fw.tar.gz"), dest, max_bytes=len(BIG)) == len(BIG)
    assert dest.read_bytes() == BIG


async def test_a_download_of_unknown_size_stops_at_the_cap(web: HttpStore, tmp_path: Path) -> None:
    web.files["/unsized/fw.tar.gz"] = BIG
    dest = tmp_path / "dl" / "fw.tar.gz"
    dest.parent.mkdir()
    with pytest.raises(TransferError) as info:
        await transfer.download(web.url("/unsized/fw.tar.gz"), dest, max_bytes=2**20)
    assert str(info.value).endswith("refused: more than the 1.0 MiB allowed was sent")
    assert not info.value.retry and list(dest.parent.iterdir()) == []
    assert await transfer.download(web.url("/unsized/fw.tar.gz"), dest) == len(BIG)  # no cap: all of it


async def test_a_download_never_eats_the_space_the_journal_needs(web: HttpStore, tmp_path: Path) -> None:
    """``keep_free``: what must stay free on the disk the file goes to (the journal's)."""
    web.files["/fw.tar.gz"] = BIG
    web.files["/unsized/fw.tar.gz"] = BIG
    dest = tmp_path / "dl" / "fw.tar.gz"
    dest.parent.mkdir()
    # 1 MiB to spare: the 3 MiB file would eat into what must stay free.
    with pytest.raises(TransferError) as known:
        await transfer.download(web.url("/fw.tar.gz"), dest, keep_free=_free(tmp_path) - 2**20)
    assert "refused: the file is 3.0 MiB and only" in str(known.value)
    assert "must stay free" in str(known.value) and not known.value.retry
    # 64 MiB to spare: it fits, whether its size is told or not.
    for path in ("/fw.tar.gz", "/unsized/fw.tar.gz"):
        assert await transfer.download(web.url(path), dest, keep_free=_free(tmp_path) - 64 * 2**20) == len(BIG)
        dest.unlink()
    # No room at all: a file of unknown size is stopped once it starts to arrive.
    keep = _free(tmp_path) + 2 * 2**20
    with pytest.raises(TransferError) as unknown:
        await transfer.download(web.url("/unsized/fw.tar.gz"), dest, keep_free=keep)
    assert "refused: the disk is too full to go on" in str(unknown.value) and not unknown.value.retry
    assert list(dest.parent.iterdir()) == []


async def test_a_failure_says_what_kind_it_is(ftp: FtpServer, web: HttpStore, payload: Path) -> None:
    """Refused rights and an answer that makes no sense are told apart from a plain
    failure (a log upload's status names them: PermissionDenied, BadMessage)."""
    from agent.transfer_failures import TransferFailure

    async def kind(url: str) -> str:
        with pytest.raises(TransferError) as info:
            await transfer.upload(url, payload)
        return info.value.kind

    assert await kind(ftp.url("/", password="wrong-Passw0rd")) == TransferFailure.PERMISSION_DENIED  # 530
    assert await kind(web.url("/private/")) == TransferFailure.PERMISSION_DENIED  # HTTP 401
    assert await kind(web.url("/broken/")) == TransferFailure.FAILED  # HTTP 500
    assert await kind(ftp.url("/no/such/dir/")) == TransferFailure.FAILED  # 550: missing, or not allowed: unclear
    assert await kind(f"ftp://127.0.0.1:{closed_port()}/") == TransferFailure.FAILED
    # HTTP spoken to an FTP server: its banner is no HTTP status line.
    assert await kind(f"http://127.0.0.1:{ftp.port}/") == TransferFailure.BAD_MESSAGE
