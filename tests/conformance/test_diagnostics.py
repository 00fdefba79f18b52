"""Diagnostics (TC_045_1, TC_045_2): GetDiagnostics uploads an archive of the agent's logs,
configuration, database summary and versions, to an FTP or HTTP server started here.

The agent is the real process against the real test CSMS; the servers are real (pyftpdlib
with a user and a password, a small HTTP server storing what is PUT, a port that refuses).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import tarfile
import threading
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from agent import __version__
from agent.jobs import MAX_RETRIES, MIN_RETRY_INTERVAL_S
from agent.logs import log_path
from simulators.harness import Stack

from ..secret_scan import secret
from ..file_servers import FTP_PASSWORD, FtpServer, HttpStore, closed_port, silent_server
from .helpers import (
    call_checked,
    last_seq,
    messages,
    new_id_tag,
    plug_and_charge,
    restart_agent_and_wait,
    wait_for,
    wait_rebooted,
)

AUTHORIZATION_KEY = secret("Diag-AuthKey-0123456789")
MEMBERS = {"logs.jsonl", "config.toml", "database.json", "version.json"}


def ocpp_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def get_diagnostics(stack: Stack, location: str, **fields: Any) -> str:
    """GetDiagnostics; return the fileName the charger announced."""
    result = await call_checked(stack, "GetDiagnostics", {"location": location, **fields})
    assert "error" not in result, f"GetDiagnostics answered {result}"
    name = str(result["fileName"])
    assert re.fullmatch(rf"diagnostics-{re.escape(stack.cp_id)}-\d{{8}}T\d{{6}}Z(-\d+)?\.tar\.gz", name), name
    return name


async def statuses(stack: Stack, since: int) -> list[str]:
    return [m["payload"]["status"] for m in await messages(stack, "DiagnosticsStatusNotification", since)]


async def wait_statuses(stack: Stack, since: int, count: int, timeout: float = 15.0) -> list[str]:
    sent = await wait_for(stack, "DiagnosticsStatusNotification", count=count, since=since, timeout=timeout)
    return [m["status"] for m in sent]


async def triggered_status(stack: Stack) -> str:
    since = await last_seq(stack)
    result = await call_checked(stack, "TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"})
    assert result == {"status": "Accepted"}
    return str((await wait_for(stack, "DiagnosticsStatusNotification", since=since))[0]["status"])


def archive_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def agent_events(stack: Stack, event: str) -> list[dict[str, Any]]:
    """The agent's stdout log records (JSON lines) of one event."""
    records = [json.loads(line) for line in (stack.workdir / "agent.log").read_text().splitlines()
               if line.startswith("{")]
    return [r for r in records if r.get("event") == event]


def stamp(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["timestamp"])


def work_files(stack: Stack) -> list[Path]:
    """What is left in the agent's temporary place for archives."""
    directory = stack.state_dir / "diagnostics"
    return sorted(directory.iterdir()) if directory.exists() else []


