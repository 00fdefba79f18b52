"""The test CSMS as its users see it: a real process, a real websocket, its control channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ocpp.v16
import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulators.control import ControlClient, ControlError

REPO = Path(__file__).resolve().parents[2]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEARTBEAT_KEY = {"key": "HeartbeatInterval", "readonly": False, "value": "42"}


def at(hh_mm: str) -> str:
    """An OCPP timestamp on a fixed day, so ledger fields can be compared exactly."""
    return f"2025-01-01T{hh_mm}:00.000Z"


@dataclass
class CsmsProcess:
    proc: subprocess.Popen[bytes]
    port: int
    control: Path
    ready_file: Path

    def url(self, cp_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{cp_id}"


@pytest.fixture
def start_csms() -> Iterator[Callable[..., CsmsProcess]]:
    """Start the CSMS as a subprocess on a free port; always kill it afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="csms", dir="/tmp"))  # short: Unix socket paths
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> CsmsProcess:
        n = len(procs)
        control, ready = workdir / f"c{n}.sock", workdir / f"ready{n}.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulators.csms", "--listen", "127.0.0.1:0",
             "--control", str(control), "--ready-file", str(ready), *extra],
            cwd=REPO,
        )
        procs.append(proc)
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert proc.poll() is None, f"csms exited early with {proc.returncode}"
            assert time.monotonic() < deadline, "csms did not become ready within 10 s"
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        assert info["pid"] == proc.pid
        return CsmsProcess(proc, info["port"], control, ready)

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def csms(start_csms: Callable[..., CsmsProcess]) -> CsmsProcess:
    return start_csms()


@pytest.fixture
async def ctl(csms: CsmsProcess) -> AsyncIterator[ControlClient]:
    client = ControlClient(csms.control)
    try:
        yield client
    finally:
        await client.close()


class ProbeChargePoint(ocpp.v16.ChargePoint):
    """A minimal charge point: answers GetConfiguration, nothing else."""

    @on(Action.get_configuration)
    def on_get_configuration(self, **_: Any) -> call_result.GetConfiguration:
        return call_result.GetConfiguration(configuration_key=[HEARTBEAT_KEY])


@contextlib.asynccontextmanager
async def charge_point(csms: CsmsProcess, cp_id: str = "CP-1") -> AsyncIterator[ProbeChargePoint]:
    async with connect(csms.url(cp_id), subprotocols=["ocpp1.6"]) as ws:
        cp = ProbeChargePoint(cp_id, ws)

        async def serve() -> None:
            with contextlib.suppress(ConnectionClosed):
                await cp.start()

        async with asyncio.TaskGroup() as tasks:
            task = tasks.create_task(serve())
            try:
                yield cp
            finally:
                task.cancel()


async def boot(cp: ProbeChargePoint) -> call_result.BootNotification:
    request = call.BootNotification(charge_point_model="Probe", charge_point_vendor="Ladda")
    return await cp.call(request, suppress=False)


async def test_boot_is_accepted_with_the_configured_interval(
    start_csms: Callable[..., CsmsProcess],
) -> None:
    csms = start_csms("--heartbeat-interval", "42")
    client = ControlClient(csms.control)
    try:
        async with charge_point(csms) as cp:
            reply = await boot(cp)
            heartbeat = await cp.call(call.Heartbeat(), suppress=False)
            status = await client.request("status")
            log = (await client.request("messages", cp="CP-1"))["messages"]
    finally:
        await client.close()

    assert (reply.status, reply.interval) == ("Accepted", 42)
    assert TIMESTAMP.match(reply.current_time) and TIMESTAMP.match(heartbeat.current_time)
    assert status["port"] == csms.port
    assert status["charge_points"] == [{"id": "CP-1", "connected": True, "boot_status": "Accepted"}]
    assert [(m["seq"], m["direction"], m["type"], m["action"]) for m in log] == [
        (1, "event", "connected", ""),
        (2, "in", "CALL", "BootNotification"),
        (3, "out", "CALLRESULT", "BootNotification"),
        (4, "in", "CALL", "Heartbeat"),
        (5, "out", "CALLRESULT", "Heartbeat"),
    ]
    assert log[1]["payload"] == {"chargePointModel": "Probe", "chargePointVendor": "Ladda"}
    assert log[2]["unique_id"] == log[1]["unique_id"]
    assert log[2]["payload"]["interval"] == 42
    assert all(TIMESTAMP.match(m["time"]) for m in log)


