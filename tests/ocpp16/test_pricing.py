"""OCPP 1.6 California Pricing whitepaper: its messages and keys as values, the running-cost
trigger rules, and what reaches the screen (a recording double of ``runtime.feedback``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from agent.ocpp16 import costmsg
from agent.ocpp16.pricing import Armed, Pricing, due, fallback_text, language_of, parse_price_text
from agent.runtime_settings.configuration import Configuration
from agent.runtime_settings.keys import check_offered
from agent.runtime_settings.price_settings import (
    DefaultPrice,
    PriceValueError,
    display_offset,
    parse_default_price,
    parse_offset,
    shown_time,
)
from agent.store import ChargerState, Database

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def state(tmp_path):
    db = Database(tmp_path)
    db.open()
    yield ChargerState(db)
    db.close()


# ---------------------------------------------------------------- the messages


def test_running_cost_is_read_with_exact_amounts_and_its_triggers():
    data = {"transactionId": 7, "timestamp": "2026-12-07T12:00:00Z", "meterValue": 1234000, "cost": 1.345,
            "state": "Idle", "chargingPrice": {"kWhPrice": 0.123, "hourPrice": 2.00, "flatFee": 42.42},
            "idlePrice": {"graceMinutes": 30, "hourPrice": 1.00},
            "nextPeriod": {"atTime": "2026-12-07T14:00:00+01:00", "chargingPrice": {"kWhPrice": 0.1}},
            "triggerMeterValue": {"atTime": "2026-12-07T12:30:00Z", "atEnergykWh": 5.0, "atPowerkW": 8.0,
                                  "atCPStatus": ["Finishing", "SuspendedEV"]},
            "priceText": "1.35 so far", "qrCodeText": "https://cpo.example/i/1"}
    message = costmsg.parse("RunningCost", json.dumps(data))
    assert isinstance(message, costmsg.RunningCost)
    assert message.transaction_id == 7 and message.state == "Idle"
    assert message.cost == Decimal("1.345")  # never through float
    assert message.charging_price is not None and message.charging_price.flat_fee == Decimal("42.42")
    assert message.idle_price == costmsg.IdlePrice(30, Decimal("1.00"))
    assert message.next_period_at == datetime(2026, 12, 7, 13, 0, tzinfo=timezone.utc)
    assert message.triggers == costmsg.Triggers(datetime(2026, 12, 7, 12, 30, tzinfo=timezone.utc), Decimal("5.0"),
                                                Decimal("8.0"), ("Finishing", "SuspendedEV"))
    assert message.texts == (costmsg.Text("1.35 so far"),)


def test_set_user_price_and_final_cost_carry_their_texts_in_each_language():
    user = costmsg.parse("SetUserPrice", json.dumps({
        "idToken": "04CA1F01", "priceText": "0.12 $/kWh",
        "priceTextExtra": [{"format": "UTF8", "language": "nl", "content": "€0.12/kWh"}]}))
    assert user == costmsg.UserPrice("04CA1F01", (costmsg.Text("0.12 $/kWh"), costmsg.Text("€0.12/kWh", "nl")))
    final = costmsg.parse("FinalCost", json.dumps({"transactionId": 3, "cost": 3.31, "priceText": "3.31 $",
                                                   "qrCodeText": "https://cpo.example/i/3"}))
    assert final == costmsg.FinalCost(3, Decimal("3.31"), (costmsg.Text("3.31 $"),), "https://cpo.example/i/3")


@pytest.mark.parametrize(("message_id", "data", "why"), [
    ("RunningCost", "{nope", "data is not JSON"),
    ("RunningCost", "[1]", "data must be a JSON object"),
    ("RunningCost", None, "data is missing"),
    ("RunningCost", {"cost": 1}, "transactionId is missing"),
    ("RunningCost", {"transactionId": 1.5, "cost": 1}, "transactionId must be an integer"),
    ("RunningCost", {"transactionId": "1", "cost": 1}, "transactionId must be an integer"),
    ("RunningCost", {"transactionId": 1}, "cost is missing"),
    ("RunningCost", {"transactionId": 1, "cost": "1.2"}, "cost must be a number"),
    ("RunningCost", {"transactionId": 1, "cost": -1}, "cost must not be negative"),
    ("RunningCost", {"transactionId": 1, "cost": 1, "state": "Parked"}, "state must be one of Charging, Idle"),
    ("RunningCost", {"transactionId": 1, "cost": 1, "chargingPrice": {"kwhPrice": 1}}, "unknown field(s) kwhPrice"),
    ("RunningCost", {"transactionId": 1, "cost": 1, "triggerMeterValue": {"atTime": "soon"}},
     "triggerMeterValue.atTime must be a date and time"),
    ("RunningCost", {"transactionId": 1, "cost": 1, "triggerMeterValue": {"atCPStatus": ["Sleeping"]}},
     "unknown status(es) Sleeping"),
    ("RunningCost", {"transactionId": 1, "cost": 1, "idlePrice": {"graceMinutes": 2.5}}, "graceMinutes"),
    ("FinalCost", {"transactionId": 1, "cost": 1, "priceTextExtra": {"language": "de"}}, "priceTextExtra must be a list"),
    ("FinalCost", {"transactionId": 1, "cost": 1, "priceTextExtra": [{"content": "x"}]}, "language is missing"),
    ("SetUserPrice", {"priceText": "x"}, "idToken is missing"),
    ("SetUserPrice", {"idToken": "", "priceText": "x"}, "idToken is empty"),
    ("SetUserPrice", {"idToken": "A" * 21, "priceText": "x"}, "at most 20 characters"),
    ("SetUserPrice", {"idToken": "04CA1F01"}, "priceText is missing"),
    ("SetUserPrice", {"idToken": "04CA1F01", "priceText": 3}, "priceText must be text"),
])
def test_each_bad_message_is_named(message_id, data, why):
    with pytest.raises(costmsg.CostMessageError) as info:
        costmsg.parse(message_id, data if data is None or isinstance(data, str) else json.dumps(data))
    assert why in str(info.value)


def test_the_text_shown_is_the_charger_language_s_else_the_default():
    texts = (costmsg.Text("0.12 $/kWh"), costmsg.Text("0,12 €/kWh", "de-DE"))
    assert costmsg.pick(texts, "de") == texts[1]
    assert costmsg.pick(texts, "nl") == texts[0]
    assert costmsg.pick((costmsg.Text("x", "nl"),), "en") == costmsg.Text("x", "nl")
    assert costmsg.pick((), "en") is None


# ---------------------------------------------------------------- the keys' values


def test_default_price_shape():
    assert parse_default_price("") is None
    price = parse_default_price('{"priceText": "0.15 $/kWh", "chargingPrice": {"kWhPrice": 0.15}}')
    assert price is not None and price.text == "0.15 $/kWh" and price.charging is not None
    assert price.charging.kwh == Decimal("0.15")
    for bad, why in [("{", "not JSON"), ('"text"', "JSON object"), ("{}", "priceText is missing"),
                     ('{"priceText": "x", "chargingPrice": 1}', "chargingPrice must be a JSON object"),
                     ('{"priceText": "x", "chargingPrice": {"kWhPrice": -0.1}}', "must not be negative")]:
        with pytest.raises(PriceValueError, match=why):
            parse_default_price(bad)


def test_price_text_per_language_shape():
    assert parse_price_text('{"priceText": "a", "priceTextOffline": "b"}') == DefaultPrice("a", "b")
    with pytest.raises(PriceValueError, match="unknown field"):
        parse_price_text('{"priceText": "a", "chargingPrice": {}}')
    assert language_of("DefaultPriceText,de") == "de"
    assert language_of("DefaultPriceText,xx") is None and language_of("DefaultPrice") is None


def test_time_offset_and_its_planned_transition():
    assert parse_offset("+05:30") == timedelta(hours=5, minutes=30)
    assert parse_offset("-08:00") == -timedelta(hours=8)
    for bad in ("8", "+8:00", "+15:00", "-13:00", "+01:60"):
        with pytest.raises(PriceValueError):
            parse_offset(bad)
    at = "2026-12-07T12:00:00Z"
    assert display_offset("-08:00", at, "-07:00", T0 - timedelta(seconds=1)) == -timedelta(hours=8)
    assert display_offset("-08:00", at, "-07:00", T0) == -timedelta(hours=7)
    assert display_offset("-08:00", "", "-07:00", T0) == -timedelta(hours=8)
    assert shown_time(T0, -timedelta(hours=7)).strftime("%H:%M") == "05:00"


async def test_keys_are_validated_stored_and_kept(state):
    config = Configuration({"SupportedLanguages": "en,de"}, state, 1)
    Pricing(_Runtime(), config)  # registers the Language rule
    price = '{"priceText": "0.15 $/kWh", "priceTextOffline": "offline 0.15"}'
    assert await config.change("DefaultPrice", price) == "Accepted"
    assert await config.change("DefaultPrice", '{"priceText": 1}') == "Rejected"
    assert await config.change("DefaultPrice", "x" * 501) == "Rejected"
    assert await config.change("Language", "de") == "Accepted"
    assert await config.change("Language", "fr") == "Rejected"
    assert await config.change("TimeOffset", "+01:00") == "Accepted"
    assert await config.change("TimeOffset", "CET") == "Rejected"
    assert await config.change("NextTimeOffsetTransitionDateTime", "2027-03-28T01:00:00") == "Rejected"  # no offset
    assert await config.change("NextTimeOffsetTransitionDateTime", "2027-03-28T01:00:00Z") == "Accepted"
    assert await config.change("SupportedLanguages", "en") == "Rejected"
    assert await config.change("CustomDisplayCostAndPrice", "false") == "Rejected"
    again = Configuration({"SupportedLanguages": "en,de"}, state, 1)
    assert (again["DefaultPrice"], again["Language"], again["TimeOffset"]) == (price, "de", "+01:00")


def test_the_file_s_language_must_be_supported():
    assert check_offered({"Language": "de"}) == [("Language", "not one of SupportedLanguages (en); add it there")]
    assert check_offered({"Language": "de", "SupportedLanguages": "en,de"}) == []


# ---------------------------------------------------------------- the triggers


def test_time_and_energy_triggers_fire_once():
    armed = Armed(1, costmsg.Triggers(at_time=T0, at_energy_kwh=Decimal("5")))
    fire, armed = due(armed, T0 - timedelta(seconds=1), 4999.0, 0.0, "Charging")
    assert not fire
    fire, armed = due(armed, T0, 4999.0, 0.0, "Charging")
    assert fire and armed.time_done and not armed.energy_done
    fire, armed = due(armed, T0 + timedelta(seconds=1), 5000.0, 0.0, "Charging")
    assert fire and armed.energy_done
    assert due(armed, T0 + timedelta(seconds=2), 6000.0, 0.0, "Charging")[0] is False


def test_power_trigger_fires_at_each_crossing_with_hysteresis_on_the_way_down():
    armed = Armed(1, costmsg.Triggers(at_power_kw=Decimal("8")), power_above=False)
    steps = [(7999.0, False), (10000.0, True), (7990.0, False), (7700.0, False), (7500.0, True), (7900.0, False),
             (8000.0, True)]
    for watts, expected in steps:
        fire, armed = due(armed, T0, None, watts, None)
        assert fire is expected, watts
    unknown = Armed(1, costmsg.Triggers(at_power_kw=Decimal("8")))
    fire, unknown = due(unknown, T0, None, 9000.0, None)
    assert not fire and unknown.power_above is True  # the first look only learns the side


def test_status_trigger_fires_on_a_change_into_a_status_named():
    armed = Armed(1, costmsg.Triggers(at_status=("SuspendedEV", "Finishing")), status="Charging")
    assert due(armed, T0, None, None, "Charging")[0] is False
    fire, armed = due(armed, T0, None, None, "SuspendedEV")
    assert fire
    assert due(armed, T0, None, None, "SuspendedEV")[0] is False  # no change, no MeterValues
    fire, armed = due(armed, T0, None, None, "Charging")
    assert not fire
    assert due(armed, T0, None, None, "Finishing")[0] is True


def test_default_price_text_follows_language_and_link():
    default = DefaultPrice("0.15 $/kWh", "offline: 0.15 $/kWh")
    german = DefaultPrice("0,15 €/kWh", None)
    assert fallback_text(default, {"de": german}, "en", online=True) == "0.15 $/kWh"
    assert fallback_text(default, {"de": german}, "en", online=False) == "offline: 0.15 $/kWh"
    assert fallback_text(default, {"de": german}, "de", online=True) == "0,15 €/kWh"
    assert fallback_text(default, {"de": german}, "de", online=False) is None  # no offline text in German
    assert fallback_text(None, {}, "en", online=True) is None


# ---------------------------------------------------------------- what reaches the screen


class _Feedback:
    """A recording double of runtime.feedback (agent.screen.DriverFeedback)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def personal_message(self, connector: int | None, text: str, language: str | None = None) -> None:
        self.calls.append(("personal_message", (connector, text, language)))

    def backend_cost(self, connector: int, total: Decimal, text: str | None = None, final: bool = False,
                     transaction: str | None = None) -> None:
        self.calls.append(("backend_cost", (connector, total, text, final)))

    def fallback_texts(self, price: str | None = None, total_cost: str | None = None) -> None:
        self.calls.append(("fallback_texts", (price, total_cost)))


