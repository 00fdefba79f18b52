"""The power-cut campaign: what a charger's state directory holds after the supply fails.

A SIGKILL loses nothing a process wrote (the kernel's page cache survives it); a power
cut loses every write that was not made durable with fsync/fdatasync. Here the agent
runs with an LD_PRELOAD shim (``shim.c``, built by :mod:`.build`) that records every
write, sync, rename and unlink under its state directory (:mod:`.trace`); at a cut the
agent is SIGKILLed and the directory is rebuilt as the cut would leave it
(:mod:`.image`); :mod:`.journal` checks the rebuilt journal, :mod:`.policy` audits
the backend's ledger against the window of meter samples a cut may lose, and
:mod:`.campaign` drives the whole (``python -m simulators.powercut``).
"""
