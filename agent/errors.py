"""Helpers for errors that arrive wrapped in (possibly nested) exception groups.

TaskGroups wrap whatever ended a task; callers that must react to one particular
failure (a reset, a refused handshake, an unusable state directory) look at the leaves.
"""

from __future__ import annotations


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (possibly nested) exception groups, or the error itself."""
    inner = getattr(error, "exceptions", None)
    if inner is None:
        return [error]
    return [leaf for e in inner for leaf in leaves(e)]
