"""A test OCPP 1.6J and 2.0.1 backend (CSMS) with a message log, a transaction ledger
and a count of schema violations per charge point.

Run it with ``ladda-sim csms`` or ``python -m simulators.csms``; drive it over its control
channel (docs/csms.md).
"""

from simulators.csms.ledger import MessageLog, TransactionLedger
from simulators.csms.ledger201 import TransactionLedger201
from simulators.csms.policy import Policy
from simulators.csms.server import Csms, CsmsError

__all__ = ["Csms", "CsmsError", "MessageLog", "Policy", "TransactionLedger", "TransactionLedger201"]
