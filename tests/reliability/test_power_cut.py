"""Power cuts at random instants lose no start or stop, and meter samples only within
the documented window (a small power-cut campaign; `make power-cut` runs a long one).

Unlike the kill campaign, each SIGKILL of the agent is followed by the rebuild of its
state directory as a power cut would leave it: every write the agent had not made
durable with fsync/fdatasync is lost (or, for half of the cuts, a random in-order
prefix of them landed). The agent then restarts on what is left. The backend's ledger
is audited with the power-cut policy (simulators/powercut/policy.py).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

from simulators.crash_campaign import CAMPAIGN_OCPP, PING_TIMEOUT_S
from simulators.harness import Csms
from simulators.ledger_audit import KILLED, KILLED_STOPPING
from simulators.powercut.build import build_shim
from simulators.powercut.campaign import PowerCutCampaign, PowerCutResult, PowerCutStack, Recorder
from simulators.powercut.image import LOSE, PREFIX

from ..secret_scan import discard

CUTS = 10
SEED = 5


def _explain(result: PowerCutResult) -> str:
    lines = [f"{len(result.violations)} violations (seed {SEED}, reproduce with "
             f"`python -m simulators.powercut --cuts {CUTS} --seed {SEED} --keep`):"]
    lines += [f"- {v.kind}: {v.detail}" + (f" [card {v.tag}]" if v.tag else "") for v in result.violations]
    return "\n".join(lines)


@pytest.mark.timeout(300)
async def test_power_cuts_lose_no_start_or_stop_and_samples_only_within_the_window(csms: Csms) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ld-"))
    recorder = Recorder(build_shim(workdir), workdir / "c" / "state", workdir / "trace.bin")
    stack = PowerCutStack(workdir / "c", csms, cp_id=f"CUT-{uuid.uuid4().hex[:8]}", connectors=2,
                          ocpp=dict(CAMPAIGN_OCPP), ping_timeout=PING_TIMEOUT_S, agent_env=recorder.env(),
                          recorder=recorder)
    passed = False
    try:
        await stack.start()
        await stack.wait_booted()
        campaign = PowerCutCampaign(stack, SEED)
        result = await campaign.run_cuts(CUTS)
        summary = result.summary()

        assert result.violations == [], _explain(result)
        # The cuts were real: each rebuilt the directory and took unsynced writes, in both
        # models, and cut running sessions; the journal opened cleanly after every one.
        assert summary["cuts"] >= CUTS
        assert set(summary["cuts_by_model"]) == {LOSE, PREFIX}
        assert summary["unsynced_ops_lost"] > 0
        assert summary["journal_integrity_failures"] == 0
        cut = [s for s in result.campaign.sessions if s.end in (KILLED, KILLED_STOPPING) and s.delivered_wh > 0.5]
        assert len(cut) >= 4, summary["sessions_by_end"]
        assert summary["transactions"] >= summary["sessions_charged"] > 0
        assert summary["start_stop_resent_after_acknowledgement"] == 0
        assert summary["samples_missing_beyond_window"] == 0
        if campaign.window_s == 0:  # a release that commits every sample at once loses none
            assert summary["samples_missing_in_ledger"] == 0
        passed = True
    finally:
        await stack.stop()
        if passed:
            discard(workdir, keep=bool(os.environ.get("LADDA_KEEP_TEST_DIRS")))
        elif not passed:
            print(f"work directory kept: {workdir}\n--- agent log ---\n{stack.agent_log()}")
