"""Reading the bench's display as a driver does, for the 2.0.1 end-to-end tests.

The wired bench carries a 20x4 display; a charger with two connectors gives each two
rows (connector 1 the top two, connector 2 the bottom two), one with one connector all
four. The screen turns pages on its own clock, so a text is looked for over a while
(:func:`wait_rows`) and an absence is checked over at least one whole cycle of pages
(:func:`watch`, then :func:`seen`). Times are the wall clock's, the one a message's
start and end times are read on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from simulators.harness import Stack

#: ``[screen]`` for the modules that read the display: pages turn every 2 s, so a cycle
#: of a few pages is read in seconds (the redraw runs every second: no page is skipped).
FAST_PAGES = {"screen": {"language_seconds": 2}}
#: Sampling period while watching the display.
EVERY_S = 0.2

Sample = tuple[datetime, list[str]]


async def rows(stack: Stack, connector: int | None = None, connectors: int = 2) -> list[str]:
    """The display's rows now; with ``connector``, only that connector's share."""
    lines = await stack.screen()
    lines += [""] * (4 - len(lines))
    if connector is None:
        return lines
    share = 4 // connectors
    return lines[(connector - 1) * share:connector * share]


def _has(lines: list[str], text: str) -> bool:
    return any(text in line for line in lines)


async def wait_rows(stack: Stack, text: str, connector: int | None = None, timeout: float = 15.0,
                    connectors: int = 2) -> datetime:
    """Wait until ``text`` is in a row (of ``connector``); when it was first seen."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    last: list[str] = []
    while datetime.now(UTC) < deadline:
        last = await rows(stack, connector, connectors)
        if _has(last, text):
            return datetime.now(UTC)
        await asyncio.sleep(EVERY_S / 2)
    raise AssertionError(f"{text!r} never shown (connector {connector}) in {timeout} s; the screen: {last}")


async def watch(stack: Stack, seconds: float, until: str | None = None) -> list[Sample]:
    """The whole display every EVERY_S for ``seconds`` (or until ``until`` is on it)."""
    samples: list[Sample] = []
    end = datetime.now(UTC) + timedelta(seconds=seconds)
    while datetime.now(UTC) < end:
        lines = await rows(stack)
        samples.append((datetime.now(UTC), lines))
        if until is not None and _has(lines, until):
            break
        await asyncio.sleep(EVERY_S)
    return samples


def seen(samples: list[Sample], text: str, connector: int | None = None, connectors: int = 2,
         after: datetime | None = None, before: datetime | None = None) -> bool:
    """Whether ``text`` was on the display (on ``connector``'s rows) in any sample taken
    between ``after`` and ``before``."""
    share = 4 // connectors
    for moment, lines in samples:
        if (after is not None and moment < after) or (before is not None and moment > before):
            continue
        mine = lines if connector is None else lines[(connector - 1) * share:connector * share]
        if _has(mine, text):
            return True
    return False
