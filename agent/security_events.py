"""The security events the specifications name, in one place: their names in each
protocol and which of them a backend must be told.

OCPP 2.0.1 (Part 2, Appendices, "Security events") and the OCPP 1.6 Security whitepaper
(edition 3, section "Security events") list the same events; four of them are spelled
differently in 1.6 (Central System for CSMS, Charge Point for Charging Station). The
agent records an event under its 2.0.1 name (the neutral one: the journal and the
security log use it whatever the protocol) and the 1.6 adapter spells it the
whitepaper's way on the wire.

Every event goes to the security log (``agent/security_log.py``). Only the *critical*
ones are queued for the backend (SecurityEventNotification): the 2.0.1 appendix's
critical list. The whitepaper marks fewer as critical, but its own test cases expect the
certificate and firmware events pushed too (TC_078_CS: InvalidCentralSystemCertificate),
so one list serves both protocols. The lists are open: an event not named here (such as
``SettingSystemTimeRefused``, see agent/clock.py) is logged and sent as it is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One named event: its 2.0.1 name, its 1.6 name and whether a backend is told."""

    name: str
    critical: bool
    v16: str = ""

    @property
    def name16(self) -> str:
        return self.v16 or self.name


FIRMWARE_UPDATED = "FirmwareUpdated"
FAILED_TO_AUTHENTICATE_AT_CSMS = "FailedToAuthenticateAtCsms"
CSMS_FAILED_TO_AUTHENTICATE = "CsmsFailedToAuthenticate"
SETTING_SYSTEM_TIME = "SettingSystemTime"
STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
RESET_OR_REBOOT = "ResetOrReboot"
SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
MEMORY_EXHAUSTION = "MemoryExhaustion"
INVALID_MESSAGES = "InvalidMessages"
ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
INVALID_CSMS_CERTIFICATE = "InvalidCsmsCertificate"
INVALID_CHARGING_STATION_CERTIFICATE = "InvalidChargingStationCertificate"
INVALID_TLS_VERSION = "InvalidTLSVersion"
INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"

CATALOGUE: dict[str, SecurityEvent] = {
    event.name: event
    for event in (
        SecurityEvent(FIRMWARE_UPDATED, True),
        SecurityEvent(FAILED_TO_AUTHENTICATE_AT_CSMS, False, "FailedToAuthenticateAtCentralSystem"),
        SecurityEvent(CSMS_FAILED_TO_AUTHENTICATE, False, "CentralSystemFailedToAuthenticate"),
        SecurityEvent(SETTING_SYSTEM_TIME, True),
        SecurityEvent(STARTUP_OF_THE_DEVICE, True),
        SecurityEvent(RESET_OR_REBOOT, True),
        SecurityEvent(SECURITY_LOG_WAS_CLEARED, True),
        SecurityEvent(RECONFIGURATION_OF_SECURITY_PARAMETERS, False),
        SecurityEvent(MEMORY_EXHAUSTION, True),
        SecurityEvent(INVALID_MESSAGES, False),
        SecurityEvent(ATTEMPTED_REPLAY_ATTACKS, False),
        SecurityEvent(TAMPER_DETECTION_ACTIVATED, True),
        SecurityEvent(INVALID_FIRMWARE_SIGNATURE, True),
        SecurityEvent(INVALID_FIRMWARE_SIGNING_CERTIFICATE, True),
        SecurityEvent(INVALID_CSMS_CERTIFICATE, True, "InvalidCentralSystemCertificate"),
        SecurityEvent(INVALID_CHARGING_STATION_CERTIFICATE, True, "InvalidChargePointCertificate"),
        SecurityEvent(INVALID_TLS_VERSION, True),
        SecurityEvent(INVALID_TLS_CIPHER_SUITE, True),
    )
}
#: The whitepaper's spellings, back to the neutral names (a caller may use either).
_FROM_16 = {event.v16: event.name for event in CATALOGUE.values() if event.v16}


def canonical(kind: str) -> str:
    """The neutral (2.0.1) name of an event given in either protocol's spelling."""
    return _FROM_16.get(kind, kind)


def spelled_16(kind: str) -> str:
    """The name the OCPP 1.6 whitepaper gives the event (others unchanged)."""
    event = CATALOGUE.get(kind)
    return kind if event is None else event.name16


def sent_to_backend(kind: str) -> bool:
    """Whether the backend is told (SecurityEventNotification): the critical events and
    any the specifications do not name (whoever raised one meant it to be seen)."""
    event = CATALOGUE.get(kind)
    return event is None or event.critical
