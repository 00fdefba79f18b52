"""The plugged cable's rating limits the offer, through the real ADS1115 pilot driver.

IEC 61851-1: a socket outlet reads the cable's current rating from the resistor between
its proximity contact and earth (1.5 kOhm 13 A, 680 Ohm 20 A, 220 Ohm 32 A, 100 Ohm 63 A);
a resistance in no band, or no cable seen while the EV is plugged in, means the cable's
rating is unknown and nothing may be offered.
"""

from __future__ import annotations

from pathlib import Path

from drivers.protocols import PilotState
from simulators.wired_charger import until, wired_charger


async def plug_and_start(charger, tag: str) -> None:  # type: ignore[no-untyped-def]
    charger.ev.state = PilotState.B
    await until(lambda: charger.runtime.charger.connector(1).pilot is PilotState.B)
    assert charger.runtime.remote_start(tag, 1) == "Accepted"
    await until(lambda: 1 in charger.runtime.local_tx)


async def test_a_13_a_cable_caps_a_16_a_connector(tmp_path: Path) -> None:
    async with wired_charger(tmp_path, socket_outlet=True) as charger:
        charger.ev.proximity_ohm = 1500.0
        await plug_and_start(charger, "CABLE13")
        await until(lambda: charger.runtime.charger.connector(1).offer_a == 13.0)
        assert charger.runtime.limits.decided(1).source == "cable rated 13 A"
        charger.ev.state = PilotState.C
        await until(lambda: charger.contactor.closed)
        charger.ev.state = PilotState.A  # unplugged: the next cable is read afresh
        await until(lambda: charger.runtime.limits.decided(1).amps is None)


async def test_an_unreadable_cable_gets_nothing_and_the_session_stays(tmp_path: Path) -> None:
    async with wired_charger(tmp_path, socket_outlet=True) as charger:
        charger.ev.proximity_ohm = 4000.0  # in no band: a broken or non-standard resistor
        await plug_and_start(charger, "CABLEBAD")
        await until(lambda: charger.runtime.statuses.get(1) is not None
                    and charger.runtime.statuses[1].status == "SuspendedEVSE")
        assert charger.runtime.charger.connector(1).offer_a == 0.0
        assert charger.runtime.limits.decided(1).source == "cable rated 0 A"
        charger.ev.state = PilotState.C  # an EV that tries anyway gets no contactor
        await until(lambda: charger.runtime.charger.connector(1).pilot is PilotState.C)
        assert not charger.contactor.closed
        assert 1 in charger.runtime.local_tx  # the transaction is not ended


async def test_a_tethered_cable_has_no_cable_limit(tmp_path: Path) -> None:
    async with wired_charger(tmp_path) as charger:  # no proximity input
        await plug_and_start(charger, "TETHERED")
        await until(lambda: charger.runtime.charger.connector(1).offer_a == 16.0)
        assert charger.runtime.limits.decided(1).amps is None
