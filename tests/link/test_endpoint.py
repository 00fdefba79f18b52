"""The OCPP-J endpoint over a real websocket, against a scripted backend: every CALL gets
one answer with the right code, garbage answers to the charger's own calls fail only
that call, and the connection outlives all of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from agent.ocpp16.rpc import CallFailed, Rpc


class Charger(Rpc):
    """The endpoint with a few handlers that work, and one with a bug (ClearCache)."""

    @on("Reset")
    async def on_reset(self, type: str) -> Any:
        return call_result.Reset(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int) -> Any:
        return call_result.RemoteStopTransaction(status="Rejected")

    @on("ReserveNow")
    async def on_reserve_now(self, **_: Any) -> Any:
        return call_result.ReserveNow(status="Rejected")

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **_: Any) -> Any:
        return call_result.RemoteStartTransaction(status="Rejected")

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int) -> Any:
        from ocpp.exceptions import FormatViolationError

        raise FormatViolationError(details={})  # a library error in its 2.0.1 spelling

    @on("ClearCache")
    async def on_clear_cache(self) -> Any:
        raise RuntimeError("a bug in a handler")


class Backend:
    """The backend's side of the socket: send raw frames, read what the charger sends."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.ready = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        self.ready.set()
        await ws.wait_closed()

    @property
    def ws(self) -> ServerConnection:
        return self.connections[-1]

    async def ask(self, frame: str | bytes) -> list[Any]:
        await self.ws.send(frame)
        async with asyncio.timeout(5):
            return json.loads(await self.ws.recv())

    async def next_call(self) -> list[Any]:
        async with asyncio.timeout(5):
            return json.loads(await self.ws.recv())