async def test_tc_045_1_get_diagnostics(charger, tmp_path: Path):
    stack = await charger(connectors=1, backend={"authorization_key": AUTHORIZATION_KEY})
    id_tag = new_id_tag()
    assert (await call_checked(stack, "SendLocalList", {
        "listVersion": 7, "updateType": "Full",
        "localAuthorizationList": [{"idTag": f"LIST{n}", "idTagInfo": {"status": "Accepted"}} for n in range(3)],
    })) == {"status": "Accepted"}
    await asyncio.sleep(0.05)
    window_start = datetime.now(timezone.utc)
    await asyncio.sleep(0.05)
    await plug_and_charge(stack, connector=1, id_tag=id_tag)  # a transaction, open while diagnosed
    await asyncio.sleep(0.05)
    window_stop = datetime.now(timezone.utc)
    await asyncio.sleep(0.05)

    with FtpServer(tmp_path / "ftp") as ftp:
        (ftp.root / "incoming").mkdir()
        since = await last_seq(stack)
        # The location is the directory, here without a trailing "/" as many backends send it.
        name = await get_diagnostics(stack, ftp.url("/incoming"), retries=0,
                                     startTime=ocpp_time(window_start), stopTime=ocpp_time(window_stop))
        assert await wait_statuses(stack, since, 2) == ["Uploading", "Uploaded"]
        assert [p.name for p in (ftp.root / "incoming").iterdir()] == [name]
        uploaded = (ftp.root / "incoming" / name).read_bytes()
    assert await statuses(stack, since) == ["Uploading", "Uploaded"]
    assert await triggered_status(stack) == "Idle"
    assert work_files(stack) == []

    members = archive_members(uploaded)
    assert set(members) == MEMBERS
    for text in members.values():
        assert AUTHORIZATION_KEY.encode() not in text and FTP_PASSWORD.encode() not in text

    # Only the log lines of the window: the session's, not the boot's nor the request's.
    lines = [json.loads(line) for line in members["logs.jsonl"].decode().splitlines()]
    assert lines, "no log lines in the window"
    assert all(window_start <= stamp(line) <= window_stop for line in lines)
    events = {line["event"] for line in lines}
    assert {"card presented", "transaction started"} <= events, events
    assert "connected to backend" not in events and "get diagnostics" not in events
    kept = [json.loads(line) for line in log_path(stack.state_dir).read_text().splitlines()]
    assert {"connected to backend", "get diagnostics"} <= {line["event"] for line in kept}

    config = tomllib.loads(members["config.toml"].decode())
    assert config["charge_point"]["id"] == stack.cp_id
    assert config["backend"]["authorization_key"] == "****"
    assert config["logging"]["file_mb"] == 8.0

    database = json.loads(members["database.json"])
    assert database["schema_version"] >= 6 and database["file_bytes"] > 0
    assert database["transactions"] == {"total": 1, "open": 1}
    assert database["local_list"] == {"version": 7, "size": 3}
    assert database["authorization_cache"] == {"size": 1}  # the card just accepted
    outbox = database["outbox"]
    assert (outbox["pending"] == 0) == (outbox["oldest_pending_age_s"] is None)

    version = json.loads(members["version.json"])
    assert version["ladda"] == __version__ and version["python"].startswith("3.")
    assert version["kernel"] and version["platform"]
    assert set(version["libraries"]) == {"ocpp", "websockets", "pymodbus", "pyscard"}
    assert all(version["libraries"].values())
    assert 0 < version["agent_uptime_s"] < 120


async def test_tc_045_2_unable_to_upload_diagnostics(charger):
    stack = await charger(connectors=1)
    port = closed_port()
    since = await last_seq(stack)
    # One retry one second later, asked: the charger waits its least interval instead.
    await get_diagnostics(stack, f"ftp://diag:{FTP_PASSWORD}@127.0.0.1:{port}/incoming/", retries=1, retryInterval=1)
    assert await wait_statuses(stack, since, 1) == ["Uploading"]
    assert await triggered_status(stack) == "Uploading"  # between the two attempts
    sent = await wait_statuses(stack, since, 3, timeout=MIN_RETRY_INTERVAL_S + 15)
    assert sent == ["Uploading", "Uploading", "UploadFailed"]
    retrying = agent_events(stack, "diagnostics upload failed; trying again")
    failures = agent_events(stack, "diagnostics upload failed")
    assert [(f["attempt"], f["attempts"]) for f in retrying + failures] == [(1, 2), (2, 2)]
    assert stamp(failures[0]) - stamp(retrying[0]) >= timedelta(seconds=MIN_RETRY_INTERVAL_S)
    assert f"connection refused by 127.0.0.1:{port}" in failures[0]["error"]
    assert await statuses(stack, since) == ["Uploading", "Uploading", "UploadFailed"]
    assert await triggered_status(stack) == "Idle"
    assert work_files(stack) == []
    assert FTP_PASSWORD not in (stack.workdir / "agent.log").read_text()


