"""The pure charging-session state machine and its vocabulary."""

from .machine import derive_charger_status, derive_status, step
from .model import *  # noqa: F401,F403  (the vocabulary is the package's API)

__all__ = ["step", "derive_status", "derive_charger_status"]
