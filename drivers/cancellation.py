"""A cancellation that Python 3.11's ``asyncio.wait_for`` swallowed, raised again.

On 3.11 ``wait_for`` returns the result when its awaitable finishes in the same loop
iteration as a cancellation of the waiting task, and the cancellation is lost:
``task.cancelling()`` stays raised but no CancelledError ever comes. Libraries that wait
with it (pymodbus for every Modbus reply, the ``ocpp`` library for every answer) then
hand the caller a result instead, and a loop that goes on polling holds up its
TaskGroup, and the agent's orderly stop, for good. Call this right after such a call.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop and has not noticed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()
