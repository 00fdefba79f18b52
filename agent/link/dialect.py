"""How one OCPP version spells the RPC framework's errors, and which actions it defines.

The framing speaks of error *kinds*; OCPP-J 1.6 and 2.0.1 spell some of them
differently (FormationViolation / FormatViolation, OccurenceConstraintViolation with the
1.6 spec's own typo / OccurrenceConstraintViolation) and 2.0.1 has kinds 1.6 lacks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ErrorKind(enum.Enum):
    NOT_IMPLEMENTED = "not implemented"
    NOT_SUPPORTED = "not supported"
    INTERNAL = "internal"
    PROTOCOL = "protocol"
    SECURITY = "security"
    FORMAT = "format"
    PROPERTY = "property"
    OCCURRENCE = "occurrence"
    MISSING = "missing"  # a required field: 1.6's ProtocolError ("incomplete"), 2.0.1's occurrence
    TYPE = "type"
    GENERIC = "generic"
    MESSAGE_TYPE = "message type"  # 2.0.1 MessageTypeNotSupported; a format error in 1.6
    RPC_FRAMEWORK = "rpc framework"  # 2.0.1 RpcFrameworkError; a format error in 1.6


@dataclass(frozen=True)
class Dialect:
    """One OCPP version's spelling of the RPC framework."""

    version: str  # as the ocpp library names its schema folders: "1.6", "2.0.1"
    codes: dict[ErrorKind, str]
    descriptions: dict[str, str]
    #: Every action the version defines (either direction): the rest are NotImplemented.
    actions: frozenset[str] = field(default_factory=frozenset)

    def code(self, kind: ErrorKind) -> str:
        return self.codes[kind]

    def kind_of(self, code: str) -> ErrorKind:
        """The kind an error code names, in this version's spelling or the other's."""
        for table in (self.codes, _V16_CODES, _V201_CODES):
            for kind, spelled in table.items():
                if spelled == code:
                    return kind
        return ErrorKind.GENERIC

    def description(self, code: str) -> str:
        return self.descriptions.get(code, "")

    def defined_code(self, code: object) -> str | None:
        """``code`` when this version defines it as a CALLERROR code, else None."""
        return code if isinstance(code, str) and code in self.descriptions else None


# OCPP-J 1.6, section 4.2.3 (spelling and descriptions as the specification gives them).
_V16_DESCRIPTIONS = {
    "NotImplemented": "Requested Action is not known by receiver",
    "NotSupported": "Requested Action is recognized but not supported by the receiver",
    "InternalError": "An internal error occurred and the receiver was not able to process the requested Action "
                     "successfully",
    "ProtocolError": "Payload for Action is incomplete",
    "SecurityError": "During the processing of Action a security issue occurred preventing receiver from "
                     "completing the Action successfully",
    "FormationViolation": "Payload for Action is syntactically incorrect or not conform the PDU structure for Action",
    "PropertyConstraintViolation": "Payload is syntactically correct but at least one field contains an invalid value",
    "OccurenceConstraintViolation": "Payload for Action is syntactically correct but at least one of the fields "
                                    "violates occurence constraints",
    "TypeConstraintViolation": "Payload for Action is syntactically correct but at least one of the fields violates "
                               "data type constraints",
    "GenericError": "Any other error not covered by the previous ones",
}

_V16_CODES = {
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.NOT_SUPPORTED: "NotSupported",
    ErrorKind.INTERNAL: "InternalError",
    ErrorKind.PROTOCOL: "ProtocolError",
    ErrorKind.SECURITY: "SecurityError",
    ErrorKind.FORMAT: "FormationViolation",
    ErrorKind.PROPERTY: "PropertyConstraintViolation",
    ErrorKind.OCCURRENCE: "OccurenceConstraintViolation",
    ErrorKind.MISSING: "ProtocolError",
    ErrorKind.TYPE: "TypeConstraintViolation",
    ErrorKind.GENERIC: "GenericError",
    ErrorKind.MESSAGE_TYPE: "FormationViolation",
    ErrorKind.RPC_FRAMEWORK: "FormationViolation",
}

# OCPP-J 2.0.1 (part 4, section 4.3).
_V201_DESCRIPTIONS = {
    "FormatViolation": "Payload for Action is syntactically incorrect",
    "GenericError": "Any other error not covered by the more specific error codes",
    "InternalError": "An internal error occurred and the receiver was not able to process the requested Action "
                     "successfully",
    "MessageTypeNotSupported": "A message with a Message Type Number received that is not supported by this "
                               "implementation",
    "NotImplemented": "Requested Action is not known by receiver",
    "NotSupported": "Requested Action is recognized but not supported by the receiver",
    "OccurrenceConstraintViolation": "Payload for Action is syntactically correct but at least one of the fields "
                                     "violates occurrence constraints",
    "PropertyConstraintViolation": "Payload is syntactically correct but at least one field contains an invalid value",
    "ProtocolError": "Payload for Action is not conform the PDU structure",
    "RpcFrameworkError": "Content of the call is not a valid RPC Request, for example: MessageId could not be read",
    "SecurityError": "During the processing of Action a security issue occurred preventing receiver from "
                     "completing the Action successfully",
    "TypeConstraintViolation": "Payload for Action is syntactically correct but at least one of the fields violates "
                               "data type constraints",
}

_V201_CODES = {
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.NOT_SUPPORTED: "NotSupported",
    ErrorKind.INTERNAL: "InternalError",
    ErrorKind.PROTOCOL: "ProtocolError",
    ErrorKind.SECURITY: "SecurityError",
    ErrorKind.FORMAT: "FormatViolation",
    ErrorKind.PROPERTY: "PropertyConstraintViolation",
    ErrorKind.OCCURRENCE: "OccurrenceConstraintViolation",
    ErrorKind.MISSING: "OccurrenceConstraintViolation",
    ErrorKind.TYPE: "TypeConstraintViolation",
    ErrorKind.GENERIC: "GenericError",
    ErrorKind.MESSAGE_TYPE: "MessageTypeNotSupported",
    ErrorKind.RPC_FRAMEWORK: "RpcFrameworkError",
}


def v16(actions: frozenset[str]) -> Dialect:
    return Dialect("1.6", _V16_CODES, _V16_DESCRIPTIONS, actions)


def v201(actions: frozenset[str]) -> Dialect:
    return Dialect("2.0.1", _V201_CODES, _V201_DESCRIPTIONS, actions)
