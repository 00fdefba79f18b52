"""A backend's cost reaches the screen only for the session it is for: a late answer for
an earlier session (its Ended event or StopTransaction sent after a link failure, or a
FinalCost / CostUpdated right after) never takes over the next driver's screen. The
screen here is the real DriverFeedback; the callers are the 2.0.1 and 1.6 adapters' own
functions."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from agent.journal import TX_EVENT, TX_STOPPED, Entry
from agent.ocpp16.pricing import Pricing
from agent.ocpp16.pricing_handlers import PricingHandlers
from agent.ocpp201.tariff_handlers import TariffCostHandlers, transaction_event_answered
from agent.runtime_settings.configuration import Configuration
from agent.screen import DriverFeedback
from agent.settings.screen import ScreenSettings
from agent.store import ChargerState, Database


def _screen() -> DriverFeedback:
    feedback = DriverFeedback([1], ScreenSettings(language_seconds=4.0), money=lambda amount: f"{amount:.2f} EUR")
    feedback.status(1, "Charging", plugged=True)
    return feedback


def _cost_line(feedback: DriverFeedback) -> str | None:
    return next((line for t in (0.0, 4.0, 8.0, 12.0) for line in feedback.lines(16, 2, page_at=t)
                 if line.startswith(("Cost", "Total"))), None)


def test_a_cost_for_another_transaction_is_dropped_one_for_the_running_one_kept() -> None:
    feedback = _screen()
    feedback.transaction_started(1, "OLD")
    feedback.transaction_stopped(1, 3.0)
    feedback.transaction_started(1, "NEW")
    feedback.backend_cost(1, Decimal("31.70"), final=True, transaction="OLD")
    assert _cost_line(feedback) is None
    feedback.backend_cost(1, Decimal("0.40"), transaction="NEW")
    assert _cost_line(feedback) == "Cost 0.40 EUR"
    feedback.backend_cost(1, Decimal("0.50"))  # no transaction named: the present session's
    assert _cost_line(feedback) == "Cost 0.50 EUR"


def test_the_final_cost_of_the_session_just_ended_is_kept_until_a_new_one_starts() -> None:
    feedback = _screen()
    feedback.transaction_started(1, "A")
    feedback.transaction_stopped(1, 3.0)
    feedback.status(1, "Finishing", plugged=True)
    feedback.backend_cost(1, Decimal("1.20"), final=True, transaction="A")
    assert _cost_line(feedback) == "Total 1.20 EUR"
    feedback.backend_cost(1, Decimal("9.99"), final=True, transaction="EARLIER")
    assert _cost_line(feedback) == "Total 1.20 EUR"


def _entry(kind: str, uid: str) -> Entry:
    return Entry(seq=1, kind=kind, local_tx=1, body={"connector": 1}, attempts=0, backend_tx=None, tx_uid=uid)


class _Db:
    async def run(self, func: Any, *args: Any) -> Any:
        return func(*args)


def test_tc_i_02_cs_a_late_ended_answer_does_not_cost_the_next_driver() -> None:
    feedback = _screen()
    runtime, config = SimpleNamespace(feedback=feedback), Configuration({}, None, 1)
    feedback.transaction_started(1, "OLD")
    feedback.transaction_stopped(1, 3.0)
    feedback.transaction_started(1, "NEW")
    transaction_event_answered(runtime, config, _entry(TX_STOPPED, "OLD"), SimpleNamespace(
        total_cost=31.7, id_token_info=None, updated_personal_message=None))
    assert _cost_line(feedback) is None
    transaction_event_answered(runtime, config, _entry(TX_EVENT, "NEW"), SimpleNamespace(
        total_cost=0.4, id_token_info=None, updated_personal_message=None))
    assert _cost_line(feedback) == "Cost 0.40 EUR"


async def test_tc_i_01_cs_cost_updated_for_an_ended_transaction_does_not_cost_the_next_driver() -> None:
    feedback = _screen()
    records = {"OLD": SimpleNamespace(connector=1, stopped_at="2026-12-07T01:00:00.000Z"),
               "NEW": SimpleNamespace(connector=1, stopped_at=None)}
    runtime = SimpleNamespace(feedback=feedback, db=_Db(), journal=SimpleNamespace(by_uid=records.get))
    handlers = TariffCostHandlers()
    handlers.runtime, handlers.session = runtime, SimpleNamespace(config=Configuration({}, None, 1))  # type: ignore[assignment]
    feedback.transaction_started(1, "OLD")
    feedback.transaction_stopped(1, 3.0)
    feedback.transaction_started(1, "NEW")
    await handlers.on_cost_updated(total_cost=31.7, transaction_id="OLD")
    assert _cost_line(feedback) is None
    await handlers.on_cost_updated(total_cost=0.4, transaction_id="NEW")
    assert _cost_line(feedback) == "Cost 0.40 EUR"


async def test_a_1_6_final_cost_for_the_previous_session_does_not_cost_the_next_driver(tmp_path: Any) -> None:
    db = Database(tmp_path)
    db.open()
    try:
        feedback = _screen()
        runtime = SimpleNamespace(feedback=feedback, local_tx={1: 8}, readings={}, statuses={})
        pricing = Pricing(runtime, Configuration({"CustomDisplayCostAndPrice": True}, ChargerState(db), 1))
        records = {7: SimpleNamespace(connector=1, local_id=7, tx_uid="OLD", stopped_at="2026-12-07T01:00:00Z"),
                   8: SimpleNamespace(connector=1, local_id=8, tx_uid="NEW", stopped_at=None)}
        handlers = PricingHandlers()
        handlers.runtime = runtime
        handlers.session = SimpleNamespace(  # type: ignore[assignment]
            db=_Db(), journal=SimpleNamespace(backend_to_local=records.get), pricing=pricing)
        feedback.transaction_started(1, "OLD")
        feedback.transaction_stopped(1, 3.0)
        feedback.transaction_started(1, "NEW")
        answer = await handlers.cost_message("FinalCost", json.dumps({"transactionId": 7, "cost": 31.7}))
        assert answer == "Accepted"  # the backend is answered; the screen is not its to take
        assert _cost_line(feedback) is None
        answer = await handlers.cost_message("FinalCost", json.dumps({"transactionId": 8, "cost": 0.4}))
        assert _cost_line(feedback) == "Cost 0.40 EUR"
    finally:
        db.close()


def test_a_cost_that_overtakes_the_news_of_its_start_is_kept_for_that_session_only() -> None:
    feedback = _screen()
    feedback.transaction_started(1, "A")
    feedback.transaction_stopped(1, 3.0)
    feedback.backend_cost(1, Decimal("0.10"), transaction="B")  # the answer to B's start came first
    feedback.transaction_started(1, "B")
    assert _cost_line(feedback) == "Cost 0.10 EUR"
    feedback.transaction_stopped(1, 1.0)
    feedback.backend_cost(1, Decimal("31.70"), final=True, transaction="OLDER")  # no session of this screen
    feedback.transaction_started(1, "C")
    assert _cost_line(feedback) is None


def test_the_first_session_s_cost_that_overtakes_its_start_is_kept() -> None:
    feedback = _screen()
    feedback.backend_cost(1, Decimal("0.00"), transaction="FIRST")
    feedback.transaction_started(1, "FIRST")
    assert _cost_line(feedback) == "Cost 0.00 EUR"