@pytest.fixture
async def link() -> AsyncIterator[tuple[Backend, Charger]]:
    backend = Backend()
    async with serve(backend.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/CP") as ws:
            charger = Charger("CP", ws, response_timeout=3)
            reader = asyncio.create_task(charger.start())
            await backend.ready.wait()
            yield backend, charger
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            assert len(backend.connections) == 1  # one connection from the first frame to the last


@pytest.mark.parametrize(("frame", "code"), [
    ('[2,"1","Reset",{"type":"Sideways"}]', "PropertyConstraintViolation"),
    ('[2,"2","Reset",{}]', "ProtocolError"),  # 1.6: "Payload for Action is incomplete"
    ('[2,"3","Reset",{"type":7}]', "TypeConstraintViolation"),
    ('[2,"4","Reset",{"type":"Hard","when":"now"}]', "FormationViolation"),
    ('[2,"5","MakeCoffee",{}]', "NotImplemented"),
    ('[2,"6","GetCompositeSchedule",{"connectorId":1,"duration":60}]', "NotSupported"),
    ('[2,"7","ClearCache",{}]', "InternalError"),
    ('[2,"8",["Reset"],{}]', "FormationViolation"),
    ('[2,"9","RemoteStopTransaction",{"transactionId":9223372036854775808}]', "PropertyConstraintViolation"),
    ('[2,"10","ReserveNow",{"connectorId":1,"expiryDate":"soon","idTag":"A","reservationId":1}]',
     "PropertyConstraintViolation"),
])
async def test_every_bad_call_gets_its_callerror_and_the_link_stays(link, frame, code):
    backend, _ = link
    unique_id = json.loads(frame)[1]
    answer = await backend.ask(frame)
    assert answer[:3] == [4, unique_id, code] and isinstance(answer[3], str) and answer[4] == {}
    assert await backend.ask('[2,"next","Reset",{"type":"Soft"}]') == [3, "next", {"status": "Accepted"}]


LIMIT_1E30 = ('{"idTag":"A","chargingProfile":{"chargingProfileId":1,"stackLevel":0,'
              '"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Absolute","chargingSchedule":'
              '{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":%s}]}}}')


@pytest.mark.parametrize(("frame", "code"), [
    # multipleOf 0.1 on a number decimal arithmetic cannot divide
    (f'[2,"d1","RemoteStartTransaction",{LIMIT_1E30 % "1e30"}]', "PropertyConstraintViolation"),
    (f'[2,"d2","RemoteStartTransaction",{LIMIT_1E30 % "1000000000000000000000000000000"}]',
     "PropertyConstraintViolation"),
    (f'[2,"d3","RemoteStartTransaction",{LIMIT_1E30 % "21.4"}]', "Accepted"),  # 21.4 is a multiple of 0.1
    # a valid time that is no time in UTC
    ('[2,"t1","ReserveNow",{"connectorId":1,"expiryDate":"9999-12-31T23:59:59-05:00","idTag":"A","reservationId":1}]',
     "PropertyConstraintViolation"),
    ('[2,"t2","ReserveNow",{"connectorId":1,"expiryDate":"0001-01-01T00:00:00+01:00","idTag":"A","reservationId":1}]',
     "PropertyConstraintViolation"),
    ('[2,"t3","ReserveNow",{"connectorId":1,"expiryDate":"2030-01-01t00:00:00z","idTag":"A","reservationId":1}]',
     "PropertyConstraintViolation"),
    (f'[2,"n1","{"A" * 100}",{{}}]', "NotImplemented"),  # a long name is still a name
    ('[2,"u1","UnlockConnector",{"connectorId":1}]', "FormationViolation"),
])
async def test_numbers_and_times_no_one_can_use(link, frame, code):
    backend, _ = link
    answer = await backend.ask(frame)
    if code == "Accepted":
        assert answer == [3, json.loads(frame)[1], {"status": "Rejected"}]  # reached the handler
    else:
        assert answer[:3] == [4, json.loads(frame)[1], code]


async def test_a_callerror_description_never_quotes_the_backend(link):
    backend, _ = link
    answer = await backend.ask('["SECRET-TYPE-ID","x1","Reset",{"type":"Hard"}]')
    assert answer[:3] == [4, "x1", "FormationViolation"] and "SECRET" not in answer[3]
    answer = await backend.ask('[2,"x2","Reset",{"type":"Hard","SECRET-PROPERTY":"SECRET-VALUE"}]')
    assert answer[:3] == [4, "x2", "FormationViolation"] and "SECRET" not in answer[3]
    answer = await backend.ask('[2,"x3","Reset",{"type":"SECRET-ENUM"}]')
    assert answer[:3] == [4, "x3", "PropertyConstraintViolation"] and "SECRET" not in answer[3]


async def test_not_implemented_and_not_supported_say_what_they_mean(link):
    backend, _ = link
    unknown = await backend.ask('[2,"a","MakeCoffee",{}]')
    known = await backend.ask('[2,"b","GetCompositeSchedule",{"connectorId":1,"duration":60}]')
    assert unknown[2] == "NotImplemented" and "not an OCPP 1.6 action" in unknown[3]
    assert known[2] == "NotSupported" and "not supported" in known[3]


async def test_a_binary_frame_is_answered_not_acted_on(link):
    backend, _ = link
    assert (await backend.ask(b'[2,"bin","Reset",{"type":"Hard"}]'))[:3] == [4, "bin", "FormationViolation"]


@pytest.mark.parametrize(("answer", "code"), [
    ('[4,"{id}","BogusCode","",{{}}]', "GenericError"),
    ('[4,"{id}",42,"",{{}}]', "GenericError"),
    ('[4,"{id}","NotSupported",null,null]', "NotSupported"),
    ('[3,"{id}",{{"transactionId":18446744073709551617,"idTagInfo":{{"status":"Accepted"}}}}]',
     "FormationViolation"),
    ('[3,"{id}",{{"transactionId":"12","idTagInfo":{{"status":"Accepted"}}}}]', "FormationViolation"),
    ('[3,"{id}",[]]', "FormationViolation"),
    ('[3,"{id}",{{"transactionId":5,"idTagInfo":{{"status":"Accepted","expiryDate":"9999-12-31T23:59:59-05:00"}}}}]',
     "FormationViolation"),
])
async def test_a_garbage_answer_fails_that_call_only(link, answer, code):
    backend, charger = link
    request = call.StartTransaction(connector_id=1, id_tag="A", meter_start=0, timestamp="2026-01-01T00:00:00Z")
    pending = asyncio.create_task(charger.request(request))
    sent = await backend.next_call()
    await backend.ws.send(answer.format(id=sent[1]))
    with pytest.raises(CallFailed) as failed:
        await pending
    assert failed.value.code == code
    # The same connection carries the next call.
    pending = asyncio.create_task(charger.request(call.Heartbeat()))
    sent = await backend.next_call()
    await backend.ws.send(json.dumps([3, sent[1], {"currentTime": "2026-01-01T00:00:00Z"}]))
    assert (await pending).current_time == "2026-01-01T00:00:00Z"


async def test_a_late_or_stray_answer_is_ignored(link):
    backend, charger = link
    await backend.ws.send('[3,"nobody-asked",{"status":"Accepted"}]')
    await backend.ws.send('[4,"nobody-asked","BogusCode","",{}]')
    pending = asyncio.create_task(charger.request(call.Heartbeat()))
    sent = await backend.next_call()
    await backend.ws.send(json.dumps([3, "someone-else", {"currentTime": "2020-01-01T00:00:00Z"}]))
    await backend.ws.send(json.dumps([3, sent[1], {"currentTime": "2026-01-01T00:00:00Z"}]))
    assert (await pending).current_time == "2026-01-01T00:00:00Z"


async def test_a_dropped_connection_fails_the_waiting_call_at_once():
    backend = Backend()
    async with serve(backend.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/CP") as ws:
            charger = Charger("CP", ws, response_timeout=30)
            reader = asyncio.create_task(charger.start())
            await backend.ready.wait()
            pending = asyncio.create_task(charger.request(call.Heartbeat()))
            await backend.next_call()
            await backend.ws.close()
            async with asyncio.timeout(5):  # not the 30 s response timeout
                with pytest.raises(CallFailed) as failed:
                    await pending
            assert failed.value.code == "ConnectionLost"
            with contextlib.suppress(Exception):
                await reader
