"""OCPP 2.0.1 Smart Charging (block K) over the real agent and the test CSMS: K01 Set
Charging Profile, K05 remote start with a TxProfile, K08 composite schedules, K09 Get
Charging Profiles, K10 Clear Charging Profile and the NotSupported station (TC_K_15_CS,
TC_K_38_CS). Cases that need ISO 15118 (K15-K17) are not here: the charger does not speak it.

Each test asserts what the backend sees (answers with their StatusInfo, the
ReportChargingProfiles it receives) and, where a limit applies, what the EV sees: the
current the bench's pilot offers. A test shares one charger among the cases it names and
ends with no schema violation in anything the charger sent. The profiles are those the
1.6 tests use, spelt in 2.0.1; the composite schedules are checked second by second.
"""

from __future__ import annotations

import signal
from datetime import datetime, timedelta, timezone
from typing import Any

from agent.store import iso
from simulators.harness import Stack
from tests.conformance.helpers import new_id_tag, parse_time
from tests.conformance.test_smart_charging import limit_at, wait_offer
from tests.conformance201.helpers import (
    V201,
    call,
    last_seq,
    schema_violations,
    wait_connector,
    wait_event,
    wait_for,
)

PHASES = 3
W_PER_A = 230.0 * PHASES


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _t0() -> datetime:
    """A schedule start a moment ago, on a whole second."""
    return _now().replace(microsecond=0) - timedelta(seconds=1)


def profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]] | None = None,
    *,
    stack_level: int = 0,
    kind: str = "Absolute",
    unit: str = "A",
    start: datetime | None = None,
    duration: int | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    recurrency: str | None = None,
    transaction_id: str | None = None,
    schedules: int = 1,
) -> dict[str, Any]:
    """A ChargingProfileType; an Absolute one starts now unless told."""
    schedule: dict[str, Any] = {
        "id": profile_id * 10,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit, "numberPhases": PHASES}
                                   for s, limit in (periods or [(0, 16.0)])],
    }
    if kind != "Relative" and start is None:
        start = _t0()
    if start is not None:
        schedule["startSchedule"] = iso(start)
    if duration is not None:
        schedule["duration"] = duration
    body: dict[str, Any] = {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [dict(schedule, id=schedule["id"] + i) for i in range(schedules)],
    }
    for key, value in (("recurrencyKind", recurrency), ("transactionId", transaction_id),
                       ("validFrom", valid_from and iso(valid_from)), ("validTo", valid_to and iso(valid_to))):
        if value is not None:
            body[key] = value
    return body


async def set_profile(stack: Stack, evse: int, body: dict[str, Any]) -> dict[str, Any]:
    answer = await call(stack, "SetChargingProfile", {"evseId": evse, "chargingProfile": body})
    assert "error" not in answer, f"SetChargingProfile {body} answered {answer}\n{stack.agent_log()}"
    return answer


async def install(stack: Stack, evse: int, body: dict[str, Any]) -> None:
    answer = await set_profile(stack, evse, body)
    assert answer == {"status": "Accepted"}, f"SetChargingProfile on EVSE {evse} {body} answered {answer}"


async def refused(stack: Stack, evse: int, body: dict[str, Any], reason: str) -> None:
    answer = await set_profile(stack, evse, body)
    assert answer["status"] == "Rejected", answer
    assert answer["statusInfo"]["reasonCode"] == reason, answer
    assert answer["statusInfo"].get("additionalInfo"), answer  # a few words why


async def composite(stack: Stack, evse: int, duration: int, unit: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"evseId": evse, "duration": duration}
    if unit is not None:
        payload["chargingRateUnit"] = unit
    answer = await call(stack, "GetCompositeSchedule", payload)
    assert "error" not in answer, f"GetCompositeSchedule {payload} answered {answer}\n{stack.agent_log()}"
    return answer


