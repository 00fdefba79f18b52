"""The running station's facts as the 2.0.1 device model reads them (``RuntimeFacts``):
from memory only, so a GetVariables or a FullInventory never waits on the event loop behind
a journal commit; availability as ChangeAvailability left it; faults from the statuses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.charger import StatusEntry
from agent.local_list import LocalList, parse_update
from agent.ocpp201.station import RuntimeFacts
from agent.ocpp201.variables import DeviceModel
from agent.runtime_settings.configuration import Configuration
from agent.screen.board import MessageBoard
from agent.session.model import Charger, Policy
from agent.store import ChargerState, Database


def _settings() -> Any:
    return SimpleNamespace(
        connectors=SimpleNamespace(phases=3, max_current=16.0, voltage=230.0),
        charge_point=SimpleNamespace(vendor="Ladda", model="L2", serial_number="SN-7", id="LADDA-0001"),
        backend=SimpleNamespace(call_timeout=30.0, reconnect_initial=1.0, reconnect_max=30.0))


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(tmp_path)
    database.open()
    yield database
    database.close()


def test_device_model_reads_never_touch_the_database(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    local_list = LocalList(db)
    entries = [{"id_tag": f"CARD-{i}", "id_tag_info": {"status": "Accepted"}} for i in range(3)]
    runtime = SimpleNamespace(
        numbers=[1, 2], statuses={0: StatusEntry(0, "Available", "NoError", "t"),
                                  1: StatusEntry(1, "Faulted", "PowerSwitchFailure", "t"),
                                  2: StatusEntry(2, "Charging", "NoError", "t")},
        charger=Charger.new(2, Policy(), inoperative=frozenset({2})),
        authorizer=SimpleNamespace(local_list=local_list), limits=SimpleNamespace(profiles={}),
        hardware=SimpleNamespace(locks={1: object()}), state=ChargerState(db), message_board=MessageBoard(db))
    facts = RuntimeFacts(_settings(), runtime)  # type: ignore[arg-type]
    model = DeviceModel(Configuration({}, ChargerState(db), 2), facts)
    local_list.apply(parse_update("Full", 4, entries), 100)  # the list's writes keep its size

    def no_database(*_: Any, **__: Any) -> Any:
        raise AssertionError("a device model read went to the database")
    monkeypatch.setattr(db, "read", no_database)
    monkeypatch.setattr(db, "write", no_database)
    monkeypatch.setattr(db, "transaction", no_database)

    assert model.base_report("FullInventory")
    asked = [("LocalAuthListCtrlr", None, "Entries"), ("EVSE", {"id": 1}, "Available"),
             ("EVSE", {"id": 2}, "Available"), ("ChargingStation", None, "Available"),
             ("PowerContactor", {"id": 1, "connector_id": 1}, "Problem"),
             ("PowerContactor", {"id": 2, "connector_id": 1}, "Problem"), ("ChargingStation", None, "Problem"),
             ("DisplayMessageCtrlr", None, "DisplayMessages")]
    got = model.get_variables([{"component": {"name": c} | ({"evse": e} if e else {}), "variable": {"name": v}}
                               for c, e, v in asked])
    assert [r["attribute_value"] for r in got] == ["3", "true", "false", "true", "true", "false", "true", "0"]


def test_availability_follows_change_availability_in_memory(db: Database) -> None:
    charger = Charger.new(2, Policy())
    runtime = SimpleNamespace(numbers=[1, 2], statuses={}, charger=charger,
                              authorizer=SimpleNamespace(local_list=LocalList(db)))
    facts = RuntimeFacts(_settings(), runtime)  # type: ignore[arg-type]
    assert (facts.available(None, None), facts.available(1, 1), facts.available(2, 1)) == (True, True, True)
    first, second = charger.connectors
    # EVSE 1 made inoperative; EVSE 2 scheduled to become so when its transaction ends.
    runtime.charger = replace(charger, connectors=(replace(first, operative=False),
                                                   replace(second, scheduled_operative=False)))
    assert (facts.available(None, None), facts.available(1, 1), facts.available(2, 1)) == (False, False, False)
    runtime.charger = replace(charger, connectors=(replace(first, operative=False), second))
    assert (facts.available(None, None), facts.available(1, 1), facts.available(2, 1)) == (True, False, True)
