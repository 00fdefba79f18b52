"""A charger loads the libraries its configuration uses, and only those.

Every library a charger imports stays in its memory for months (docs/performance.md,
"Resident memory"): the Modbus stack for a charger without a Modbus meter, the X.509
library for one that never gets a signed firmware update, or the FTP and HTTP clients
of a diagnostics upload nobody asked for are memory a small board does not have. The
real agent process runs with ``PYTHONVERBOSE``, so its log names every module it loaded
(by an import statement or ``importlib``), start-up and a charging session included.
"""

from __future__ import annotations

import re

from simulators.harness import Stack

_LOADED = re.compile(r"^import '([\w.]+)' # ", re.MULTILINE)

#: What a charger never needs with the sim meter and card reader, the GPIO contactor and
#: the ADS1115 pilot, no cable lock and no job under way.
NOT_NEEDED = (
    "pymodbus", "serial", "drivers.modbus",  # the Modbus meter driver
    "smartcard", "drivers.pcsc",  # the PC/SC card reader
    "smbus2",  # a real I2C bus (the bench's ADS1115 is reached over its socket)
    "cryptography", "agent.firmware.signature",  # SignedUpdateFirmware
    "ftplib", "tarfile", "agent.transfer",  # diagnostics uploads and firmware downloads
    "ocpp.v201", "ocpp.v21",  # the other protocol versions and their schemas
    "drivers.gpio.lock", "drivers.sim.pilot", "drivers.sim.contactor", "drivers.sim.lock",  # roles it has not
)


def imported_modules(log: str) -> set[str]:
    """The modules of the interpreter's verbose "import 'name' # loader" lines."""
    return set(_LOADED.findall(log))


def _among(module: str, names: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


async def test_a_charger_without_modbus_pcsc_or_jobs_never_imports_their_libraries(charger) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = await charger(meter="sim", reader="socket", agent_env={"PYTHONVERBOSE": "1"})
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


async def test_a_201_charger_loads_the_201_adapter_and_nothing_of_16(charger) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = await charger(meter="sim", reader="socket", backend={"ocpp": "2.0.1"},
                                 agent_env={"PYTHONVERBOSE": "1"})
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid="BE0C0002")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await stack.csms.request("wait_for", cp=stack.cp_id, action="TransactionEvent", timeout=15)

    modules = imported_modules((stack.workdir / "agent.log").read_text())
    assert {"agent.ocpp201.session", "ocpp.v201.call"} <= modules
    assert sorted(m for m in modules if _among(m, ("agent.ocpp16", "ocpp.v16", "ocpp.v21"))) == []
