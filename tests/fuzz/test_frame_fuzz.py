"""The OCPP frame fuzzer, short run: hostile frames against the real agent while it charges.

Every CSMS-to-charge-point action of OCPP 1.6 (and the security extension's) is sent
mutated by type, shape, size, depth, encoding and id, with garbage answers to the agent's
own calls, over the test CSMS's real websocket to the real agent process, while a session
charges on the bench. The expected answers are OCPP-J 1.6 section 4.2.3's (see
simulators/fuzz/frames.py); ``make fuzz`` runs the same campaign with 10,000 frames.
"""

from __future__ import annotations

import pytest

from simulators.fuzz.campaign import Campaign, charge, finish
from simulators.fuzz.frames import draw_probes

#: About a minute with the stack's start and the session.
SHORT_RUN_FRAMES = 1000
#: Log bytes allowed per hostile frame: under 1 MB per 10,000 frames.
LOG_BYTES_PER_FRAME = 100


@pytest.mark.timeout(400)  # about a minute; far more beside the reliability tests in make test
async def test_hostile_frames_while_charging(charger):
    stack = await charger(connectors=1)
    id_tag = "F022C0DE"
    await charge(stack, id_tag)  # the first StartTransaction answer is garbage too
    campaign = Campaign(stack)
    figures = await campaign.run(draw_probes(SHORT_RUN_FRAMES))
    ledger = await finish(stack, id_tag)
    campaign.read_logs()
    anomalies = (await stack.csms.request("ledger", cp=stack.cp_id))["anomalies"]

    # Every check is made and reported at once: the list is what the framing must fix.
    broken = []
    if figures.crashes:
        broken.append(f"the agent process died {figures.crashes} times")
    if figures.link_drops:
        broken.append(f"single frames dropped the link {figures.link_drops} times")
    if figures.wrong_answers:
        broken.append(f"{figures.wrong_answers} of {figures.frames} frames answered wrongly")
    if figures.secrets_logged:
        broken.append(f"secrets in the agent's log: {figures.secrets_logged}")
    if figures.tracebacks:
        broken.append(f"{figures.tracebacks} tracebacks logged for bad input")
    if figures.log_bytes > LOG_BYTES_PER_FRAME * figures.frames:
        broken.append(f"{figures.log_bytes} log bytes for {figures.frames} frames "
                      f"(at most {LOG_BYTES_PER_FRAME} a frame)")
    if not (len(ledger) == 1 and ledger[0]["stopped"] and ledger[0]["id_tag"] == id_tag
            and (ledger[0]["energy_wh"] or 0) > 0):
        broken.append(f"the session is not complete in the backend's ledger: {ledger}")
    if anomalies:
        broken.append(f"the backend's ledger has anomalies: {anomalies}")
    assert not broken, "\n".join(broken) + "\n" + figures.report()
