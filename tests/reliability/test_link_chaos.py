"""Link chaos: the backend link dies under running sessions, over and over, and nothing is lost.

Half-open stalls (no FIN: only the agent's pings can tell), resets by the network, and the
backend closing the websocket abruptly or cleanly, while two EVs charge and drivers come
and go. Afterwards the ledger is complete and in order (simulators/ledger_audit.py), and
every dead link was noticed within its bound: WebSocketPingInterval + ping_timeout + the
close wait + one backoff for a stall, one backoff for a connection that was closed.
Over OCPP 1.6 and 2.0.1 (there the audit also holds each transaction's TransactionEvents
to gapless seqNos and offline flags true to the link: simulators/ledger_audit201.py).
"""

from __future__ import annotations

import pytest

from simulators.crash_campaign import CAMPAIGN_OCPP, PING_TIMEOUT_S, Campaign
from simulators.ledger_audit import STOPPED

CYCLES = 12
SEED = 3


@pytest.mark.timeout(240)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_repeated_drops_and_stalls_leave_the_ledger_complete_and_in_order(charger, version):
    # WebSocketPingInterval 1 s, ping_timeout 2 s: a stalled link must be given up within
    # 1 + 2 + 2 (close wait) + 2.4 (backoff) + 1 s.
    backend = {"ocpp": version} if version != "1.6" else {}
    stack = await charger(connectors=2, ocpp=CAMPAIGN_OCPP, ping_timeout=PING_TIMEOUT_S, backend=backend)
    campaign = Campaign(stack, SEED)
    assert campaign.ocpp == version
    assert campaign.stall_bound_s == pytest.approx(1 + 2 + 2 + 2.4 + 1)
    result = await campaign.run_link_chaos(CYCLES)

    assert result.violations == [], "\n".join(f"- {v.kind}: {v.detail}" for v in result.violations)
    stalls = [d for d in result.dead_links if d.kind == "stall"]
    drops = [d for d in result.dead_links if d.kind in ("drop", "drop-clean", "cut")]
    assert len(stalls) == CYCLES // 2 and len(drops) == CYCLES // 2
    for dead in stalls + drops:
        assert dead.noticed_after_s is not None and dead.noticed_after_s <= dead.bound_s, dead
    # No kills: every session was ended by its driver, and each is one stopped transaction
    # whose values arrived, at least one a second, in order (the audit checked each).
    assert all(s.end == STOPPED for s in result.sessions)
    summary = result.summary()
    assert summary["transactions"] == len(result.sessions) >= 2
    assert summary["max_sample_gap_s"] <= 2.5
    assert summary["duplicates"]["StartTransaction" if version == "1.6" else "TransactionEvent Started"] == 0
    if version == "2.0.1":  # sessions started while the link was down: their events went out flagged
        offline = [m for m in campaign.log if m["action"] == "TransactionEvent" and m["payload"].get("offline")]
        assert offline, "no TransactionEvent was sent with offline true"
    assert summary["connections"] >= CYCLES