async def test_http_put_upload_replacing_a_running_request(charger):
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    # The first request is stuck retrying a refused port; the second replaces it.
    await get_diagnostics(stack, f"http://127.0.0.1:{closed_port()}/", retries=5, retryInterval=30)
    assert await wait_statuses(stack, since, 1) == ["Uploading"]
    with HttpStore() as web:
        name = await get_diagnostics(stack, web.url("/diag"))  # a directory, named without its "/"
        assert await wait_statuses(stack, since, 3) == ["Uploading", "Uploading", "Uploaded"]
        assert list(web.files) == [f"/diag/{name}"]
        uploaded = web.files[f"/diag/{name}"]
    assert [method for method, _ in web.requests] == ["PUT"]
    assert work_files(stack) == []
    members = archive_members(uploaded)
    assert set(members) == MEMBERS
    # No window: every line the agent kept, from its start to the request.
    events = [json.loads(line)["event"] for line in members["logs.jsonl"].decode().splitlines()]
    assert events.index("starting") < events.index("connected to backend") < events.index("get diagnostics")
    assert agent_events(stack, "diagnostics upload replaced by a new request")
    assert [e["to"] for e in agent_events(stack, "diagnostics uploaded")] == [web.url(f"/diag/{name}")]


async def test_status_held_while_offline_is_sent_after_reconnecting(charger):
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    await get_diagnostics(stack, f"ftp://127.0.0.1:{closed_port()}/", retries=1, retryInterval=1)  # 30 s apart
    await wait_statuses(stack, since, 1)
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    cut = await last_seq(stack)
    # Both attempts fail while the link is down: the upload carries on without it.
    for _ in range(10 * (MIN_RETRY_INTERVAL_S + 10)):
        if agent_events(stack, "diagnostics upload failed"):
            break
        await asyncio.sleep(0.1)
    assert len(agent_events(stack, "diagnostics upload failed")) == 1
    await stack.bench_request("link", state="up")
    assert await wait_statuses(stack, cut, 1) == ["UploadFailed"]
    await asyncio.sleep(0.5)
    assert await statuses(stack, cut) == ["UploadFailed"]  # the latest only, once


async def test_shutdown_during_an_upload_is_prompt_and_leaves_nothing(charger):
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    with silent_server() as port:  # accepts the connection, never answers: the upload hangs
        await get_diagnostics(stack, f"ftp://127.0.0.1:{port}/", retries=0)
        assert await wait_statuses(stack, since, 1) == ["Uploading"]
        for _ in range(50):
            if agent_events(stack, "diagnostics archive built"):
                break
            await asyncio.sleep(0.1)
        assert len(work_files(stack)) == 1  # the archive, being uploaded
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await stack.stop_agent() == 0
        assert loop.time() - started < 5.0
    assert work_files(stack) == []
    assert await statuses(stack, since) == ["Uploading"]


async def test_retries_asked_beyond_the_caps_are_bounded_and_logged_once(charger):
    """Item 7: 99,999,999 retries a second apart become the charger's caps, said once in
    the log; the attempts that fail alike are not logged one by one."""
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    await get_diagnostics(stack, f"ftp://127.0.0.1:{closed_port()}/", retries=99_999_999, retryInterval=1)
    assert await wait_statuses(stack, since, 1) == ["Uploading"]
    [asked] = agent_events(stack, "get diagnostics")
    assert (asked["retries"], asked["retry_interval"]) == (MAX_RETRIES, MIN_RETRY_INTERVAL_S)
    [bounded] = agent_events(stack, "diagnostics: retries bounded")
    assert bounded["retries_asked"] == 99_999_999 and bounded["retries"] == MAX_RETRIES
    await asyncio.sleep(2.0)
    assert len(agent_events(stack, "diagnostics upload failed; trying again")) == 1
    assert await statuses(stack, since) == ["Uploading"]  # waiting, not hammering the server