async def test_set_boot_makes_later_boots_pending_or_rejected(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    await ctl.request("set_boot", status="Pending", interval=7)
    async with charge_point(csms) as cp:
        pending = await boot(cp)
        await ctl.request("set_boot", status="Rejected")
        rejected = await boot(cp)
        status = await ctl.request("status")
    with pytest.raises(ControlError, match="status must be one of Accepted, Pending, Rejected"):
        await ctl.request("set_boot", status="Maybe")

    assert (pending.status, pending.interval) == ("Pending", 7)
    assert (rejected.status, rejected.interval) == ("Rejected", 7)
    assert status["charge_points"][0]["boot_status"] == "Rejected"


async def test_ledger_is_built_from_start_meter_values_and_stop(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    await ctl.request("set_id_tag", id_tag="BLOCKED1", status="Blocked", parent_id_tag="FLEET")
    samples = [
        {"timestamp": at("10:05"),
         "sampledValue": [{"value": "2000", "measurand": "Energy.Active.Import.Register"}]},
        {"timestamp": at("10:10"), "sampledValue": [{"value": "3000"}]},
    ]
    async with charge_point(csms) as cp:
        await boot(cp)
        await cp.call(call.Authorize(id_tag="BLOCKED1"), suppress=False)
        await cp.call(call.Authorize(id_tag="ANYONE"), suppress=False)
        started = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=at("10:00")
            ),
            suppress=False,
        )
        await cp.call(
            call.MeterValues(
                connector_id=1, transaction_id=started.transaction_id, meter_value=samples
            ),
            suppress=False,
        )
        await cp.call(
            call.StopTransaction(
                meter_stop=4500, timestamp=at("10:30"),
                transaction_id=started.transaction_id, id_tag="TAG1",
            ),
            suppress=False,
        )
        second = await cp.call(
            call.StartTransaction(
                connector_id=2, id_tag="BLOCKED1", meter_start=0, timestamp=at("11:00")
            ),
            suppress=False,
        )
        ledger = await ctl.request("ledger", cp="CP-1")
        answers = await ctl.request("messages", cp="CP-1", action="Authorize")

    assert [m["payload"] for m in answers["messages"] if m["direction"] == "out"] == [
        {"idTagInfo": {"status": "Blocked", "parentIdTag": "FLEET"}},
        {"idTagInfo": {"status": "Accepted"}},
    ]
    assert (started.transaction_id, second.transaction_id) == (1, 2)
    assert second.id_tag_info["status"] == "Blocked"
    first, running = ledger["transactions"]
    assert first == {
        "charge_point": "CP-1",
        "transaction_id": 1,
        "connector_id": 1,
        "id_tag": "TAG1",
        "start_time": at("10:00"),
        "meter_start": 1000,
        "reservation_id": None,
        "stopped": True,
        "stop_time": at("10:30"),
        "meter_stop": 4500,
        "reason": "Local",
        "stop_id_tag": "TAG1",
        "transaction_data": [],
        "meter_values": samples,
        "energy_wh": 3500,
    }
    assert (running["transaction_id"], running["stopped"], running["energy_wh"]) == (2, False, None)
    assert ledger["anomalies"] == []


