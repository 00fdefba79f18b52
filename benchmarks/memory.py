"""Where the idle agent's resident memory goes (``python -m benchmarks.memory``).

The agent runs as ``make bench`` runs it: wired bench (the real Modbus, ADS1115 and GPIO
drivers), OCPP 1.6 to the test CSMS. Once it has booted and idled for a few seconds its
RSS is read, split by ``/proc/PID/smaps_rollup`` into anonymous memory (the Python
heap: almost all of it is the code and classes of imported modules) and file-backed
pages (the interpreter, shared libraries such as libcrypto and libsqlite3).

The process runs with ``PYTHONVERBOSE``, so its log names every module it loaded, in
the order each finished. Those modules are then imported again, in that
order (the libraries before Ladda's own modules), in a fresh interpreter that reads its
RSS around each module's loading: the growth, less what the module's own imports added,
is charged to its library (the standard library as one). What the agent holds beyond
its imports (threads, the database, buffers, the allocator's slack) is the remainder.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from simulators.harness import Csms, Stack

MIB = 2**20
#: How long the agent idles after its boot before it is measured (as ``make bench`` does).
SETTLE_S = 3.0

_REPLAY = r"""
import importlib.abc, json, re, sys
def rss():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) * 1024
def group(name):
    top = name.split(".")[0]
    if top in ("agent", "drivers"):
        return "ladda " + top
    return "Python standard library" if top in sys.stdlib_module_names else top
charged, running = {}, []
class Measured(importlib.abc.Loader):
    # Charges each module what its own loading adds, less what the imports it makes add.
    def __init__(self, name, inner):
        self.name, self.inner = name, inner
    def __getattr__(self, attr):
        return getattr(self.inner, attr)
    def create_module(self, spec):
        running.append([rss(), 0])
        return self.inner.create_module(spec)
    def exec_module(self, module):
        try:
            self.inner.exec_module(module)
        finally:
            start, children = running.pop()
            total = rss() - start
            charged[group(self.name)] = charged.get(group(self.name), 0) + total - children
            if running:
                running[-1][1] += total
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        for finder in sys.meta_path[1:]:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = Measured(name, spec.loader)
                return spec
        return None
names = json.load(sys.stdin)
# The libraries first, then Ladda's own modules: an agent module that is the first to
# import a library must not be charged the library's import-time garbage.
names.sort(key=lambda name: group(name).startswith("ladda "))
start = rss()
sys.meta_path.insert(0, Finder())
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        continue  # an optional import the library tried and did without
print(json.dumps({"interpreter": start, "charged": charged}))
"""

@dataclass
class MemoryReport:
    rss: int
    anonymous: int
    file_backed: int
    threads: int
    modules: int
    interpreter: int  # the replaying interpreter's RSS before its first measured import
    by_library: dict[str, int] = field(default_factory=dict)

    @property
    def remainder(self) -> int:
        """What the running agent holds beyond its imports (an estimate: the order of
        loading changes how much the allocator keeps)."""
        return self.rss - self.interpreter - sum(self.by_library.values())


def imported_modules(log: str) -> list[str]:
    """The modules of the interpreter's verbose "import 'name' # loader" lines, in the
    order their loading finished."""
    return list(dict.fromkeys(re.findall(r"^import '([\w.]+)' # ", log, re.MULTILINE)))


def _rollup(pid: int) -> dict[str, int]:
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return fields


async def measure_memory(csms: Csms, root: Path, ocpp: dict[str, object] | None = None) -> MemoryReport:
    """Boot an agent on the wired bench, let it idle, and account for its RSS."""
    stack = Stack(root / "memory", csms, cp_id="BENCH-MEMORY", ocpp=dict(ocpp or {}),
                  agent_env={"PYTHONVERBOSE": "1"})
    await stack.start()
    try:
        await stack.wait_booted()
        assert stack.agent_process is not None and stack.agent_process.proc is not None
        proc = psutil.Process(stack.agent_process.proc.pid)
        await asyncio.sleep(SETTLE_S)
        rss = proc.memory_info().rss
        rollup = _rollup(proc.pid)
        threads = proc.num_threads()
    finally:
        await stack.stop()
    modules = imported_modules((stack.workdir / "agent.log").read_text())
    replay = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _REPLAY], input=json.dumps(modules), capture_output=True,
        text=True, check=True,
    )
    found = json.loads(replay.stdout)
    return MemoryReport(
        rss=rss, anonymous=rollup.get("Anonymous", 0), file_backed=rollup.get("Rss", rss) - rollup.get("Anonymous", 0),
        threads=threads, modules=len(modules), interpreter=found["interpreter"], by_library=found["charged"],
    )


def print_memory(report: MemoryReport, smallest: float = 0.1) -> None:
    """The breakdown as a Markdown table (libraries under ``smallest`` MiB summed up)."""
    print(f"Resident memory of the idle agent: {report.rss / MIB:.1f} MiB ({report.anonymous / MIB:.1f} anonymous, "
          f"{report.file_backed / MIB:.1f} file-backed), {report.threads} threads, {report.modules} modules imported:")
    print()
    print("| part | MiB |")
    print("|---|---|")
    print(f"| the interpreter with json, re and importlib loaded (the replay's start) | {report.interpreter / MIB:.1f} |")
    small = 0
    for name, size in sorted(report.by_library.items(), key=lambda item: -item[1]):
        if size / MIB < smallest:
            small += size
            continue
        print(f"| {name} | {size / MIB:.1f} |")
    print(f"| other libraries, each under {smallest:g} MiB | {small / MIB:.1f} |")
    print(f"| the running agent less its imports replayed (threads, database, buffers; below 0 when the replay "
          f"left more allocator slack than the agent, which returns it once ready) | {report.remainder / MIB:.1f} |")


async def _main() -> None:
    root = Path(tempfile.mkdtemp(prefix="ladda-memory-"))
    csms = Csms(root / "csms")
    await csms.start()
    try:
        report = await measure_memory(csms, root)
    finally:
        await csms.stop()
    print_memory(report)


if __name__ == "__main__":
    asyncio.run(_main())
