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


#: The 2.0.1 variant is shorter: the 1.6 run above exercises the shared framing at length.
SHORT_RUN_FRAMES_201 = 400


@pytest.mark.timeout(400)
async def test_hostile_frames_while_charging_over_ocpp_201(charger):
    """The same over OCPP 2.0.1: every CSMS-to-charging-station action of 2.0.1 mutated,
    every malformed frame answered with the CALLERROR OCPP-J 2.0.1 names (in its own
    spelling: FormatViolation, OccurrenceConstraintViolation, RpcFrameworkError,
    MessageTypeNotSupported), the same process, the link never dropped, and the session
    one complete transaction: Started to Ended, seqNos gapless from 0."""
    from simulators.fuzz.frames201 import draw_probes as draw_probes_201

    stack = await charger(connectors=1, ocpp=FUZZ_OCPP, backend={"ocpp": "2.0.1"})
    id_tag = "F022C201"
    await charge(stack, id_tag)
    campaign = Campaign(stack)
    assert campaign.version == "2.0.1"
    figures = await campaign.run(draw_probes_201(SHORT_RUN_FRAMES_201))
    ledger = await finish(stack, id_tag)
    campaign.read_logs()
    anomalies = (await stack.csms.request("ledger", cp=stack.cp_id))["anomalies"]

    broken = verdict(figures, ledger, anomalies, id_tag)
    if ledger and sorted(ledger[0]["seq_nos"]) != list(range(len(ledger[0]["seq_nos"]))):
        broken.append(f"seqNos not gapless from 0: {ledger[0]['seq_nos']}")
    assert not broken, "\n".join(broken) + "\n" + figures.report(examples=25)
    assert figures.frames >= SHORT_RUN_FRAMES_201 and len(figures.per_class) >= 15