async def test_messages_for_unknown_or_repeated_transactions_are_anomalies(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    start = call.StartTransaction(
        connector_id=1, id_tag="TAG1", meter_start=10, timestamp=at("10:00")
    )
    async with charge_point(csms) as cp:
        await boot(cp)
        stopped = await cp.call(
            call.StopTransaction(
                meter_stop=20, timestamp=at("10:30"), transaction_id=99, id_tag="TAG1"
            ),
            suppress=False,
        )
        await cp.call(
            call.MeterValues(
                connector_id=1, transaction_id=98,
                meter_value=[{"timestamp": at("10:01"), "sampledValue": [{"value": "1"}]}],
            ),
            suppress=False,
        )
        first = await cp.call(start, suppress=False)
        repeat = await cp.call(start, suppress=False)
        ledger = await ctl.request("ledger")

    assert stopped.id_tag_info == {"status": "Accepted"}
    assert repeat.transaction_id == first.transaction_id == 1
    assert [t["transaction_id"] for t in ledger["transactions"]] == [1]
    seen = [
        (a["kind"], a["action"], a["transaction_id"], a["charge_point"])
        for a in ledger["anomalies"]
    ]
    assert seen == [
        ("unknown_transaction", "StopTransaction", 99, "CP-1"),
        ("unknown_transaction", "MeterValues", 98, "CP-1"),
        ("duplicate_start", "StartTransaction", 1, "CP-1"),
    ]


async def test_call_returns_the_charge_points_answer_or_error(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    async with charge_point(csms) as cp:
        await boot(cp)
        answered = await ctl.request(
            "call", cp="CP-1", action="GetConfiguration", payload={"key": ["HeartbeatInterval"]}
        )
        refused = await ctl.request("call", cp="CP-1", action="Reset", payload={"type": "Soft"})
        with pytest.raises(ControlError, match="not a valid OCPP 1.6 Reset payload"):
            await ctl.request("call", cp="CP-1", action="Reset", payload={"type": "Bogus"})
        log = (await ctl.request("messages", cp="CP-1", action="GetConfiguration"))["messages"]

    assert answered == {
        "ok": True,
        "result": {"configurationKey": [HEARTBEAT_KEY]},
    }
    assert refused["ok"] is True
    assert refused["error"]["code"] == "NotImplemented"
    assert [(m["direction"], m["type"]) for m in log] == [("out", "CALL"), ("in", "CALLRESULT")]


async def test_call_to_a_charge_point_that_is_not_connected_fails_clearly(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    with pytest.raises(ControlError, match="charge point 'CP-9' is not connected"):
        await ctl.request("call", cp="CP-9", action="ClearCache", payload={})

    async with connect(csms.url("CP-1"), subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"hb-1","Heartbeat",{}]')
        await ws.recv()  # answered: the CSMS knows this connection now

        async def hang_up_on_the_call() -> str:
            request = json.loads(await ws.recv())
            await ws.close()
            return str(request[2])

        outcome = await asyncio.gather(
            ctl.request("call", cp="CP-1", action="ClearCache", payload={}, timeout=5),
            hang_up_on_the_call(),
            return_exceptions=True,
        )
    with pytest.raises(ControlError, match="charge point 'CP-1' is not connected"):
        await ctl.request("call", cp="CP-1", action="ClearCache", payload={}, timeout=2)

    failed, seen = outcome
    assert seen == "ClearCache"
    assert isinstance(failed, ControlError)
    assert str(failed) == "call: CP-1 disconnected before answering"


async def test_send_raw_returns_the_frame_that_answers_it(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    async with charge_point(csms) as cp:
        await boot(cp)
        wrong_type = await ctl.request(
            "send_raw", cp="CP-1", frame='[2,"raw-1","GetConfiguration",{"key":"Heartbeat"}]'
        )
        with pytest.raises(ControlError, match="CP-1 did not answer the raw frame within 0.3 s"):
            await ctl.request("send_raw", cp="CP-1", frame='[2,"raw-2",', timeout=0.3)
        log = (await ctl.request("messages", cp="CP-1", since_seq=3))["messages"]

    assert wrong_type["reply"][:2] == [4, "raw-1"]
    assert wrong_type["reply"][2] in {"TypeConstraintViolation", "FormationViolation"}
    assert [(m["direction"], m["type"], m["action"]) for m in log] == [
        ("out", "CALL", "GetConfiguration"),
        ("in", "CALLERROR", "GetConfiguration"),
        ("out", "INVALID", ""),
    ]
    assert log[-1]["raw"] == '[2,"raw-2",'


async def test_malformed_call_from_a_charge_point_gets_a_callerror_and_no_transaction(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    async with connect(csms.url("CP-RAW"), subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"bad-1","StartTransaction",{"connectorId":1}]')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    log = (await ctl.request("messages", cp="CP-RAW", action="StartTransaction"))["messages"]
    ledger = await ctl.request("ledger", cp="CP-RAW")

    assert reply[:2] == [4, "bad-1"]
    assert [(m["direction"], m["type"]) for m in log] == [("in", "CALL"), ("out", "CALLERROR")]
    assert log[1]["payload"]["errorCode"] == reply[2]
    assert ledger == {"ok": True, "transactions": [], "anomalies": []}


async def test_wait_for_returns_calls_as_they_arrive_and_times_out_clearly(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    waiter = ControlClient(csms.control)
    try:
        async with asyncio.TaskGroup() as tasks:
            pending = tasks.create_task(
                waiter.request("wait_for", cp="CP-1", action="BootNotification", timeout=5)
            )
            async with charge_point(csms) as cp:
                await boot(cp)
                booted = await pending
                with pytest.raises(
                    ControlError,
                    match=r"timed out after 0.3 s waiting for 1 Heartbeat from CP-1 after seq 0",
                ):
                    await ctl.request("wait_for", cp="CP-1", action="Heartbeat", timeout=0.3)
    finally:
        await waiter.close()

    assert [m["action"] for m in booted["messages"]] == ["BootNotification"]


async def test_a_new_connection_replaces_the_old_and_disconnect_closes_it(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    async with connect(csms.url("CP-1"), subprotocols=["ocpp1.6"]) as first:
        async with connect(csms.url("CP-1"), subprotocols=["ocpp1.6"]) as second:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.recv(), 5)
            assert first.close_reason == "replaced by a new connection"
            await ctl.request("disconnect", cp="CP-1")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(second.recv(), 5)
    status = await ctl.request("status")
    log = (await ctl.request("messages", cp="CP-1"))["messages"]

    assert status["charge_points"] == [{"id": "CP-1", "connected": False, "boot_status": None}]
    assert [m["type"] for m in log] == ["connected", "disconnected", "connected", "disconnected"]
    assert log[1]["payload"]["reason"] == "replaced by a new connection"


async def test_a_connection_without_an_ocpp_subprotocol_it_speaks_is_refused(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    """Neither ocpp1.6 nor ocpp2.0.1 (both are served: test_csms_v201.py)."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(csms.url("CP-2"), subprotocols=["ocpp1.5", "ocpp2.1"]):
            pass
    log = (await ctl.request("messages", cp="CP-2"))["messages"]

    assert refused.value.response.status_code == 400
    assert [(m["type"], m["payload"]["offered"]) for m in log] == [("rejected", ["ocpp1.5", "ocpp2.1"])]


async def test_sigterm_closes_connections_and_exits_zero(csms: CsmsProcess) -> None:
    async with connect(csms.url("CP-1"), subprotocols=["ocpp1.6"]) as ws:
        csms.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert await asyncio.to_thread(csms.proc.wait, 5) == 0
    assert not csms.control.exists() and not csms.ready_file.exists()


async def test_a_fuzzer_can_answer_garbage_and_send_binary_frames(csms: CsmsProcess, ctl: ControlClient) -> None:
    """answer_raw, send_raw's binary and any_id, and the messages direction filter (docs/csms.md)."""
    await ctl.request("answer_raw", cp="CP-1", action="Heartbeat", frames=['[4,"$ID","BogusCode","",{}]'])
    async with connect(csms.url("CP-1"), subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"hb-1","Heartbeat",{}]')
        garbage = json.loads(await ws.recv())
        await ws.send('[2,"hb-2","Heartbeat",{}]')
        normal = json.loads(await ws.recv())
        sending = asyncio.ensure_future(ctl.request(
            "send_raw", cp="CP-1", frame='[2,"b-1","Reset",{}]', binary=True, any_id=True, timeout=5))
        received = await ws.recv()
        await ws.send('[4,"-1","FormationViolation","a binary frame",{}]')
        reply = await sending
    # The backend notes the disconnection once its side of the close is done: wait for it.
    for _ in range(50):
        events = (await ctl.request("messages", cp="CP-1", direction=["event"]))["messages"]
        if len(events) >= 2:
            break
        await asyncio.sleep(0.1)

    assert garbage == [4, "hb-1", "BogusCode", "", {}]
    assert normal[:2] == [3, "hb-2"] and "currentTime" in normal[2]
    assert received == b'[2,"b-1","Reset",{}]'
    assert reply["reply"][:3] == [4, "-1", "FormationViolation"]
    assert [m["type"] for m in events] == ["connected", "disconnected"]
