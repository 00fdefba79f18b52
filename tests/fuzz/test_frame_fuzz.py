"""The OCPP frame fuzzer, short run: hostile frames against the real agent while it charges.

Every CSMS-to-charge-point action of OCPP 1.6 (and the security extension's) is sent
mutated by type, shape, size, depth, encoding and id, with garbage answers to the agent's
own calls, over the test CSMS's real websocket to the real agent process, while a session
charges on the bench. The expected answers are OCPP-J 1.6 section 4.2.3's (see
simulators/fuzz/frames.py); ``make fuzz`` runs the same campaign with 10,000 frames.
"""

from __future__ import annotations

import pytest

from simulators.fuzz.campaign import FUZZ_OCPP, Campaign, charge, finish, verdict
from simulators.fuzz.frames import draw_probes

#: About a minute with the stack's start and the session.
SHORT_RUN_FRAMES = 1000


@pytest.mark.timeout(400)  # about a minute; far more beside the reliability tests in make test
async def test_hostile_frames_while_charging(charger):
    """Same process, link never dropped, every CALL answered as OCPP-J 1.6 says, no secret
    or traceback logged, log growth bounded, the session complete in the backend's ledger."""
    stack = await charger(connectors=1, ocpp=FUZZ_OCPP)
    id_tag = "F022C0DE"
    await charge(stack, id_tag)  # its first StartTransaction is answered with transactionId 2^64+1
    campaign = Campaign(stack)
    figures = await campaign.run(draw_probes(SHORT_RUN_FRAMES))
    ledger = await finish(stack, id_tag)
    campaign.read_logs()
    anomalies = (await stack.csms.request("ledger", cp=stack.cp_id))["anomalies"]

    # Every check is made and reported at once: the list is what the framing must mend.
    broken = verdict(figures, ledger, anomalies, id_tag)
    assert not broken, "\n".join(broken) + "\n" + figures.report(examples=25)
