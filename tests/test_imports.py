"""A charger loads the libraries its configuration uses, and only those.

Every library a charger imports stays in its memory for months (docs/performance.md,
"Resident memory"): the Modbus stack for a charger without a Modbus meter, the X.509
library for one that never gets a signed firmware update, or the FTP and HTTP clients
of a diagnostics upload nobody asked for are memory a small board does not have. The
real agent process runs with ``PYTHONPROFILEIMPORTTIME``, so its log lists every module
it imported (or tried to), start-up and a charging session included.
"""

from __future__ import annotations

from simulators.harness import Stack

#: What a charger with the sim meter, no PC/SC reader and no job under way never needs.
NOT_NEEDED = (
    "pymodbus", "serial", "drivers.modbus",  # the Modbus meter driver
    "smartcard", "drivers.pcsc",  # the PC/SC card reader
    "smbus2",  # a real I2C bus (the bench's ADS1115 is reached over its socket)
    "cryptography", "agent.firmware.signature",  # SignedUpdateFirmware
    "ftplib", "tarfile", "agent.transfer",  # diagnostics uploads and firmware downloads
    "ocpp.v201", "ocpp.v21",  # the other protocol versions and their schemas
)


def imported_modules(log: str) -> set[str]:
    """The modules named by ``-X importtime`` lines ("import time: self | cumulative | name")."""
    return {line.split("|")[2].strip() for line in log.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def _among(module: str, names: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


async def test_a_charger_without_modbus_pcsc_or_jobs_never_imports_their_libraries(charger) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = await charger(meter="sim", reader="socket", agent_env={"PYTHONPROFILEIMPORTTIME": "1"})
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid="BE0C0001")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await stack.bench_request("tap", uid="BE0C0001")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=15)
    await stack.csms.request("wait_for", cp=stack.cp_id, action="StopTransaction", timeout=15)

    modules = imported_modules((stack.workdir / "agent.log").read_text())
    # What it does use is in the list: the list is the process's.
    assert {"agent.ocpp16.session", "drivers.gpio.contactor", "drivers.pilot.ads1115", "drivers.sim.reader",
            "websockets", "gpiozero"} <= modules
    assert sorted(m for m in modules if _among(m, NOT_NEEDED)) == []
