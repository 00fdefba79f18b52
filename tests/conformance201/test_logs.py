"""OCPP 2.0.1 N01 Retrieve Log Information (GetLog, LogStatusNotification) and F06's
triggered LogStatusNotification while uploading, against the real agent over a real
websocket, uploading to real FTP and HTTP servers started here.

The log lines and security events around the requested window are written with
timestamps the test chooses, so that oldestTimestamp/latestTimestamp are seen to filter;
some carry secrets that no archive may carry off the station.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from agent.jobs import MIN_RETRY_INTERVAL_S
from agent.logs import log_path
from simulators.harness import Stack
from tests.conformance.helpers import call, restart_agent_and_wait
from tests.conformance.test_logs import (
    AUTHORIZATION_KEY,
    assert_no_secret,
    log_line,
    members_of,
    ocpp_time,
    secret_fields,
    write_security_log,
)
from tests.conformance201.helpers import V201, last_seq, messages, schema_violations, wait_for
from tests.file_servers import FTP_PASSWORD, HTTP_PASSWORD, HTTP_USER, FtpServer, HttpStore, closed_port, silent_server


async def get_log(stack: Stack, log_type: str, request_id: int, location: str, **fields: Any) -> dict[str, Any]:
    log: dict[str, Any] = {"remoteLocation": location}
    for key in ("oldestTimestamp", "latestTimestamp"):
        if key in fields:
            log[key] = fields.pop(key)
    reply = await stack.csms.request("call", cp=stack.cp_id, action="GetLog",
                                     payload={"logType": log_type, "requestId": request_id, "log": log, **fields})
    assert "error" not in reply and "schema_error" not in reply, reply
    return dict(reply["result"])


async def statuses(stack: Stack, since: int) -> list[tuple[str, int | None]]:
    return [(m["payload"]["status"], m["payload"].get("requestId"))
            for m in await messages(stack, "LogStatusNotification", since)]


async def wait_statuses(stack: Stack, since: int, count: int, timeout: float = 15.0) -> list[tuple[str, int | None]]:
    sent = await wait_for(stack, "LogStatusNotification", count=count, since=since, timeout=timeout)
    return [(m["status"], m.get("requestId")) for m in sent]


async def trigger_log_status(stack: Stack) -> dict[str, Any]:
    since = await last_seq(stack)
    reply = await call(stack, "TriggerMessage", {"requestedMessage": "LogStatusNotification"})
    assert reply == {"status": "Accepted"}
    return (await wait_for(stack, "LogStatusNotification", since=since))[0]


def work_files(stack: Stack) -> list[Path]:
    directory = stack.state_dir / "diagnostics"
    return sorted(directory.iterdir()) if directory.exists() else []


async def test_tc_n_25_cs_diagnostics_log_success(charger, tmp_path: Path):
    stack = await charger(backend={**V201, "authorization_key": AUTHORIZATION_KEY})
    now = datetime.now(timezone.utc)
    with open(log_path(stack.state_dir), "a", encoding="utf-8") as own:
        own.write(log_line(now - timedelta(hours=5), "old line before the window")
                  + log_line(now - timedelta(hours=3), "old line in the window", **secret_fields())
                  + log_line(now - timedelta(hours=1), "old line after the window"))
    with FtpServer(tmp_path / "ftp") as ftp:
        (ftp.root / "logs").mkdir()
        since = await last_seq(stack)
        answer = await get_log(stack, "DiagnosticsLog", 25, ftp.url("/logs"),
                               oldestTimestamp=ocpp_time(now - timedelta(hours=4)),
                               latestTimestamp=ocpp_time(now - timedelta(hours=2)))
        assert answer["status"] == "Accepted"
        name = answer["filename"]
        assert re.fullmatch(rf"diagnostics-{re.escape(stack.cp_id)}-\d{{8}}T\d{{6}}Z(-\d+)?\.tar\.gz", name), name
        assert await wait_statuses(stack, since, 2) == [("Uploading", 25), ("Uploaded", 25)]
        uploaded = (ftp.root / "logs" / name).read_bytes()
    members = members_of(uploaded)
    assert set(members) == {"logs.jsonl", "config.toml", "database.json", "version.json"}
    assert [json.loads(line)["event"] for line in members["logs.jsonl"].decode().splitlines()] == [
        "old line in the window"]
    assert_no_secret(uploaded)
    assert work_files(stack) == []
    assert await trigger_log_status(stack) == {"status": "Idle"}  # TC_F_15: Idle, no requestId
    assert await schema_violations(stack) == []


async def test_tc_n_26_cs_diagnostics_log_upload_failed(charger):
    """UploadFailure after the retries (one here, MIN_RETRY_INTERVAL_S later: the case's
    retries 3 would take three times as long and show nothing more)."""
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    answer = await get_log(stack, "DiagnosticsLog", 26, f"ftp://diag:{FTP_PASSWORD}@127.0.0.1:{closed_port()}/",
                           retries=1, retryInterval=1)
    assert answer["status"] == "Accepted"
    assert await wait_statuses(stack, since, 1) == [("Uploading", 26)]
    assert await wait_statuses(stack, since, 2, timeout=MIN_RETRY_INTERVAL_S + 15) == [("Uploading", 26),
                                                                                        ("UploadFailure", 26)]
    assert await trigger_log_status(stack) == {"status": "Idle"}
    assert work_files(stack) == []
    assert FTP_PASSWORD not in (stack.workdir / "agent.log").read_text()
    assert await schema_violations(stack) == []


async def test_a_login_the_server_refuses_ends_with_permission_denied(charger, tmp_path: Path):
    """N01.FR.10: the failure as precise as the server's answer makes it."""
    stack = await charger(backend=V201)
    with FtpServer(tmp_path / "ftp") as ftp:
        since = await last_seq(stack)
        answer = await get_log(stack, "DiagnosticsLog", 30, ftp.url("/", password="Wrong-Passw0rd"), retries=0)
        assert answer["status"] == "Accepted"
        assert await wait_statuses(stack, since, 2) == [("Uploading", 30), ("PermissionDenied", 30)]
    assert "Wrong-Passw0rd" not in (stack.workdir / "agent.log").read_text()
    assert await schema_violations(stack) == []


