"""Every phrase the screen shows, per language, short enough for a 16-column line.

A phrase with a parameter (``{phone}``, ``{cost}``) is the only place a value goes in a
text, so each language can put it where its grammar wants it. Adding a language means
adding one table here and its code to ``agent.settings.screen.LANGUAGES`` (a test
checks that every language has every phrase, that each fits 16 columns, and that a
header fits 14: a display shared by two connectors puts the connector's number before it).
"""

from __future__ import annotations

from agent.settings.screen import LANGUAGES

#: The phrases, language by language; every table has the same keys.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "starting": "Starting...",
        "ready": "Ready to use",
        "tap_card": "Tap your card",
        "plug_in": "Plug in car",
        "authorizing": "Checking card",
        "wait": "Please wait",
        "accepted": "Card accepted",
        "refused": "Card refused",
        "why_unknown": "Unknown card",
        "why_expired": "Card expired",
        "why_blocked": "Card blocked",
        "why_offline": "Not when offline",
        "why_concurrent": "Already charging",
        "why_reserved": "Reserved",
        "why_none_free": "No outlet free",
        "why_other": "Not allowed",
        "charging": "Charging",
        "suspended_ev": "Car paused",
        "suspended_evse": "Limit: paused",
        "finished": "Finished",
        "unplug": "Please unplug",
        "cost": "Cost {cost}",
        "total": "Total {cost}",
        "time": "Time {time}",
        "move_car": "Move your car",
        "charge_done": "Charging done",
        "out_of_order": "Out of order",
        "call": "Call {phone}",
        "unavailable": "Not in service",
        "reserved": "Reserved",
        "offline": "Offline mode",
        "fault_ground": "Earth fault",
        "fault_switch": "Switch fault",
        "fault_reader": "Reader broken",
        "fault_ev": "Car link error",
        "fault_overcurrent": "Overcurrent",
        "fault_emergency": "Emergency stop",
        "fault_meter": "Meter fault",
        "fault_internal": "Internal error",
        "fault_lock": "Lock fault",
        "fault_heat": "Too hot",
        "fault_voltage": "Voltage fault",
        "fault_other": "Technical fault",
    },
    "de": {
        "starting": "Startet...",
        "ready": "Ladebereit",
        "tap_card": "Karte auflegen",
        "plug_in": "Auto anstecken",
        "authorizing": "Prüfe Karte",
        "wait": "Bitte warten",
        "accepted": "Karte gültig",
        "refused": "Abgelehnt",
        "why_unknown": "Karte unbekannt",
        "why_expired": "Karte abgelaufen",
        "why_blocked": "Karte gesperrt",
        "why_offline": "Offline gesperrt",
        "why_concurrent": "Lädt schon",
        "why_reserved": "Reserviert",
        "why_none_free": "Nichts frei",
        "why_other": "Nicht erlaubt",
        "charging": "Lädt",
        "suspended_ev": "Auto pausiert",
        "suspended_evse": "Pause: Limit",
        "finished": "Beendet",
        "unplug": "Bitte abstecken",
        "cost": "Kosten {cost}",
        "total": "Summe {cost}",
        "time": "Zeit {time}",
        "move_car": "Bitte umparken",
        "charge_done": "Laden beendet",
        "out_of_order": "Außer Betrieb",
        "call": "Tel. {phone}",
        "unavailable": "Außer Dienst",
        "reserved": "Reserviert",
        "offline": "Offline-Betrieb",
        "fault_ground": "Fehlerstrom",
        "fault_switch": "Schützfehler",
        "fault_reader": "Leser defekt",
        "fault_ev": "Fehler Fahrzeug",
        "fault_overcurrent": "Überstrom",
        "fault_emergency": "Not-Aus",
        "fault_meter": "Zählerfehler",
        "fault_internal": "Interner Fehler",
        "fault_lock": "Sperre defekt",
        "fault_heat": "Zu heiß",
        "fault_voltage": "Spannungsfehler",
        "fault_other": "Techn. Störung",
    },
    "fr": {
        "starting": "Démarrage...",
        "ready": "Prêt à charger",
        "tap_card": "Passez carte",
        "plug_in": "Branchez véh.",
        "authorizing": "Vérif. carte",
        "wait": "Patientez",
        "accepted": "Carte acceptée",
        "refused": "Carte refusée",
        "why_unknown": "Carte inconnue",
        "why_expired": "Carte expirée",
        "why_blocked": "Carte bloquée",
        "why_offline": "Refus hors ligne",
        "why_concurrent": "Déjà en charge",
        "why_reserved": "Réservé",
        "why_none_free": "Rien de libre",
        "why_other": "Non autorisé",
        "charging": "En charge",
        "suspended_ev": "Véh. en pause",
        "suspended_evse": "Pause: limite",
        "finished": "Terminé",
        "unplug": "Débranchez",
        "cost": "Coût {cost}",
        "total": "Total {cost}",
        "time": "Durée {time}",
        "move_car": "Libérez place",
        "charge_done": "Charge terminée",
        "out_of_order": "Hors service",
        "call": "Tél. {phone}",
        "unavailable": "Indisponible",
        "reserved": "Réservé",
        "offline": "Mode hors ligne",
        "fault_ground": "Défaut terre",
        "fault_switch": "Défaut contact.",
        "fault_reader": "Lecteur en panne",
        "fault_ev": "Erreur véhicule",
        "fault_overcurrent": "Surintensité",
        "fault_emergency": "Arrêt d'urgence",
        "fault_meter": "Défaut compteur",
        "fault_internal": "Erreur interne",
        "fault_lock": "Défaut verrou",
        "fault_heat": "Trop chaud",
        "fault_voltage": "Défaut tension",
        "fault_other": "Panne technique",
    },
    "sv": {
        "starting": "Startar...",
        "ready": "Redo att ladda",
        "tap_card": "Blippa kortet",
        "plug_in": "Anslut bilen",
        "authorizing": "Kontrollerar",
        "wait": "Vänta",
        "accepted": "Kort godkänt",
        "refused": "Kort nekat",
        "why_unknown": "Okänt kort",
        "why_expired": "Kort utgånget",
        "why_blocked": "Kort spärrat",
        "why_offline": "Nekas offline",
        "why_concurrent": "Laddar redan",
        "why_reserved": "Reserverad",
        "why_none_free": "Inget ledigt",
        "why_other": "Ej tillåtet",
        "charging": "Laddar",
        "suspended_ev": "Bilen pausar",
        "suspended_evse": "Paus: gräns",
        "finished": "Avslutad",
        "unplug": "Koppla ur",
        "cost": "Summa {cost}",
        "total": "Totalt {cost}",
        "time": "Tid {time}",
        "move_car": "Flytta bilen",
        "charge_done": "Laddning klar",
        "out_of_order": "Ur funktion",
        "call": "Ring {phone}",
        "unavailable": "Ej i drift",
        "reserved": "Reserverad",
        "offline": "Offlineläge",
        "fault_ground": "Jordfel",
        "fault_switch": "Kontaktorfel",
        "fault_reader": "Läsare trasig",
        "fault_ev": "Fel mot bilen",
        "fault_overcurrent": "Överström",
        "fault_emergency": "Nödstopp",
        "fault_meter": "Mätarfel",
        "fault_internal": "Internt fel",
        "fault_lock": "Låsfel",
        "fault_heat": "För varm",
        "fault_voltage": "Spänningsfel",
        "fault_other": "Tekniskt fel",
    },
}

