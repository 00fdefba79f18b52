"""OCPP 1.6 security extension (whitepaper edition 3): GetLog (N01, TC_079 Get Security
Log) and ExtendedTriggerMessage, against the real agent over a real websocket, uploading
to real FTP and HTTP servers started here.

Log lines are written into the security log and the agent's own log with timestamps the
test chooses, so that oldestTimestamp/latestTimestamp are seen to filter; some of them
carry secrets (the AuthorizationKey, an upload password, a PEM private key), which no
archive may carry off the charger.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from agent.diagnostics import JOB_FILE
from agent.logs import log_path
from simulators.harness import Stack

from ..file_servers import FTP_PASSWORD, HTTP_PASSWORD, HTTP_USER, FtpServer, HttpStore, closed_port, silent_server
from .helpers import call_checked, last_seq, messages, restart_agent_and_wait, wait_for

AUTHORIZATION_KEY = "Logs-AuthKey-0123456789"
PRIVATE_KEY = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Logs1PemBody\n"
               "-----END PRIVATE KEY-----")
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Logs1PemBody"
LEAKED_URL_PASSWORD = "Leaked-Url-pw-77"


def ocpp_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_line(moment: datetime, event: str, **fields: Any) -> str:
    """A JSON log line as ``agent.logs`` writes one (the same ``timestamp`` form)."""
    stamp = moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return json.dumps({"event": event, "level": "warning", "timestamp": stamp, **fields}) + "\n"


def secret_fields() -> dict[str, str]:
    return {"tech_info": f"key {AUTHORIZATION_KEY} and {PRIVATE_KEY}",
            "note": f"ftp://tech:{LEAKED_URL_PASSWORD}@10.0.0.1/x"}


def write_security_log(state_dir: Path, now: datetime) -> None:
    """Security events around a window of [now - 2 d, now - 1 d]: two in it (one in the
    rotated file, one in the current), one before, one after."""
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "security.log.1").write_text(
        log_line(now - timedelta(days=3), "security event", kind="FailedToAuthenticateAtCsms")
        + log_line(now - timedelta(hours=36), "security event", kind="ResetOrReboot", **secret_fields()))
    with open(logs / "security.log", "a", encoding="utf-8") as current:
        current.write(log_line(now - timedelta(hours=30), "security event", kind="SettingSystemTime")
                      + log_line(now - timedelta(hours=12), "security event", kind="InvalidCsmsCertificate"))


def members_of(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def assert_no_secret(data: bytes) -> None:
    """Neither the archive nor any member holds a secret the suite used."""
    texts = [data, *members_of(data).values()]
    for secret in (AUTHORIZATION_KEY, FTP_PASSWORD, HTTP_PASSWORD, LEAKED_URL_PASSWORD, PEM_BODY):
        for text in texts:
            assert secret.encode() not in text, f"{secret!r} left the charger in an archive"


async def get_log(stack: Stack, log_type: str, request_id: int, location: str, **fields: Any) -> dict[str, Any]:
    log: dict[str, Any] = {"remoteLocation": location}
    for key in ("oldestTimestamp", "latestTimestamp"):
        if key in fields:
            log[key] = fields.pop(key)
    return await call_checked(stack, "GetLog", {"logType": log_type, "requestId": request_id, "log": log, **fields})


async def log_statuses(stack: Stack, since: int) -> list[tuple[str, int | None]]:
    return [(m["payload"]["status"], m["payload"].get("requestId"))
            for m in await messages(stack, "LogStatusNotification", since)]


async def wait_log_statuses(stack: Stack, since: int, count: int, timeout: float = 15.0) -> list[tuple[str, int | None]]:
    sent = await wait_for(stack, "LogStatusNotification", count=count, since=since, timeout=timeout)
    return [(m["status"], m.get("requestId")) for m in sent]


async def no_schema_violation(stack: Stack) -> None:
    reply = await stack.csms.request("schema_violations", cp=stack.cp_id)
    assert reply["schema_violations"] == []


async def triggered(stack: Stack, requested: str, answer: str = "Accepted", **fields: Any) -> list[dict[str, Any]]:
    """ExtendedTriggerMessage; the answer must be ``answer``; returns what followed an Accepted."""
    since = await last_seq(stack)
    result = await call_checked(stack, "ExtendedTriggerMessage", {"requestedMessage": requested, **fields})
    assert result == {"status": answer}, (requested, result)
    if answer != "Accepted":
        return []
    message = {"FirmwareStatusNotification": "SignedFirmwareStatusNotification"}.get(requested, requested)
    return await wait_for(stack, message, since=since)


def agent_events(stack: Stack, event: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in (stack.workdir / "agent.log").read_text().splitlines()
               if line.startswith("{")]
    return [r for r in records if r.get("event") == event]


async def test_tc_079_get_security_log(charger, tmp_path: Path):
    stack = await charger(connectors=1, backend={"authorization_key": AUTHORIZATION_KEY})
    now = datetime.now(timezone.utc)
    write_security_log(stack.state_dir, now)
    with FtpServer(tmp_path / "ftp") as ftp:
        (ftp.root / "security").mkdir()
        since = await last_seq(stack)
        answer = await get_log(stack, "SecurityLog", 79, ftp.url("/security/"),
                               oldestTimestamp=ocpp_time(now - timedelta(days=2)),
                               latestTimestamp=ocpp_time(now - timedelta(days=1)))
        assert answer["status"] == "Accepted"
        name = answer["filename"]
        assert re.fullmatch(rf"securitylog-{re.escape(stack.cp_id)}-\d{{8}}T\d{{6}}Z(-\d+)?\.tar\.gz", name), name
        assert await wait_log_statuses(stack, since, 2) == [("Uploading", 79), ("Uploaded", 79)]
        uploaded = (ftp.root / "security" / name).read_bytes()
    members = members_of(uploaded)
    assert set(members) == {"security.jsonl", "version.json"}
    kinds = [json.loads(line)["kind"] for line in members["security.jsonl"].decode().splitlines()]
    assert kinds == ["ResetOrReboot", "SettingSystemTime"]  # the window's, oldest (rotated) file first
    assert_no_secret(uploaded)
    assert not (stack.state_dir / "diagnostics").exists() or not list((stack.state_dir / "diagnostics").iterdir())
    # Idle again: a triggered LogStatusNotification says so, without a requestId.
    [idle] = await triggered(stack, "LogStatusNotification")
    assert idle == {"status": "Idle"}
    await no_schema_violation(stack)


async def test_get_log_diagnostics_log_over_http_filters_its_window_and_masks_secrets(charger):
    stack = await charger(connectors=1, backend={"authorization_key": AUTHORIZATION_KEY})
    now = datetime.now(timezone.utc)
    # Lines an older release left in the agent's own log: one in the window, with secrets.
    with open(log_path(stack.state_dir), "a", encoding="utf-8") as own:
        own.write(log_line(now - timedelta(hours=5), "old line before the window")
                  + log_line(now - timedelta(hours=3), "old line in the window", **secret_fields())
                  + log_line(now - timedelta(hours=1), "old line after the window"))
    with HttpStore() as web:
        since = await last_seq(stack)
        answer = await get_log(stack, "DiagnosticsLog", 7, web.url("/private/diag", HTTP_USER, HTTP_PASSWORD),
                               oldestTimestamp=ocpp_time(now - timedelta(hours=4)),
                               latestTimestamp=ocpp_time(now - timedelta(hours=2)), retries=0)
        assert answer["status"] == "Accepted"
        name = answer["filename"]
        assert re.fullmatch(rf"diagnostics-{re.escape(stack.cp_id)}-\d{{8}}T\d{{6}}Z(-\d+)?\.tar\.gz", name), name
        assert await wait_log_statuses(stack, since, 2) == [("Uploading", 7), ("Uploaded", 7)]
        uploaded = web.files[f"/private/diag/{name}"]
    members = members_of(uploaded)
    assert set(members) == {"logs.jsonl", "config.toml", "database.json", "version.json"}
    events = [json.loads(line)["event"] for line in members["logs.jsonl"].decode().splitlines()]
    assert events == ["old line in the window"]
    assert b'authorization_key = "****"' in members["config.toml"]
    assert_no_secret(uploaded)
    # GetDiagnostics' own notification is not used for a GetLog job.
    assert await messages(stack, "DiagnosticsStatusNotification", since) == []
    await no_schema_violation(stack)


async def test_get_log_upload_failure_and_a_rejected_location(charger):
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    answer = await get_log(stack, "DiagnosticsLog", 11, f"ftp://diag:{FTP_PASSWORD}@127.0.0.1:{closed_port()}/",
                           retries=0)
    assert answer["status"] == "Accepted"
    assert await wait_log_statuses(stack, since, 2) == [("Uploading", 11), ("UploadFailure", 11)]
    # A server refusing the charger's rights says so (N01.FR.10: as precise as possible);
    # a GetDiagnostics has only UploadFailed for it.
    with HttpStore() as web:
        refused = await last_seq(stack)
        assert (await get_log(stack, "SecurityLog", 14, web.url("/private/"), retries=0))["status"] == "Accepted"
        assert await wait_log_statuses(stack, refused, 2) == [("Uploading", 14), ("PermissionDenied", 14)]
        assert "fileName" in await call_checked(stack, "GetDiagnostics", {"location": web.url("/private/"),
                                                                          "retries": 0})
        sent = await wait_for(stack, "DiagnosticsStatusNotification", count=2, since=refused)
        assert [m["status"] for m in sent] == ["Uploading", "UploadFailed"]
    # A location the charger cannot upload to, or a window it cannot act on: Rejected, no job.
    rejected = await last_seq(stack)
    assert await get_log(stack, "SecurityLog", 12, "sftp://127.0.0.1/logs/") == {"status": "Rejected"}
    assert await get_log(stack, "SecurityLog", 13, "ftp://127.0.0.1/logs/", oldestTimestamp="2026-05-02T00:00:00Z",
                         latestTimestamp="2026-05-01T00:00:00Z") == {"status": "Rejected"}
    await asyncio.sleep(0.5)
    assert await log_statuses(stack, rejected) == []
    assert FTP_PASSWORD not in (stack.workdir / "agent.log").read_text()
    await no_schema_violation(stack)


async def test_get_log_second_request_cancels_the_first(charger):
    """AcceptedCanceled; the whitepaper's LogStatusNotification has no AcceptedCanceled, so
    the replaced upload ends UploadFailure with its own requestId (the backend is not left
    waiting for it); the second runs to its end."""
    stack = await charger(connectors=1)
    with silent_server() as port, HttpStore() as web:
        since = await last_seq(stack)
        first = await get_log(stack, "SecurityLog", 1, f"ftp://127.0.0.1:{port}/", retries=0)
        assert first["status"] == "Accepted"
        assert await wait_log_statuses(stack, since, 1) == [("Uploading", 1)]
        # While it hangs: a triggered LogStatusNotification says Uploading, with its requestId.
        [uploading] = await triggered(stack, "LogStatusNotification")
        assert uploading == {"status": "Uploading", "requestId": 1}
        second = await get_log(stack, "SecurityLog", 2, web.url("/sec/"))
        assert second["status"] == "AcceptedCanceled"
        assert await wait_log_statuses(stack, since, 5) == [("Uploading", 1), ("Uploading", 1), ("UploadFailure", 1),
                                                           ("Uploading", 2), ("Uploaded", 2)]
        assert list(web.files) == [f"/sec/{second['filename']}"]
    assert agent_events(stack, "diagnostics upload replaced by a new request")
    await asyncio.sleep(0.5)
    assert [s for s in await log_statuses(stack, since) if s[1] == 1] == [("Uploading", 1), ("Uploading", 1),
                                                                          ("UploadFailure", 1)]
    await no_schema_violation(stack)


async def test_get_log_cut_short_by_a_power_cut_ends_with_upload_failure(charger):
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    with silent_server() as port:
        assert (await get_log(stack, "DiagnosticsLog", 42, f"ftp://127.0.0.1:{port}/", retries=2))["status"] == "Accepted"
        assert await wait_log_statuses(stack, since, 1) == [("Uploading", 42)]
        boot = await restart_agent_and_wait(stack, signal.SIGKILL)
    assert await wait_log_statuses(stack, boot, 1) == [("UploadFailure", 42)]
    # The backend has it; the charger forgets it once the answer is in (its job record goes).
    record = stack.state_dir / JOB_FILE
    for _ in range(100):
        if not record.exists():
            break
        await asyncio.sleep(0.05)
    assert not record.exists()
    after = await restart_agent_and_wait(stack)  # delivered: said once, not again
    await asyncio.sleep(1.0)
    assert await log_statuses(stack, after) == []
    await no_schema_violation(stack)


async def test_extended_trigger_message(charger):
    stack = await charger(connectors=2)
    [boot] = await triggered(stack, "BootNotification")
    assert boot["chargePointVendor"]
    assert await triggered(stack, "Heartbeat") == [{}]
    [status] = await triggered(stack, "StatusNotification", connectorId=2)
    assert status["connectorId"] == 2 and status["status"] == "Available"
    [meter] = await triggered(stack, "MeterValues", connectorId=1)
    assert meter["connectorId"] == 1 and meter["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    # FirmwareStatusNotification asks for the signed update's status: Idle, no requestId, between jobs.
    assert await triggered(stack, "FirmwareStatusNotification") == [{"status": "Idle"}]
    assert await triggered(stack, "LogStatusNotification") == [{"status": "Idle"}]
    # (SignChargePointCertificate: tests/conformance/test_own_certificate.py, TC_074.)
    since = await last_seq(stack)
    # connectorId > 0, and one the charger has.
    await triggered(stack, "StatusNotification", answer="Rejected", connectorId=3)
    await triggered(stack, "MeterValues", answer="Rejected", connectorId=0)
    await asyncio.sleep(0.5)
    assert [m["action"] for m in await messages(stack, None, since) if m["action"] != "Heartbeat"] == []
    await no_schema_violation(stack)


async def test_get_log_security_log_holds_the_events_the_charger_raised(charger, tmp_path: Path):
    """The security log is the one the charger writes: the start it told the backend, and a
    CSMS root it refused (InvalidCentralSystemCertificate), uploaded by GetLog SecurityLog
    with no window, in the order they happened."""
    stack = await charger(connectors=1)
    refused = await call_checked(stack, "InstallCertificate", {
        "certificateType": "CentralSystemRootCertificate", "certificate": "not a certificate"})
    assert refused == {"status": "Rejected"}
    with FtpServer(tmp_path / "ftp") as ftp:
        (ftp.root / "security").mkdir()
        since = await last_seq(stack)
        answer = await get_log(stack, "SecurityLog", 80, ftp.url("/security/"))
        assert answer["status"] == "Accepted"
        assert await wait_log_statuses(stack, since, 2) == [("Uploading", 80), ("Uploaded", 80)]
        uploaded = (ftp.root / "security" / answer["filename"]).read_bytes()
    lines = [json.loads(line) for line in members_of(uploaded)["security.jsonl"].decode().splitlines()]
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "StartupOfTheDevice", kinds
    assert "InvalidCsmsCertificate" in kinds, kinds
    assert all(line["timestamp"] and "techInfo" in line for line in lines)
    await no_schema_violation(stack)