@dataclass
class _Status:
    status: str


@dataclass
class _Reading:
    energy_wh: float
    power_w: float


@dataclass
class _Runtime:
    """The few runtime attributes Pricing reads, and a sample_now that records."""

    feedback: _Feedback = field(default_factory=_Feedback)
    local_tx: dict[int, int] = field(default_factory=dict)
    readings: dict[int, _Reading] = field(default_factory=dict)
    statuses: dict[int, _Status] = field(default_factory=dict)
    sampled: list[tuple[int, str]] = field(default_factory=list)

    async def sample_now(self, connector: int, context: str) -> bool:
        self.sampled.append((connector, context))
        return connector in self.local_tx


async def test_texts_and_costs_reach_the_screen_in_the_charger_s_language(state):
    runtime = _Runtime()
    config = Configuration({"SupportedLanguages": "en,de", "Language": "de"}, state, 2)
    pricing = Pricing(runtime, config)
    pricing.personal_message(None, (costmsg.Text("0.12 $/kWh"), costmsg.Text("0,12 €/kWh", "de")))
    pricing.backend_cost(2, Decimal("1.345"), (costmsg.Text("1.35 $"),), final=False)
    pricing.backend_cost(2, Decimal("3.31"), (), final=True)
    assert runtime.feedback.calls == [
        ("personal_message", (None, "0,12 €/kWh", "de")),
        ("backend_cost", (2, Decimal("1.35"), "1.35 $", False)),  # NumberOfDecimalsForCostValues: 2
        ("backend_cost", (2, Decimal("3.31"), None, True)),
    ]


