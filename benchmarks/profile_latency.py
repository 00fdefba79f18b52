"""Time from a backend's SetChargingProfile to the pilot's PWM duty changing.

The real agent on the wired bench (its pilot drives the bench's sysfs PWM tree, as it
would a Pi's /sys/class/pwm) against the test CSMS, with an EV charging. The benchmark
reads the duty_cycle file itself every millisecond, so the figure is the agent's (the
bench's own EV model polls the PWM every 20 ms). Two intervals per change: from the
backend sending the request, and from the backend receiving Accepted, to the new duty.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from simulators.bench_wiring import BenchWiring
from simulators.harness import Csms, Stack


def _tx_default(profile_id: int, amps: float) -> dict[str, Any]:
    return {"chargingProfileId": profile_id, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}]}}


async def _duty_change(path: Path, before: str, timeout: float = 5.0) -> float:
    """Wall time at which ``path`` first holds something other than ``before``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text().strip()
        if text and text != before:
            return time.time()
        await asyncio.sleep(0.001)
    raise TimeoutError(f"the PWM duty stayed {before} for {timeout} s")


async def measure_profile_latency(csms: Csms, root: Path, runs: int = 10) -> dict[str, list[float]]:
    """Seconds from request sent, and from Accepted received, to the duty changing; one per run."""
    stack = Stack(root / "profiles", csms, cp_id="BENCH-PROFILES")
    await stack.start()
    try:
        await stack.wait_booted()
        assert stack.wiring_info is not None, "the latency is measured on the wired bench (sysfs PWM)"
        pilot = BenchWiring.for_connectors(1).agent_sections(
            pwm_root=Path(stack.wiring_info["pwm_root"]), lock=stack.lock)["pilot"]
        duty = Path(stack.wiring_info["pwm_root"]) / f"pwmchip{pilot['pwm_chip']}" / \
            f"pwm{pilot['pwm_channels'][0]}" / "duty_cycle"
        await stack.bench_request("plug", connector=1, max_current=32)
        await stack.bench_request("tap", uid="BE0C0002")
        await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
        from_request: list[float] = []
        from_accepted: list[float] = []
        for n in range(runs):
            await asyncio.sleep(0.5)
            before = duty.read_text().strip()
            watcher = asyncio.create_task(_duty_change(duty, before))
            sent = time.time()
            reply = await csms.request("call", cp=stack.cp_id, action="SetChargingProfile",
                                       payload={"connectorId": 1, "csChargingProfiles": _tx_default(1, 10.0 + n % 2 * 6)})
            assert reply.get("result") == {"status": "Accepted"}, reply
            changed = await watcher
            log = await csms.request("messages", cp=stack.cp_id, action="SetChargingProfile")
            answered = [m for m in log["messages"] if m["type"] == "CALLRESULT"][-1]
            accepted = datetime.fromisoformat(answered["time"].replace("Z", "+00:00")).timestamp()
            from_request.append(changed - sent)
            from_accepted.append(changed - accepted)
        return {"from_request": from_request, "from_accepted": from_accepted}
    finally:
        await stack.stop()


async def _main(runs: int) -> None:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="ladda-bench-profiles-"))
    csms = Csms(root / "csms")
    await csms.start()
    try:
        figures = await measure_profile_latency(csms, root, runs)
    finally:
        await csms.stop()
    for name, values in figures.items():
        print(f"{name}: median {statistics.median(values) * 1000:.1f} ms, "
              f"min {min(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(_main(10))
