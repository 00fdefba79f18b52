"""A test OCPP 1.6J backend (CSMS) with a message log and a transaction ledger.

Run it with ``ladda-sim csms`` or ``python -m simulators.csms``; drive it over its control
channel (docs/csms.md).
"""

from simulators.csms.ledger import MessageLog, TransactionLedger
from simulators.csms.server import Csms, CsmsError, Policy

__all__ = ["Csms", "CsmsError", "MessageLog", "Policy", "TransactionLedger"]