async def test_tc_n_34_cs_rejected(charger):
    """A location the station cannot upload to, or a window it cannot act on: Rejected
    with the reason, and no upload (no status follows)."""
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    refused = await get_log(stack, "DiagnosticsLog", 34, "sftp://127.0.0.1/logs/")
    assert refused["status"] == "Rejected" and refused["statusInfo"]["reasonCode"] == "InvalidValue"
    backwards = await get_log(stack, "SecurityLog", 35, "ftp://127.0.0.1/logs/",
                              oldestTimestamp="2026-05-02T00:00:00Z", latestTimestamp="2026-05-01T00:00:00Z")
    assert backwards["status"] == "Rejected"
    assert "after latestTimestamp" in backwards["statusInfo"]["additionalInfo"]
    await asyncio.sleep(0.5)
    assert await statuses(stack, since) == []
    assert await schema_violations(stack) == []


async def test_tc_n_35_cs_security_log_success(charger):
    stack = await charger(backend={**V201, "authorization_key": AUTHORIZATION_KEY})
    now = datetime.now(timezone.utc)
    write_security_log(stack.state_dir, now)
    with HttpStore() as web:
        since = await last_seq(stack)
        answer = await get_log(stack, "SecurityLog", 35, web.url("/private/sec/", HTTP_USER, HTTP_PASSWORD),
                               oldestTimestamp=ocpp_time(now - timedelta(days=2)),
                               latestTimestamp=ocpp_time(now - timedelta(days=1)))
        assert answer["status"] == "Accepted"
        name = answer["filename"]
        assert re.fullmatch(rf"securitylog-{re.escape(stack.cp_id)}-\d{{8}}T\d{{6}}Z(-\d+)?\.tar\.gz", name), name
        assert await wait_statuses(stack, since, 2) == [("Uploading", 35), ("Uploaded", 35)]
        uploaded = web.files[f"/private/sec/{name}"]
    members = members_of(uploaded)
    assert set(members) == {"security.jsonl", "version.json"}
    kinds = [json.loads(line)["kind"] for line in members["security.jsonl"].decode().splitlines()]
    assert kinds == ["ResetOrReboot", "SettingSystemTime"]
    assert_no_secret(uploaded)
    assert HTTP_PASSWORD not in (stack.workdir / "agent.log").read_text()
    assert await schema_violations(stack) == []


async def test_tc_n_36_cs_second_request(charger):
    """N01.FR.12: the second request cancels the first: AcceptedCanceled, the first's
    LogStatusNotification AcceptedCanceled, then the second's Uploading and Uploaded."""
    stack = await charger(backend=V201)
    with silent_server() as port, HttpStore() as web:
        since = await last_seq(stack)
        first = await get_log(stack, "SecurityLog", 1, f"ftp://127.0.0.1:{port}/", retries=0)
        assert first["status"] == "Accepted"
        assert await wait_statuses(stack, since, 1) == [("Uploading", 1)]
        second = await get_log(stack, "SecurityLog", 2, web.url("/sec"))
        assert second["status"] == "AcceptedCanceled"
        assert await wait_statuses(stack, since, 4) == [("Uploading", 1), ("AcceptedCanceled", 1), ("Uploading", 2),
                                                       ("Uploaded", 2)]
        assert list(web.files) == [f"/sec/{second['filename']}"]
    await asyncio.sleep(0.5)
    assert len(await statuses(stack, since)) == 4
    assert work_files(stack) == []
    assert await schema_violations(stack) == []


async def test_tc_f_16_cs_trigger_log_status_while_uploading(charger):
    stack = await charger(backend=V201)
    with silent_server() as port:
        since = await last_seq(stack)
        assert (await get_log(stack, "DiagnosticsLog", 16, f"http://127.0.0.1:{port}/", retries=0))["status"] == \
            "Accepted"
        assert await wait_statuses(stack, since, 1) == [("Uploading", 16)]
        assert await trigger_log_status(stack) == {"status": "Uploading", "requestId": 16}
    assert await schema_violations(stack) == []


async def test_a_log_upload_a_power_cut_ended_is_reported_failed_after_the_restart(charger):
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    with silent_server() as port:
        assert (await get_log(stack, "SecurityLog", 77, f"ftp://127.0.0.1:{port}/", retries=2))["status"] == "Accepted"
        assert await wait_statuses(stack, since, 1) == [("Uploading", 77)]
        boot = await restart_agent_and_wait(stack, signal.SIGKILL)
    assert await wait_statuses(stack, boot, 1) == [("UploadFailure", 77)]
    assert await statuses(stack, since) == [("Uploading", 77), ("UploadFailure", 77)]
    assert await schema_violations(stack) == []
