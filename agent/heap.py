"""Hand memory freed during start-up back to the system.

Start-up (imports, reading the configuration, opening the hardware) frees much of what
it allocates, but glibc's allocator keeps freed pages of its heap for reuse unless they
sit at its very top: they stay resident for the life of the process. A charger runs for
months on a board with little memory, so once it is ready the agent collects garbage
and asks the C library to return every free page (``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import gc


def release_freed() -> bool:
    """Collect garbage and return free heap pages to the system; False where the C
    library has no ``malloc_trim`` (not glibc)."""
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True