@pytest.mark.parametrize("cost, decimals, shown", [
    ("1.345", 2, "1.35"), ("1.344", 2, "1.34"), ("0.005", 2, "0.01"), ("3.31", 2, "3.31"), ("3", 2, "3.00"),
    ("1.345", 3, "1.345"), ("1.3456", 3, "1.346"), ("2.5", 0, "3"), ("12.49", 0, "12"), ("0.1", 4, "0.1000"),
])
def test_backend_costs_are_shown_with_the_configured_decimals_rounded_half_up(cost, decimals, shown):
    from agent.ocpp16.pricing import shown_cost

    assert str(shown_cost(Decimal(cost), decimals)) == shown


async def test_the_charger_maker_sets_the_decimals_the_backend_cannot(state):
    runtime = _Runtime()
    config = Configuration({"NumberOfDecimalsForCostValues": 3}, state, 1)
    pricing = Pricing(runtime, config)
    pricing.backend_cost(1, Decimal("1.3456"), (), final=False)
    assert runtime.feedback.calls == [("backend_cost", (1, Decimal("1.346"), None, False))]
    assert await config.change("NumberOfDecimalsForCostValues", "2") == "Rejected"
    from agent.runtime_settings.keys import KEYS

    with pytest.raises(ValueError, match="<= 6"):
        KEYS["NumberOfDecimalsForCostValues"].parse(7)


