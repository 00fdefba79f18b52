"""The agent killed at random instants loses no transaction data (a small crash campaign).

The full campaign (`make crash-test`, 500 kills) writes docs/reliability.md; this is the
same campaign, small enough for every test run: at least 25 SIGKILLs of the real agent
process during boot, mid-session, right after a tap, during a stop, while offline and
while the journal drains after a reconnect, then the backend's ledger audited against
what the bench's meters and EVs did (simulators/ledger_audit.py). Over OCPP 1.6 and over
2.0.1, where the audit (simulators/ledger_audit201.py) also holds every transaction's
TransactionEvents to gapless seqNos from 0 and offline flags true to the link.
"""

from __future__ import annotations

import pytest

from simulators.crash_campaign import CAMPAIGN_OCPP, PING_TIMEOUT_S, ROUNDS, Campaign
from simulators.crash_report import CampaignResult
from simulators.ledger_audit import KILLED, KILLED_STOPPING

KILLS = 25
SEED = 7  # its 25-kill plan has every kind of kill instant and both kinds of offline


def _explain(result: CampaignResult) -> str:
    lines = [f"{len(result.violations)} violations (seed {SEED}, reproduce with "
             f"`python -m simulators.crash_campaign --ocpp {result.ocpp} --kills {KILLS} --seed {SEED} --keep`):"]
    lines += [f"- {v.kind}: {v.detail}" + (f" [card {v.tag}]" if v.tag else "") for v in result.violations]
    return "\n".join(lines)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_killed_at_random_instants_the_ledger_has_every_transaction_exactly_once(charger, version):
    backend = {"ocpp": version} if version != "1.6" else {}
    stack = await charger(connectors=2, ocpp=CAMPAIGN_OCPP, ping_timeout=PING_TIMEOUT_S, backend=backend)
    campaign = Campaign(stack, SEED)
    assert campaign.ocpp == version
    result = await campaign.run_crash(KILLS)
    summary = result.summary()

    assert result.violations == [], _explain(result)
    # The campaign did what it claims: the kills, at every kind of instant, cut real sessions.
    assert summary["kills"] >= KILLS
    assert set(summary["kills_by_phase"]) == set(ROUNDS), summary["kills_by_phase"]
    cut = [s for s in result.sessions if s.end in (KILLED, KILLED_STOPPING) and s.delivered_wh > 0.5]
    assert len(cut) >= 10, summary["sessions_by_end"]
    assert any(s.link_at_tap != "up" for s in result.sessions), "no session started offline"
    # Every session that delivered energy is one transaction, and the charger's journal
    # (every queued message) was compared with the ledger.
    assert summary["transactions"] >= summary["sessions_charged"] > 0
    assert summary["journal_rows_checked"] >= summary["transactions"] * 2
    if version == "2.0.1":  # the audit saw events journaled offline, each sent flagged so
        assert set(summary["duplicates"]) == {"TransactionEvent Started", "TransactionEvent Updated",
                                              "TransactionEvent Ended"}
        offline = [m for m in campaign.log if m["action"] == "TransactionEvent" and m["payload"].get("offline")]
        assert offline, "no TransactionEvent was sent with offline true"
