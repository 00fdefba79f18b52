"""What a 2.0.1 backend says about tariffs and costs reaches the screen's owner
(``runtime.feedback``) in neutral terms (I01-I06), as the TariffCostCtrlr variables say.

The screen's owner here is a recording double standing in for
:class:`agent.screen.DriverFeedback`; the settings are the real runtime settings, so a
change goes the way SetVariables makes it (``Configuration.apply``)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from agent.journal import TX_EVENT, TX_STARTED, TX_STOPPED, Entry
from agent.ocpp201.tariff_handlers import (
    TariffCostHandlers,
    follow_fallback_texts,
    tell_fallback_texts,
    tell_personal_message,
    transaction_event_answered,
)
from agent.runtime_settings.configuration import Configuration


class RecordingFeedback:
    """Records every call as (method, args); ``broken`` makes each call raise."""

    def __init__(self, broken: bool = False) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.transactions: list[str | None] = []  # the transaction each cost was for
        self.broken = broken

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.broken:
            raise NotImplementedError(name)

    def personal_message(self, connector: int | None, text: str, language: str | None = None) -> None:
        self._record("personal_message", connector, text, language)

    def backend_cost(self, connector: int, total: Decimal, text: str | None = None, final: bool = False,
                     transaction: str | None = None) -> None:
        self._record("backend_cost", connector, total, text, final)
        self.transactions.append(transaction)

    def fallback_texts(self, price: str | None = None, total_cost: str | None = None) -> None:
        self._record("fallback_texts", price, total_cost)


def _setup(**initial: object) -> tuple[Any, Configuration, RecordingFeedback]:
    feedback = RecordingFeedback()
    return SimpleNamespace(feedback=feedback), Configuration(initial, None, 2), feedback


def _entry(kind: str, connector: int = 2) -> Entry:
    return Entry(seq=1, kind=kind, local_tx=1, body={"connector": connector}, attempts=0, backend_tx=None,
                 tx_uid="tx-1")


def _answer(**fields: Any) -> Any:
    return SimpleNamespace(**{"total_cost": None, "id_token_info": None, "updated_personal_message": None, **fields})


def test_tc_i_07_cs_a_total_cost_in_an_updated_answer_is_the_running_cost() -> None:
    runtime, config, feedback = _setup()
    transaction_event_answered(runtime, config, _entry(TX_EVENT), _answer(total_cost=3.5))
    assert feedback.calls == [("backend_cost", (2, Decimal("3.5"), "3.50 EUR", False))]
    assert isinstance(feedback.calls[0][1][1], Decimal)  # money is never a float


def test_tc_i_02_cs_the_total_cost_answering_the_ended_event_is_final() -> None:
    runtime, config, feedback = _setup(**{"TariffCostCtrlr.Currency": "SEK"})
    transaction_event_answered(runtime, config, _entry(TX_STOPPED, connector=1), _answer(
        total_cost=12.4, updated_personal_message={"format": "UTF8", "content": "Thank you", "language": "sv"}))
    assert feedback.calls == [("personal_message", (1, "Thank you", "sv")),
                              ("backend_cost", (1, Decimal("12.4"), "12.40 SEK", True))]


def test_personal_messages_of_the_token_go_with_their_connector_cut_to_the_size_shown() -> None:
    runtime, config, feedback = _setup(**{"DisplayMessageCtrlr.PersonalMessageSize": 10,
                                          "DisplayMessageCtrlr.Language": "de"})
    info = {"status": "Accepted", "personal_message": {"format": "UTF8", "content": "0.35 EUR/kWh, 2 EUR/h idle"}}
    transaction_event_answered(runtime, config, _entry(TX_STARTED), _answer(id_token_info=info))
    tell_personal_message(runtime, config, None, {"format": "ASCII", "content": "Hello", "language": "en"})
    assert feedback.calls == [("personal_message", (2, "0.35 EUR/k", "de")),  # no language given: the station's
                              ("personal_message", (None, "Hello", "en"))]


def test_enabled_false_per_instance_keeps_tariffs_or_costs_off_the_screen() -> None:
    runtime, config, feedback = _setup(**{"TariffCostCtrlr.Enabled.Tariff": False})
    answer = _answer(total_cost=1, updated_personal_message={"format": "UTF8", "content": "price"})
    transaction_event_answered(runtime, config, _entry(TX_EVENT), answer)
    assert feedback.calls == [("backend_cost", (2, Decimal("1"), "1.00 EUR", False))]
    runtime, config, feedback = _setup(**{"TariffCostCtrlr.Enabled.Cost": False})
    transaction_event_answered(runtime, config, _entry(TX_EVENT), answer)
    assert feedback.calls == [("personal_message", (2, "price", "en"))]


async def test_fallback_texts_are_told_at_start_and_whenever_a_backend_sets_one() -> None:
    runtime, config, feedback = _setup(**{"TariffCostCtrlr.TariffFallbackMessage": "Prices at ladda.example"})
    follow_fallback_texts(runtime, config)
    tell_fallback_texts(runtime, config)
    assert await config.apply("TariffCostCtrlr.TotalCostFallbackMessage", "Cost on your invoice") == ("Accepted", None)
    assert await config.apply("TariffCostCtrlr.Currency", "CHF") == ("Accepted", None)  # not a fallback text
    assert feedback.calls == [("fallback_texts", ("Prices at ladda.example", None)),
                              ("fallback_texts", ("Prices at ladda.example", "Cost on your invoice"))]
    assert (await config.apply("TariffCostCtrlr.Currency", "EURO"))[0] == "Rejected"


def test_a_failing_screen_never_breaks_the_answer_handling() -> None:
    runtime, config, _ = _setup()
    runtime.feedback = RecordingFeedback(broken=True)
    transaction_event_answered(runtime, config, _entry(TX_STOPPED), _answer(
        total_cost=2, updated_personal_message={"format": "UTF8", "content": "bye"}))
    assert [name for name, _ in runtime.feedback.calls] == ["personal_message", "backend_cost"]


class _Db:
    async def run(self, func: Any, *args: Any) -> Any:
        return func(*args)


async def test_tc_i_01_cs_cost_updated_goes_to_the_transactions_connector_unknown_ones_are_still_answered() -> None:
    runtime, config, feedback = _setup()
    records = {"running": SimpleNamespace(connector=2, stopped_at=None),
               "ended": SimpleNamespace(connector=1, stopped_at="2026-12-07T01:00:00.000Z")}
    runtime.db, runtime.journal = _Db(), SimpleNamespace(by_uid=records.get)
    handlers = TariffCostHandlers()
    handlers.runtime, handlers.session = runtime, SimpleNamespace(config=config)  # type: ignore[assignment]
    for uid in ("running", "ended", "unknown"):
        answer = await handlers.on_cost_updated(total_cost=7.25, transaction_id=uid)
        assert type(answer).__name__ == "CostUpdated"
    assert feedback.calls == [("backend_cost", (2, Decimal("7.25"), "7.25 EUR", False)),
                              ("backend_cost", (1, Decimal("7.25"), "7.25 EUR", True))]
    assert feedback.transactions == ["running", "ended"]  # the screen drops one it no longer shows


def test_the_backend_cost_is_rounded_half_up_like_every_other_amount() -> None:
    runtime, config, feedback = _setup()
    for total in (12.345, 0.125, 2.675):
        transaction_event_answered(runtime, config, _entry(TX_EVENT), _answer(total_cost=total))
    assert [args[2] for _, args in feedback.calls] == ["12.35 EUR", "0.13 EUR", "2.68 EUR"]
    assert feedback.transactions == ["tx-1"] * 3


def test_a_cost_that_is_no_amount_of_money_is_not_shown() -> None:
    runtime, config, feedback = _setup()
    for total in (float("nan"), float("inf"), 1e300, "12,5"):
        transaction_event_answered(runtime, config, _entry(TX_EVENT), _answer(total_cost=total))
    assert feedback.calls == []