async def test_an_authorization_waits_for_its_driver_s_price_and_no_longer_than_the_timeout(state):
    import asyncio

    config = Configuration({"WaitForSetUserPriceTimeout": 2000}, state, 1)
    pricing = Pricing(_Runtime(), config)
    # The price arrives while the authorization waits (another driver's does not count).
    waiter = pricing.expect_user_price("04ca1f01")
    waiting = asyncio.ensure_future(pricing.wait_user_price("04ca1f01", waiter))
    await asyncio.sleep(0.05)
    assert pricing.user_price_received("OTHERCARD") is False
    assert not waiting.done()
    assert pricing.user_price_received("04CA1F01") is True  # idTags compare case-insensitively
    assert await asyncio.wait_for(waiting, 1.0) is True
    # A price read before the Authorize answer was (the backend sent both at once) counts.
    waiter = pricing.expect_user_price("04CA1F01")
    pricing.user_price_received("04CA1F01")
    assert await pricing.wait_user_price("04CA1F01", waiter) is True
    # No price: the session goes on after the timeout.
    await config.change("WaitForSetUserPriceTimeout", "100")
    waiter = pricing.expect_user_price("04CA1F01")
    started = asyncio.get_running_loop().time()
    assert await pricing.wait_user_price("04CA1F01", waiter) is False
    assert 0.09 <= asyncio.get_running_loop().time() - started < 1.0
    # 0: no wait at all; and nothing is left waiting.
    await config.change("WaitForSetUserPriceTimeout", "0")
    waiter = pricing.expect_user_price("04CA1F01")
    assert await pricing.wait_user_price("04CA1F01", waiter) is False
    assert pricing.user_price_received("04CA1F01") is False


