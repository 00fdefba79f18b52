"""The secret scan of the suite (tests/secret_scan.py) finds what it must, where it must.

It fails a test whose log or archive holds a secret; these tests show it is not a scan
that cannot fail: a planted secret is found in a log, in a rotated log, inside a gzipped
tar member and inside a zip, and the files that give the charger its secrets are not searched.
"""

from __future__ import annotations

import io
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import pytest

from . import secret_scan
from .file_servers import FTP_PASSWORD, HttpStore

PLANTED = secret_scan.secret("planted-Secret-9481", "the planted secret")


def _tar_gz(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["ladda.log", "ladda.log.2", "security.log"])
def test_a_secret_in_a_log_is_found(tmp_path: Path, name: str) -> None:
    (tmp_path / "state" / "logs").mkdir(parents=True)
    (tmp_path / "state" / "logs" / name).write_text(f'{{"event": "connecting", "key": "{PLANTED}"}}\n')
    hits = secret_scan.scan(tmp_path, secret_scan.Totals())
    assert hits == [f"{tmp_path / 'state' / 'logs' / name}: the planted secret"]
    (tmp_path / "state" / "logs" / name).unlink()  # this test's own check at teardown must pass


def test_a_secret_inside_archives_is_found(tmp_path: Path) -> None:
    tally = secret_scan.Totals()
    inner = _tar_gz("logs/ladda.log", f"password={FTP_PASSWORD}\n".encode())
    (tmp_path / "diag.tar.gz").write_bytes(inner)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("nested.tar.gz", inner)
    (tmp_path / "upload.zip").write_bytes(zipped.getvalue())
    hits = secret_scan.scan(tmp_path, tally)
    assert (len(hits), tally.files, tally.members, tally.hits) == (2, 2, 2, 2)
    assert any("diag.tar.gz!logs/ladda.log" in hit for hit in hits)
    assert any("upload.zip!nested.tar.gz!logs/ladda.log" in hit for hit in hits)
    for path in tmp_path.iterdir():
        path.unlink()


def test_the_files_that_give_the_charger_its_secrets_are_not_searched(tmp_path: Path) -> None:
    (tmp_path / "ladda.toml").write_text(f'authorization_key = "{PLANTED}"\n')
    (tmp_path / "authorization-key").write_text(PLANTED)
    (tmp_path / "csms.log").write_text(PLANTED)  # the backend's own log: it sent the key
    (tmp_path / "state.db").write_bytes(PLANTED.encode())
    assert secret_scan.scan(tmp_path, secret_scan.Totals()) == []


def test_a_private_key_is_found_by_any_line_of_its_body(tmp_path: Path) -> None:
    body = "MHcCAQEEIAbcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHoAoGCCqGSM49"
    secret_scan.secret_key_pem(f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n", "test key")
    (tmp_path / "agent.log").write_text(f"loaded {body[:40]}... no\n")
    assert secret_scan.scan(tmp_path, secret_scan.Totals()) == []
    (tmp_path / "agent.log").write_text(f"dumped {body}\n")
    assert secret_scan.scan(tmp_path, secret_scan.Totals()) == [f"{tmp_path / 'agent.log'}: test key"]
    (tmp_path / "agent.log").unlink()


def test_discard_deletes_even_when_it_finds_a_secret(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "agent.log").write_text(PLANTED)
    with pytest.raises(AssertionError, match="the planted secret"):
        secret_scan.discard(workdir, tally=secret_scan.Totals())
    assert not workdir.exists()


def test_an_upload_to_the_test_http_server_is_searched() -> None:
    with pytest.raises(AssertionError, match="uploaded file"):
        with HttpStore() as server:
            request = urllib.request.Request(server.url("/diag/x.tar.gz"), method="PUT",
                                             data=_tar_gz("logs/ladda.log", PLANTED.encode()))
            urllib.request.urlopen(request, timeout=5).close()
            hits_before = secret_scan.totals.hits
    assert secret_scan.totals.hits == hits_before + 1
    secret_scan.totals.hits -= 1  # planted here: not a finding of the run


def test_a_secret_in_hex_in_a_basic_token_or_in_a_json_record_or_the_side_file_is_found(tmp_path: Path) -> None:
    import base64

    secret_scan.stack_secrets("CP-SCAN-1", {"authorization_key": PLANTED})
    token = base64.b64encode(f"CP-SCAN-1:{PLANTED}".encode()).decode()
    state = tmp_path / "state"
    state.mkdir()
    leaks = {
        state / "logs.log": f'{{"headers": "Authorization: Basic {token}"}}\n',
        state / "hex.log": f'{{"key": "{PLANTED.encode().hex()}"}}\n',
        state / "diagnostics-job.json": f'{{"location": "ftp://u:{PLANTED}@h/"}}\n',
        state / "ladda.sqlite3-held": f'{{"body": "{PLANTED.encode().hex().upper()}"}}\n',
    }
    for path, text in leaks.items():
        path.write_text(text)
    hits = secret_scan.scan(tmp_path, secret_scan.Totals())
    assert len(hits) == 4 and {h.split(": ", 1)[0] for h in hits} == {str(p) for p in leaks}
    assert any("Basic token of CP-SCAN-1" in h for h in hits)
    # The firmware job keeps its location's password by design (a download resumed after a restart).
    for path in leaks:
        path.unlink()
    (state / "firmware").mkdir()
    (state / "firmware" / "job.json").write_text(f'{{"location": "ftp://u:{PLANTED}@h/"}}\n')
    assert secret_scan.scan(tmp_path, secret_scan.Totals()) == []
