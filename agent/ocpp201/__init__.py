"""The OCPP 2.0.1 adapter: the charger's core spoken to a 2.0.1 backend."""

from ..charger import ProtocolRules

#: What 2.0.1 asks of the core beyond 1.6: TransactionEvents report charging state
#: changes (so they are journaled), a station may hold several reservations without an
#: EVSE as long as each keeps an EVSE free (H01, TC_H_14_CS), and the Started event
#: carries the measurands SampledDataCtrlr.TxStartedMeasurands names (J02). A transaction
#: may begin at an EV plugged in or a token authorized alone (TxStartPoint, E01) and end
#: with its energy transfer (TxStopPoint, E06); one kept open without its EV shows its
#: connector Available and ends after EVConnectionTimeOut (E10.FR.02, TC_E_27_CS).
CORE_RULES = ProtocolRules(journal_charging_states=True, several_wide_reservations=True,
                           start_measurands="SampledDataCtrlr.TxStartedMeasurands",
                           start_points="TxCtrlr.TxStartPoint", stop_points="TxCtrlr.TxStopPoint",
                           ev_away_timeout=True, ev_away_available=True)