async def test_a_running_cost_right_after_the_start_answer_waits_until_the_start_is_recorded(state):
    import asyncio

    pricing = Pricing(_Runtime(), Configuration({}, state, 1))
    assert await pricing.wait_start_recorded(42) is False  # no start in flight: nothing to wait for
    pricing.start_answered(42)
    waiting = asyncio.ensure_future(pricing.wait_start_recorded(42))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    pricing.starts_recorded()
    assert await asyncio.wait_for(waiting, 1.0) is True
    assert await pricing.wait_start_recorded(42) is False


async def test_default_price_texts_are_told_at_each_change_and_kept(state):
    runtime = _Runtime()
    config = Configuration({"SupportedLanguages": "en,de"}, state, 1)
    pricing = Pricing(runtime, config)
    pricing.announce_fallback()
    pricing.online(True)
    await config.change("DefaultPrice", '{"priceText": "0.15 $/kWh", "priceTextOffline": "offline: 0.15"}')
    pricing.online(False)
    assert await pricing.change_price_text("DefaultPriceText,de", '{"priceText": "0,15 €/kWh"}') == "Accepted"
    assert await pricing.change_price_text("DefaultPriceText,fr", '{"priceText": "0,15 €/kWh"}') == "Rejected"
    assert await pricing.change_price_text("DefaultPriceText,de", '{"priceTex": "typo"}') == "Rejected"
    await config.change("Language", "de")
    pricing.online(True)
    assert [c[1][0] for c in runtime.feedback.calls] == [None, None, "0.15 $/kWh", "offline: 0.15", "offline: 0.15",
                                                        None, "0,15 €/kWh"]
    # Stored: a new run knows them.
    again = Pricing(_Runtime(), Configuration({"SupportedLanguages": "en,de"}, state, 1))
    assert again.price_text_keys() == [("DefaultPriceText,en", ""), ("DefaultPriceText,de", '{"priceText": "0,15 €/kWh"}')]
    assert again.price_text_value("DefaultPriceText,fr") is None


async def test_a_due_trigger_journals_a_sample_and_an_ended_transaction_disarms(state):
    runtime = _Runtime(local_tx={1: 10}, readings={1: _Reading(1000.0, 11000.0)}, statuses={1: _Status("Charging")})
    pricing = Pricing(runtime, Configuration({}, state, 1))
    pricing.arm(1, 10, costmsg.Triggers(at_time=T0, at_power_kw=Decimal("5")))
    assert pricing.armed[1].power_above is True  # learnt from the reading at hand
    assert await pricing.check(T0 - timedelta(seconds=1)) == []
    assert await pricing.check(T0) == [1]
    assert runtime.sampled == [(1, "Other")]
    runtime.readings[1] = _Reading(1000.0, 0.0)
    assert await pricing.check(T0 + timedelta(seconds=1)) == [1]  # the EV stopped drawing
    runtime.local_tx.clear()
    assert await pricing.check(T0 + timedelta(seconds=2)) == []
    assert pricing.armed == {}
    # A RunningCost without triggers disarms the connector's.
    runtime.local_tx[1] = 11
    pricing.arm(1, 11, costmsg.Triggers(at_time=T0))
    pricing.arm(1, 11, costmsg.Triggers())
    assert pricing.armed == {}


