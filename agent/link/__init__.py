"""What both OCPP adapters stand on: OCPP-J framing that no backend frame can knock over.

``frames`` parses a websocket message into a CALL, CALLRESULT or CALLERROR, or into the
CALLERROR that must answer it; ``dialect`` spells the error codes and names the actions
of one OCPP version; ``schema`` checks a payload against the version's JSON schemas and
says which constraint failed without ever quoting a value; ``throttle`` keeps bad input
from flooding the log; ``rpc`` is the endpoint of one connection (answering calls,
matching answers to the charger's own calls). Nothing here knows what an action means.
"""