#: The phrases that head a page: at most HEADER_COLUMNS long.
HEADERS = ("starting", "wait", "ready", "tap_card", "plug_in", "authorizing", "accepted", "refused", "charging",
           "suspended_ev", "suspended_evse", "finished", "move_car", "out_of_order", "unavailable", "reserved")
HEADER_COLUMNS = 14

#: OCPP error codes (1.6 ChargePointErrorCode, and the vendor codes the drivers use) as
#: the fault phrase a driver understands. An error code not listed here reads
#: "fault_other"; a vendor code is looked up first (EmergencyStop comes as OtherError).
FAULTS: dict[str, str] = {
    "GroundFailure": "fault_ground",
    "PowerSwitchFailure": "fault_switch",
    "ReaderFailure": "fault_reader",
    "EVCommunicationError": "fault_ev",
    "OverCurrentFailure": "fault_overcurrent",
    "EmergencyStop": "fault_emergency",
    "PowerMeterFailure": "fault_meter",
    "InternalError": "fault_internal",
    "ConnectorLockFailure": "fault_lock",
    "HighTemperature": "fault_heat",
    "OverVoltage": "fault_voltage",
    "UnderVoltage": "fault_voltage",
}

#: A refused card's reason (the CardRejected action's ``why``: an AuthStatus value, or
#: the machine's own words) as the phrase saying why. Anything else reads "why_other".
REFUSALS: dict[str, str] = {
    "Invalid": "why_unknown",
    "Expired": "why_expired",
    "Blocked": "why_blocked",
    "ConcurrentTx": "why_concurrent",
    "offline": "why_offline",
    "connector reserved": "why_reserved",
    "no connector free": "why_none_free",
    "connector no longer free": "why_none_free",
}


def say(language: str, key: str, **values: str) -> str:
    """The phrase ``key`` in ``language`` with ``values`` filled in. An unknown language
    is a programming error (the settings allow only :data:`LANGUAGES`)."""
    if language not in PHRASES:
        raise KeyError(f"no screen texts in language {language!r} (known: {', '.join(LANGUAGES)})")
    return PHRASES[language][key].format(**values)


def fault_key(error_code: str, vendor_error_code: str = "") -> str:
    """The phrase naming a fault: by its vendor code when it has words for it, else by
    the error code, else "fault_other"."""
    return FAULTS.get(vendor_error_code) or FAULTS.get(error_code) or "fault_other"


def refusal_key(why: str) -> str:
    """The phrase saying why a card was refused."""
    return REFUSALS.get(why, "why_other")
