"""The agent killed at random instants loses no transaction data (a small crash campaign).

The full campaign (`make crash-test`, 500 kills) writes docs/reliability.md; this is the
same campaign, small enough for every test run: at least 25 SIGKILLs of the real agent
process during boot, mid-session, right after a tap, during a stop, while offline and
while the journal drains after a reconnect, then the backend's ledger audited against
what the bench's meters and EVs did (simulators/ledger_audit.py).
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
             f"`python -m simulators.crash_campaign --kills {KILLS} --seed {SEED} --keep`):"]
    lines += [f"- {v.kind}: {v.detail}" + (f" [card {v.tag}]" if v.tag else "") for v in result.violations]
    return "\n".join(lines)


@pytest.mark.timeout(300)
async def test_killed_at_random_instants_the_ledger_has_every_transaction_exactly_once(charger):
    stack = await charger(connectors=2, ocpp=CAMPAIGN_OCPP, ping_timeout=PING_TIMEOUT_S)
    result = await Campaign(stack, SEED).run_crash(KILLS)
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