def check_schedule(answer: dict[str, Any], evse: int, duration: int, unit: str, origin: datetime,
                   expected: Any, boundaries: tuple[float, ...] = (), slack: float = 2.0) -> list[dict[str, Any]]:
    """A CompositeScheduleType against ``expected(t)``, the limit ``t`` seconds after
    ``origin``, second by second (skipping ``slack`` around each boundary: the clocks of
    the test and the charger differ by the time the request took)."""
    assert answer["status"] == "Accepted", answer
    schedule = answer["schedule"]
    assert (schedule["evseId"], schedule["duration"], schedule["chargingRateUnit"]) == (evse, duration, unit), schedule
    started = parse_time(schedule["scheduleStart"])
    assert abs((started - _now()).total_seconds()) <= 5, schedule
    periods = schedule["chargingSchedulePeriod"]
    assert periods[0]["startPeriod"] == 0, periods
    offset = (started - origin).total_seconds()
    for second in range(duration):
        moment = offset + second
        if any(abs(moment - edge) < slack for edge in boundaries):
            continue
        got, want = limit_at(periods, second), expected(moment)
        assert got is not None and abs(got - want) <= 0.05, f"at {second} s: {got}, expected {want}: {periods}"
    return periods


async def report(stack: Stack, request: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """GetChargingProfiles: (its status, the ReportChargingProfiles messages that followed)."""
    since = await last_seq(stack)
    answer = await call(stack, "GetChargingProfiles", request)
    assert "error" not in answer, answer
    if answer["status"] != "Accepted":
        return answer["status"], []
    pages = [(await wait_for(stack, "ReportChargingProfiles", since=since, timeout=10))[0]]
    while pages[-1].get("tbc"):
        pages = await wait_for(stack, "ReportChargingProfiles", count=len(pages) + 1, since=since, timeout=10)
    assert all(p["requestId"] == request["requestId"] for p in pages), pages
    return answer["status"], pages


def reported(pages: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """(evseId, profile id) of every profile reported."""
    return {(p["evseId"], c["id"]) for p in pages for c in p["chargingProfile"]}


async def clear(stack: Stack, **payload: Any) -> str:
    answer = await call(stack, "ClearChargingProfile", payload)
    assert "error" not in answer, answer
    return str(answer["status"])


async def charging(stack: Stack, evse: int = 1) -> str:
    """Plug in, present a card, wait until the EV charges; return the transactionId."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=evse, max_current=32)
    await wait_connector(stack, evse, "Occupied", since)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    await stack.bench_request("wait_for", connector=evse, field="contactor_closed", value=True, timeout=15)
    return str(started["transactionInfo"]["transactionId"])


async def _clean(stack: Stack) -> None:
    assert await schema_violations(stack) == []


# ---------------------------------------------------------------- K01


async def test_tc_k_01_cs_k_10_cs_k_04_cs_k_28_cs_tx_default_profiles(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_01_CS TxDefaultProfile on one EVSE, TC_K_10_CS on all (EVSE 0), TC_K_04_CS a
    profile with a known id replaces it, TC_K_28_CS while a transaction runs: the pilot
    follows at once."""
    stack = await charger(backend=V201, connectors=2)
    await charging(stack, 1)
    await wait_offer(stack, 1, 32.0)
    await install(stack, 0, profile(10, "TxDefaultProfile", [(0, 8.0)]))  # TC_K_10_CS: every EVSE
    await wait_offer(stack, 1, 8.0)
    await install(stack, 1, profile(1, "TxDefaultProfile", [(0, 10.0)], stack_level=1))  # TC_K_01_CS
    await wait_offer(stack, 1, 10.0)
    await install(stack, 1, profile(1, "TxDefaultProfile", [(0, 12.0)], stack_level=1))  # TC_K_04_CS
    await wait_offer(stack, 1, 12.0)
    one = await composite(stack, 1, 60)
    check_schedule(one, 1, 60, "A", _now(), lambda t: 12.0)
    two = await composite(stack, 2, 60)
    check_schedule(two, 2, 60, "A", _now(), lambda t: 8.0)  # EVSE 0's default, EVSE 2 has none of its own
    _, pages = await report(stack, {"requestId": 1, "chargingProfile": {"chargingLimitSource": ["CSO"]}})
    assert reported(pages) == {(0, 10), (1, 1)}  # the replaced profile 1 once, at its new limit
    one_now = next(c for p in pages for c in p["chargingProfile"] if c["id"] == 1)
    assert one_now["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 12.0
    await _clean(stack)


async def test_tc_k_02_k_60_k_16_k_11_k_03_cs_tx_profile_and_station_max(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_02_CS a TxProfile without a transaction on the EVSE is Rejected; TC_K_60_CS with
    one it is Accepted and limits it; TC_K_16_CS an unknown transactionId is Rejected;
    TC_K_11_CS no TxProfile on EVSE 0; TC_K_03_CS a ChargingStationMaxProfile caps the EVSE."""
    stack = await charger(backend=V201)
    await refused(stack, 1, profile(20, "TxProfile", [(0, 7.0)], transaction_id="no-transaction"), "TxNotFound")
    await refused(stack, 1, profile(20, "TxProfile", [(0, 7.0)]), "NoTransaction")
    tx = await charging(stack, 1)
    await wait_offer(stack, 1, 32.0)
    await refused(stack, 1, profile(21, "TxProfile", [(0, 7.0)], transaction_id="0f0f-unknown"), "TxNotFound")
    await refused(stack, 0, profile(22, "TxProfile", [(0, 7.0)], transaction_id=tx), "InvalidProfile")
    await install(stack, 1, profile(23, "TxProfile", [(0, 7.0)], transaction_id=tx))  # TC_K_60_CS
    await wait_offer(stack, 1, 7.0)
    await refused(stack, 1, profile(24, "ChargingStationMaxProfile", [(0, 6.0)]), "InvalidProfile")
    await install(stack, 0, profile(24, "ChargingStationMaxProfile", [(0, 6.0)]))  # TC_K_03_CS
    await wait_offer(stack, 1, 6.0)
    _, pages = await report(stack, {"requestId": 2, "evseId": 1, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}})
    assert [(c["id"], c.get("transactionId")) for p in pages for c in p["chargingProfile"]] == [(23, tx)]
    await stack.bench_request("unplug", connector=1)
    await wait_event(stack, "Ended")
    assert (await report(stack, {"requestId": 3, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}}))[0] \
        == "NoProfiles"  # a TxProfile ends with its transaction
    await _clean(stack)


async def test_tc_k_12_k_14_k_19_k_21_k_22_k_23_cs_refusals_and_timing(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_12_CS a rate unit the charger does not take (only A here), TC_K_14_CS an EVSE that
    does not exist, more schedules or periods than it takes; TC_K_19_CS a daily Recurring
    profile, TC_K_21_CS validFrom, TC_K_22_CS validTo, TC_K_23_CS a startSchedule ahead:
    each applies when it says (read from the composite schedule)."""
    stack = await charger(backend=V201, ocpp={"ChargingScheduleAllowedChargingRateUnit": "Current",
                                              "ChargingScheduleMaxPeriods": 4})
    await refused(stack, 1, profile(30, "TxDefaultProfile", [(0, 6900.0)], unit="W"), "UnsupportedRateUnit")
    await refused(stack, 7, profile(31, "TxDefaultProfile"), "UnknownEvse")
    await refused(stack, 1, profile(32, "TxDefaultProfile", schedules=2), "InvalidSchedule")
    await refused(stack, 1, profile(33, "TxDefaultProfile", [(i * 10, 10.0) for i in range(5)]), "InvalidSchedule")
    await refused(stack, 1, profile(34, "ChargingStationExternalConstraints"), "InvalidProfile")
    assert (await composite(stack, 1, 60, "W"))["statusInfo"]["reasonCode"] == "UnsupportedRateUnit"  # TC_K_42_CS
    # The device model says what is enforced: the same settings.
    got = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": name}}
        for name in ("RateUnit", "PeriodsPerSchedule", "ProfileStackLevel")]})
    assert [r["attributeValue"] for r in got["getVariableResult"]] == ["A", "4", "10"]
    await refused(stack, 1, profile(38, "TxDefaultProfile", stack_level=11), "InvalidStackLevel")
    assert (await report(stack, {"requestId": 4, "chargingProfile": {}}))[0] == "NoProfiles"  # nothing kept

    t0 = _t0()
    # TC_K_19_CS: daily from a day ago; 10 A for its first 40 s, then 14 A until the day turns.
    await install(stack, 1, profile(35, "TxDefaultProfile", [(0, 10.0), (86400 - 30, 14.0)], kind="Recurring",
                                    recurrency="Daily", start=t0 + timedelta(seconds=30) - timedelta(days=1)))
    # TC_K_21_CS / TC_K_22_CS: stack level 1 from 20 s to 40 s from now.
    await install(stack, 1, profile(36, "TxDefaultProfile", [(0, 8.0)], stack_level=1, start=t0,
                                    valid_from=t0 + timedelta(seconds=20), valid_to=t0 + timedelta(seconds=40)))
    # TC_K_23_CS: stack level 2 from 50 s on, for 10 s.
    await install(stack, 1, profile(37, "TxDefaultProfile", [(0, 6.0)], stack_level=2,
                                    start=t0 + timedelta(seconds=50), duration=10))

    def expected(t: float) -> float:
        if 20 <= t < 40:
            return 8.0
        if 50 <= t < 60:
            return 6.0
        return 14.0 if t < 30 else 10.0

    answer = await composite(stack, 1, 80)
    check_schedule(answer, 1, 80, "A", t0, expected, boundaries=(20, 30, 40, 50, 60))
    await _clean(stack)


async def test_tc_k_13_cs_profiles_persist_over_a_reboot(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    await install(stack, 1, profile(40, "TxDefaultProfile", [(0, 9.0)]))
    since = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)  # a power cut
    await stack.start_agent()
    await stack.wait_booted(since_seq=since)
    _, pages = await report(stack, {"requestId": 5, "chargingProfile": {"chargingProfileId": [40]}})
    assert reported(pages) == {(1, 40)}
    kept = pages[0]["chargingProfile"][0]
    assert kept["chargingSchedule"][0]["id"] == 400  # reported as it was given
    await charging(stack, 1)
    await wait_offer(stack, 1, 9.0)
    await _clean(stack)


# ---------------------------------------------------------------- K05


async def test_tc_k_37_cs_remote_start_with_a_tx_profile(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_37_CS: RequestStartTransaction brings a Relative TxProfile; the transaction it
    starts is limited from its first offer and the profile is reported with its
    transactionId. A profile of another purpose makes the request Rejected."""
    stack = await charger(backend=V201)
    wrong = await call(stack, "RequestStartTransaction", {
        "idToken": {"idToken": new_id_tag(), "type": "Central"}, "remoteStartId": 1, "evseId": 1,
        "chargingProfile": profile(50, "TxDefaultProfile", kind="Relative")})
    assert wrong["status"] == "Rejected" and wrong["statusInfo"]["reasonCode"] == "InvalidProfile", wrong
    since = await last_seq(stack)
    answer = await call(stack, "RequestStartTransaction", {
        "idToken": {"idToken": new_id_tag(), "type": "Central"}, "remoteStartId": 2, "evseId": 1,
        "chargingProfile": profile(51, "TxProfile", [(0, 10.0), (60, 13.0)], kind="Relative", duration=600)})
    assert answer["status"] == "Accepted", answer
    await stack.bench_request("plug", connector=1, max_current=32)
    started = await wait_event(stack, "Started", since)
    assert started["transactionInfo"]["remoteStartId"] == 2
    tx = started["transactionInfo"]["transactionId"]
    await wait_offer(stack, 1, 10.0)
    began = parse_time(started["timestamp"])
    check_schedule(await composite(stack, 1, 120), 1, 120, "A", began,
                   lambda t: 10.0 if t < 60 else 13.0, boundaries=(60,), slack=4.0)
    _, pages = await report(stack, {"requestId": 6, "evseId": 1, "chargingProfile": {"chargingProfileId": [51]}})
    assert [(c["chargingProfilePurpose"], c.get("transactionId")) for p in pages for c in p["chargingProfile"]] \
        == [("TxProfile", tx)]
    await _clean(stack)


async def test_tc_k_15_cs_and_k_38_cs_station_without_smart_charging(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_15_CS: without the SmartCharging profile the requests are NotSupported; TC_K_38_CS:
    a remote start's chargingProfile is then ignored and the EV gets the full current."""
    stack = await charger(backend=V201, ocpp={"SupportedFeatureProfiles": "Core,RemoteTrigger"})
    for action, payload in (
        ("SetChargingProfile", {"evseId": 1, "chargingProfile": profile(60, "TxDefaultProfile")}),
        ("GetCompositeSchedule", {"evseId": 1, "duration": 60}),
        ("GetChargingProfiles", {"requestId": 1, "chargingProfile": {}}),
        ("ClearChargingProfile", {}),
    ):
        answer = await call(stack, action, payload)
        assert answer.get("error", {}).get("code") == "NotSupported", f"{action}: {answer}"
    since = await last_seq(stack)
    answer = await call(stack, "RequestStartTransaction", {
        "idToken": {"idToken": new_id_tag(), "type": "Central"}, "remoteStartId": 3, "evseId": 1,
        "chargingProfile": profile(61, "TxProfile", [(0, 7.0)], kind="Relative")})
    assert answer["status"] == "Accepted", answer
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_event(stack, "Started", since)
    await wait_offer(stack, 1, 32.0)
    await _clean(stack)


# ---------------------------------------------------------------- K08


async def test_tc_k_39_k_40_k_41_k_47_cs_composite_schedules(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_39_CS no profile: Accepted without a schedule (no limit invented); TC_K_40_CS
    stacking two TxDefaultProfiles; TC_K_41_CS a ChargingStationMaxProfile capping them,
    in A and in W; TC_K_47_CS an unknown EVSE is Rejected."""
    stack = await charger(backend=V201)
    empty = await composite(stack, 1, 300)
    assert empty == {"status": "Accepted"}, empty
    unknown = await composite(stack, 5, 300)
    assert unknown["status"] == "Rejected" and unknown["statusInfo"]["reasonCode"] == "UnknownEvse", unknown
    t0 = _t0()
    await install(stack, 1, profile(70, "TxDefaultProfile", [(0, 6.0), (100, 8.0), (200, 10.0)], start=t0,
                                    duration=400))
    await install(stack, 1, profile(71, "TxDefaultProfile", [(0, 10.0), (100, 12.0)], stack_level=1, start=t0,
                                    duration=150))
    check_schedule(await composite(stack, 1, 300), 1, 300, "A", t0,
                   lambda t: 10.0 if t < 100 else 12.0 if t < 150 else 8.0 if t < 200 else 10.0,
                   boundaries=(100, 150, 200))
    await install(stack, 0, profile(72, "ChargingStationMaxProfile", [(0, 9.0)], start=t0, duration=86400))
    check_schedule(await composite(stack, 1, 300), 1, 300, "A", t0,
                   lambda t: 9.0 if t < 150 else 8.0 if t < 200 else 9.0, boundaries=(150, 200))
    watts = await composite(stack, 1, 300, "W")
    check_schedule(watts, 1, 300, "W", t0, lambda t: W_PER_A * (9.0 if t < 150 else 8.0 if t < 200 else 9.0),
                   boundaries=(150, 200))
    station = await composite(stack, 0, 300)
    assert station["schedule"]["evseId"] == 0
    assert {p["limit"] for p in station["schedule"]["chargingSchedulePeriod"]} <= {8.0, 9.0}
    await _clean(stack)


# ---------------------------------------------------------------- K09


async def test_tc_k_29_to_k_36_cs_get_charging_profiles(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_29_CS EVSE 0, TC_K_30_CS EVSE > 0, TC_K_31_CS no EVSE, TC_K_32_CS by id,
    TC_K_33_CS stackLevel, TC_K_34_CS chargingLimitSource, TC_K_35_CS purpose, TC_K_36_CS
    purpose and stackLevel: each reports exactly the profiles asked for, one message per
    EVSE, tbc on all but the last."""
    stack = await charger(backend=V201, connectors=2)
    await install(stack, 0, profile(80, "ChargingStationMaxProfile", [(0, 30.0)]))
    await install(stack, 0, profile(81, "TxDefaultProfile", [(0, 20.0)]))
    await install(stack, 1, profile(82, "TxDefaultProfile", [(0, 16.0)], stack_level=1))
    await install(stack, 1, profile(83, "TxDefaultProfile", [(0, 12.0)], stack_level=2))
    await install(stack, 2, profile(84, "TxDefaultProfile", [(0, 10.0)], stack_level=2))

    async def ids(request_id: int, criteria: dict[str, Any], evse: int | None = None) -> set[tuple[int, int]]:
        request: dict[str, Any] = {"requestId": request_id, "chargingProfile": criteria}
        if evse is not None:
            request["evseId"] = evse
        status, pages = await report(stack, request)
        if status == "NoProfiles":
            return set()
        assert status == "Accepted"
        assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False], pages
        assert all(p["chargingLimitSource"] == "CSO" for p in pages)
        assert len({p["evseId"] for p in pages}) == len(pages)  # one EVSE per message
        return reported(pages)

    assert await ids(29, {}, evse=0) == {(0, 80), (0, 81)}
    assert await ids(30, {}, evse=1) == {(1, 82), (1, 83)}
    assert await ids(31, {}) == {(0, 80), (0, 81), (1, 82), (1, 83), (2, 84)}
    assert await ids(32, {"chargingProfileId": [83, 84]}, evse=1) == {(1, 83)}
    assert await ids(33, {"stackLevel": 2}, evse=1) == {(1, 83)}
    assert await ids(34, {"chargingLimitSource": ["CSO"]}, evse=2) == {(2, 84)}
    assert await ids(341, {"chargingLimitSource": ["EMS", "SO"]}) == set()
    assert await ids(35, {"chargingProfilePurpose": "ChargingStationMaxProfile"}) == {(0, 80)}
    assert await ids(36, {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2}) == {(1, 83), (2, 84)}
    station_max = await report(stack, {"requestId": 37, "chargingProfile": {"chargingProfileId": [80]}})
    sent = station_max[1][0]["chargingProfile"][0]
    assert sent["chargingProfilePurpose"] == "ChargingStationMaxProfile" and sent["chargingProfileKind"] == "Absolute"
    await _clean(stack)


# ---------------------------------------------------------------- K10


async def test_tc_k_05_to_k_09_k_24_cs_clear_charging_profile(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_08_CS nothing to clear: Unknown; TC_K_05_CS by id; TC_K_06_CS / TC_K_24_CS by
    stackLevel and purpose, one and several; TC_K_07_CS an unknown combination: Unknown;
    TC_K_09_CS clearing the TxDefaultProfile of a running transaction gives the EV the full
    current again."""
    stack = await charger(backend=V201, connectors=2)
    assert await clear(stack, chargingProfileId=90) == "Unknown"  # TC_K_08_CS
    await install(stack, 1, profile(90, "TxDefaultProfile", [(0, 10.0)]))
    assert await clear(stack, chargingProfileId=90) == "Accepted"  # TC_K_05_CS
    assert (await report(stack, {"requestId": 1, "chargingProfile": {}}))[0] == "NoProfiles"
    await install(stack, 1, profile(91, "TxDefaultProfile", [(0, 10.0)], stack_level=3))
    await install(stack, 2, profile(92, "TxDefaultProfile", [(0, 10.0)], stack_level=3))
    await install(stack, 1, profile(93, "TxDefaultProfile", [(0, 10.0)], stack_level=4))
    criteria = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 5}
    assert await clear(stack, chargingProfileCriteria=criteria) == "Unknown"  # TC_K_07_CS
    one = {"evseId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 4}
    assert await clear(stack, chargingProfileCriteria=one) == "Accepted"  # TC_K_06_CS
    assert reported((await report(stack, {"requestId": 2, "chargingProfile": {}}))[1]) == {(1, 91), (2, 92)}
    several = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 3}
    assert await clear(stack, chargingProfileCriteria=several) == "Accepted"  # TC_K_24_CS
    assert (await report(stack, {"requestId": 3, "chargingProfile": {}}))[0] == "NoProfiles"

    await install(stack, 0, profile(94, "TxDefaultProfile", [(0, 8.0)]))  # TC_K_09_CS
    await charging(stack, 1)
    await wait_offer(stack, 1, 8.0)
    assert await clear(stack, chargingProfileCriteria={"evseId": 0, "chargingProfilePurpose": "TxDefaultProfile"}) \
        == "Accepted"
    await wait_offer(stack, 1, 32.0)
    assert await composite(stack, 1, 60) == {"status": "Accepted"}
    await _clean(stack)


async def test_a_duplicate_stack_level_with_overlapping_validity_is_rejected(charger) -> None:  # type: ignore[no-untyped-def]
    """K01.FR.06: another id with the same purpose, stack level and EVSE, valid at the same
    time, is refused (DuplicateProfile) and the installed one stays; a disjoint validity is fine."""
    stack = await charger(backend=V201)
    t0 = _t0()
    await install(stack, 1, profile(100, "TxDefaultProfile", [(0, 10.0)], valid_to=t0 + timedelta(hours=1)))
    await refused(stack, 1, profile(101, "TxDefaultProfile", [(0, 12.0)]), "DuplicateProfile")
    await install(stack, 1, profile(102, "TxDefaultProfile", [(0, 12.0)], valid_from=t0 + timedelta(hours=1)))
    assert reported((await report(stack, {"requestId": 1, "chargingProfile": {}}))[1]) == {(1, 100), (1, 102)}
    await _clean(stack)


# ---------------------------------------------------------------- K12/K13: the site limit as an EMS limit


def _limits_told(payloads: list[dict[str, Any]]) -> list[tuple[int, str, float]]:
    return [(m["evseId"], m["chargingLimit"]["chargingLimitSource"],
             m["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]) for m in payloads]


async def test_tc_k_52_cs_the_site_limit_is_told_and_reported_as_an_ems_limit(charger) -> None:  # type: ignore[no-untyped-def]
    """TC_K_52_CS (K12): the site limit (a 40 A connection, no grid meter, shared equally)
    limits both EVSEs from the start: NotifyChargingLimit EMS for each, and GetChargingProfiles
    reports it as ChargingStationExternalConstraints. A session on EVSE 1 takes 32 A: its
    limit is cleared (ClearedChargingLimit, K13) and EVSE 2's leftover told; a second
    session makes it 20 A each, told again and offered on the bench."""
    stack = await charger(backend=V201, connectors=2,
                          site={"max_current": 40, "margin": 0, "fallback_current": 12, "sharing": "equal"})
    first = await wait_for(stack, "NotifyChargingLimit", count=2, timeout=10)
    assert sorted(_limits_told(first)) == [(1, "EMS", 20.0), (2, "EMS", 20.0)]
    status, pages = await report(stack, {"requestId": 52, "chargingProfile": {"chargingLimitSource": ["EMS"]}})
    assert status == "Accepted"
    assert {(p["chargingLimitSource"], p["evseId"]) for p in pages} == {("EMS", 1), ("EMS", 2)}
    external = [c for p in pages for c in p["chargingProfile"]]
    assert {c["chargingProfilePurpose"] for c in external} == {"ChargingStationExternalConstraints"}
    assert {c["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] for c in external} == {20.0}
    assert (await report(stack, {"requestId": 53, "chargingProfile": {"chargingLimitSource": ["CSO"]}}))[0] \
        == "NoProfiles"

    since = await last_seq(stack)
    await charging(stack, 1)
    await wait_offer(stack, 1, 32.0)
    cleared = await wait_for(stack, "ClearedChargingLimit", since=since)
    assert cleared == [{"chargingLimitSource": "EMS", "evseId": 1}]
    assert _limits_told(await wait_for(stack, "NotifyChargingLimit", since=since)) == [(2, "EMS", 8.0)]

    since = await last_seq(stack)
    await charging(stack, 2)
    await wait_offer(stack, 1, 20.0, timeout=6)
    await wait_offer(stack, 2, 20.0, timeout=6)
    told = await wait_for(stack, "NotifyChargingLimit", count=2, since=since)
    assert sorted(_limits_told(told)) == [(1, "EMS", 20.0), (2, "EMS", 20.0)]
    await _clean(stack)
