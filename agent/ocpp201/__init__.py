"""The OCPP 2.0.1 adapter: the charger's core spoken to a 2.0.1 backend."""

from ..charger import ProtocolRules

#: What 2.0.1 asks of the core beyond 1.6: TransactionEvents report charging state
#: changes (so they are journaled), and a station may hold several reservations without
#: an EVSE as long as each keeps an EVSE free (H01, TC_H_14_CS).
CORE_RULES = ProtocolRules(journal_charging_states=True, several_wide_reservations=True)