async def test_the_planned_time_offset_change_is_applied_and_stored(state):
    config = Configuration({}, state, 1)
    pricing = Pricing(_Runtime(), config)
    assert await config.change("TimeOffset", "+01:00") == "Accepted"
    assert await config.change("TimeOffsetNextTransition", "+02:00") == "Accepted"
    assert await config.change("NextTimeOffsetTransitionDateTime", "2026-12-07T12:00:00Z") == "Accepted"
    await pricing._follow_time_offset(T0 - timedelta(seconds=1))
    assert pricing.shown_offset(T0 - timedelta(seconds=1)) == timedelta(hours=1)
    assert config["TimeOffset"] == "+01:00"
    await pricing._follow_time_offset(T0)
    assert (config["TimeOffset"], config["NextTimeOffsetTransitionDateTime"]) == ("+02:00", "")
    assert Configuration({}, state, 1)["TimeOffset"] == "+02:00"


async def test_a_charger_that_shows_no_prices_does_not_know_the_vendor(state):
    from types import SimpleNamespace

    from agent.ocpp16.handlers import Handlers
    from agent.ocpp16.pricing_handlers import PricingHandlers

    class Endpoint:
        prices_shown = PricingHandlers.prices_shown

        def __init__(self, shown: bool) -> None:
            self.session = SimpleNamespace(config=Configuration({"CustomDisplayCostAndPrice": shown}, state, 1))
            self.asked: list[str | None] = []

        async def cost_message(self, message_id: str | None, data: str | None) -> str:
            self.asked.append(message_id)
            return "Accepted"

    off, on = Endpoint(False), Endpoint(True)
    answer = await Handlers.on_data_transfer(off, costmsg.VENDOR_ID, "RunningCost", "{}")
    assert answer.status == "UnknownVendorId" and off.asked == []
    answer = await Handlers.on_data_transfer(on, costmsg.VENDOR_ID, "RunningCost", "{}")
    assert answer.status == "Accepted" and on.asked == ["RunningCost"]
    assert (await Handlers.on_data_transfer(on, "org.ladda", "Hello", None)).status == "UnknownMessageId"


def test_the_screen_s_offset_follows_the_live_settings():
    from agent.runtime_settings.price_settings import offset_of

    settings = {"TimeOffset": "+01:00", "NextTimeOffsetTransitionDateTime": "2026-12-07T12:00:00Z",
                "TimeOffsetNextTransition": "+02:00"}
    assert offset_of(settings, T0 - timedelta(minutes=1)) == timedelta(hours=1)
    assert offset_of(settings, T0) == timedelta(hours=2)


async def test_a_running_cost_read_before_its_start_is_recorded_is_taken_once_it_is(state):
    """The backend sends the first RunningCost right after the StartTransaction answer:
    read before the drain recorded that answer's transactionId, it is answered once the
    start is recorded (Accepted), not Rejected as a transaction unknown."""
    import asyncio
    from types import SimpleNamespace

    from agent.link.frames import Result
    from agent.ocpp16.pricing_handlers import PricingHandlers

    recorded: dict[int, Any] = {}

    class Journal:
        def backend_to_local(self, backend_id: int) -> Any:
            return recorded.get(backend_id)

    class Db:
        async def run(self, func: Any, *args: Any) -> Any:
            return func(*args)

    runtime = _Runtime(local_tx={1: 10})
    pricing = Pricing(runtime, Configuration({}, state, 1))
    endpoint = PricingHandlers()
    endpoint.session = SimpleNamespace(db=Db(), journal=Journal(), pricing=pricing)  # type: ignore[assignment]
    endpoint.runtime = runtime
    endpoint.answered("StartTransaction", Result("u1", {"transactionId": 77, "idTagInfo": {"status": "Accepted"}}))
    answer = asyncio.ensure_future(endpoint.cost_message("RunningCost", json.dumps({"transactionId": 77, "cost": 0})))
    await asyncio.sleep(0.05)
    assert not answer.done()  # waits for the start to be recorded
    recorded[77] = SimpleNamespace(connector=1, local_id=10, stopped_at=None, tx_uid="tx-10")
    pricing.starts_recorded()
    assert await asyncio.wait_for(answer, 1.0) == "Accepted"
    assert runtime.feedback.calls == [("backend_cost", (1, Decimal("0.00"), None, False))]
    # A transaction no start was answered for is refused at once.
    assert await asyncio.wait_for(endpoint.cost_message("RunningCost", json.dumps({"transactionId": 78, "cost": 0})),
                                  0.5) == "Rejected"