async def test_absurd_or_unreadable_times_are_declined(charger):
    stack = await charger(connectors=1)
    location = f"ftp://127.0.0.1:{closed_port()}/"
    since = await last_seq(stack)
    # No RFC 3339 time at all breaks the schema's date-time format: the framing refuses it.
    answer = await stack.csms.request("call", cp=stack.cp_id, action="GetDiagnostics",
                                      payload={"location": location, "startTime": "HARD"})
    assert answer["error"]["code"] == "PropertyConstraintViolation"
    # Valid times the charger cannot act on are declined by the job itself.
    for fields in ({"stopTime": "9999-12-31T23:59:59Z"}, {"startTime": "0001-01-01T00:00:00Z"},
                   {"startTime": "2026-05-02T00:00:00Z", "stopTime": "2026-05-01T00:00:00Z"}):
        assert await call_checked(stack, "GetDiagnostics", {"location": location, **fields}) == {}, fields
    declined = agent_events(stack, "get diagnostics declined")
    assert len(declined) == 3
    assert "days ahead" in declined[0]["reason"] and "before 2000" in declined[1]["reason"]
    assert "after stopTime" in declined[2]["reason"]
    await asyncio.sleep(0.5)
    assert await statuses(stack, since) == []  # no job: nothing to report
    assert "Traceback" not in stack.agent_log()


async def test_a_soft_reset_while_waiting_to_retry_ends_the_job_with_upload_failed(charger):
    """Item 8: the job a reset cuts short is reported failed after the restart, so the
    backend does not wait for it forever; and only once."""
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    await get_diagnostics(stack, f"http://127.0.0.1:{closed_port()}/incoming/", retries=3, retryInterval=60)
    assert await wait_statuses(stack, since, 1) == ["Uploading"]
    for _ in range(50):  # the first attempt failed: the job waits to try again
        if agent_events(stack, "diagnostics upload failed; trying again"):
            break
        await asyncio.sleep(0.1)
    reset = await last_seq(stack)
    assert await call_checked(stack, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    boot = await wait_rebooted(stack, reset)
    assert await wait_statuses(stack, boot, 1) == ["UploadFailed"]
    assert await statuses(stack, since) == ["Uploading", "UploadFailed"]
    assert await triggered_status(stack) == "Idle"
    assert work_files(stack) == [] or all(p.is_dir() for p in work_files(stack))
    # Delivered: the record is gone, and another restart says nothing more.
    after = await restart_agent_and_wait(stack)
    await asyncio.sleep(1.0)
    assert await statuses(stack, after) == []


async def test_a_power_cut_during_an_upload_ends_the_job_with_upload_failed(charger):
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    with silent_server() as port:  # the upload hangs: the power goes meanwhile
        await get_diagnostics(stack, f"ftp://diag:{FTP_PASSWORD}@127.0.0.1:{port}/", retries=2)
        assert await wait_statuses(stack, since, 1) == ["Uploading"]
        boot = await restart_agent_and_wait(stack, signal.SIGKILL)
    assert await wait_statuses(stack, boot, 1) == ["UploadFailed"]
    assert await statuses(stack, since) == ["Uploading", "UploadFailed"]
    assert FTP_PASSWORD not in (stack.workdir / "agent.log").read_text()


async def test_a_final_status_the_link_could_not_carry_survives_a_restart(charger):
    """Uploaded while the backend is unreachable, then restarted before the link came back:
    the backend hears Uploaded (not UploadFailed, and not nothing)."""
    stack = await charger(connectors=1)
    with HttpStore() as web:
        web.gate = threading.Event()  # the upload is held open until the link is down
        since = await last_seq(stack)
        await get_diagnostics(stack, web.url("/diag/"))
        assert await wait_statuses(stack, since, 1) == ["Uploading"]
        await stack.bench_request("link", state="cut")
        await stack.bench_request("wait_for", field="link", value="cut")
        web.gate.set()
        for _ in range(100):
            if agent_events(stack, "diagnostics uploaded"):
                break
            await asyncio.sleep(0.1)
        assert agent_events(stack, "diagnostics uploaded")
        await stack.stop_agent()
        await stack.bench_request("link", state="up")
        await stack.start_agent()
        boot = await wait_rebooted(stack, since)
    assert await wait_statuses(stack, boot, 1) == ["Uploaded"]
