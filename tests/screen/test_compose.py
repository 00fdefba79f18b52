"""The screen's pages for every step of a session, in every language, on 16x2 and 20x4.

The table is the screen a driver reads, written out: each entry is the whole cycle of
pages of one connector (the time picks one of them every ``page_s`` seconds).
"""

from __future__ import annotations


import pytest

from agent.screen import DriverMessage
from agent.screen.compose import CardStep, Layout, View, compose, cycle, duration, main_text

PRICE, PHONE = "0.35 EUR/kWh", "+46 8 123 45"
RUNNING = dict(plugged=True, energy_kwh=12.345, cost="4.32 EUR", session_s=3900)
ENDED = dict(plugged=True, energy_kwh=20.5, cost="7.18 EUR", session_s=7260)
#: Each step of a session as the screen sees it, and whether the backend is offline.
STEPS: dict[str, tuple[View, bool]] = {
    "ready": (View(1, "Available"), False),
    "ready offline": (View(1, "Available"), True),
    "card reader broken": (View(1, "Available", error_code="ReaderFailure"), False),
    "plugged in": (View(1, "Preparing", plugged=True), False),
    "authorizing": (View(1, "Available", card=CardStep("asking")), False),
    "accepted": (View(1, "Preparing", card=CardStep("accepted")), False),
    "refused unknown": (View(1, "Available", card=CardStep("refused", "Invalid")), False),
    "refused expired": (View(1, "Available", card=CardStep("refused", "Expired")), False),
    "refused blocked": (View(1, "Available", card=CardStep("refused", "Blocked")), False),
    "refused offline": (View(1, "Available", card=CardStep("refused", "offline")), True),
    "waiting for the car": (View(1, "Preparing", plugged=True, running=True, energy_kwh=0.0, session_s=30), False),
    "car stopped drawing (EVConnected)": (View(1, "Preparing", running=True, **RUNNING), False),  # type: ignore[arg-type]
    "charging": (View(1, "Charging", power_kw=7.4, **RUNNING), False),  # type: ignore[arg-type]
    "suspended by car": (View(1, "SuspendedEV", **RUNNING), False),  # type: ignore[arg-type]
    "suspended by limit": (View(1, "SuspendedEVSE", **RUNNING), False),  # type: ignore[arg-type]
    "finished": (View(1, "Finishing", finished=True, **ENDED), False),  # type: ignore[arg-type]
    "fault ground": (View(1, "Faulted", error_code="GroundFailure"), False),
    "fault emergency stop": (View(1, "Faulted", error_code="OtherError", vendor_error_code="EmergencyStop"), False),
    "fault meter": (View(1, "Faulted", error_code="PowerMeterFailure"), False),
    "unavailable": (View(1, "Unavailable"), False),
    "move car": (View(1, "SuspendedEV", idle_alert=True, **ENDED), False),  # type: ignore[arg-type]
}
EXPECTED: dict[tuple[str, str, tuple[int, int]], list[list[str]]] = {
    ('ready', 'en', (16, 2)): [['Ready to use', '0.35 EUR/kWh'], ['Ready to use', 'Tap your card']],
    ('ready offline', 'en', (16, 2)): [['Ready to use', '0.35 EUR/kWh'], ['Ready to use', 'Tap your card'], ['Ready to use', 'Offline mode']],
    ('card reader broken', 'en', (16, 2)): [['Ready to use', '0.35 EUR/kWh'], ['Ready to use', 'Reader broken']],
    ('plugged in', 'en', (16, 2)): [['Tap your card', '0.35 EUR/kWh']],
    ('authorizing', 'en', (16, 2)): [['Checking card', 'Please wait']],
    ('accepted', 'en', (16, 2)): [['Card accepted', 'Plug in car']],
    ('refused unknown', 'en', (16, 2)): [['Card refused', 'Unknown card']],
    ('refused expired', 'en', (16, 2)): [['Card refused', 'Card expired']],
    ('refused blocked', 'en', (16, 2)): [['Card refused', 'Card blocked']],
    ('refused offline', 'en', (16, 2)): [['Card refused', 'Not when offline']],
    ('waiting for the car', 'en', (16, 2)): [['Please wait', '0.00 kWh'], ['Please wait', 'Time 0:00 h']],
    ('car stopped drawing (EVConnected)', 'en', (16, 2)): [['Car paused', '12.35 kWh'], ['Car paused', 'Cost 4.32 EUR'], ['Car paused', 'Time 1:05 h']],
    ('charging', 'en', (16, 2)): [['Charging', '7.4 kW 12.35 kWh'], ['Charging', 'Cost 4.32 EUR'], ['Charging', 'Time 1:05 h']],
    ('suspended by car', 'en', (16, 2)): [['Car paused', '12.35 kWh'], ['Car paused', 'Cost 4.32 EUR'], ['Car paused', 'Time 1:05 h']],
    ('suspended by limit', 'en', (16, 2)): [['Limit: paused', '12.35 kWh'], ['Limit: paused', 'Cost 4.32 EUR'], ['Limit: paused', 'Time 1:05 h']],
    ('finished', 'en', (16, 2)): [['Finished', '20.50 kWh'], ['Finished', 'Total 7.18 EUR'], ['Finished', 'Time 2:01 h'], ['Finished', 'Please unplug']],
    ('fault ground', 'en', (16, 2)): [['Out of order', 'Earth fault'], ['Out of order', '+46 8 123 45']],
    ('fault emergency stop', 'en', (16, 2)): [['Out of order', 'Emergency stop'], ['Out of order', '+46 8 123 45']],
    ('fault meter', 'en', (16, 2)): [['Out of order', 'Meter fault'], ['Out of order', '+46 8 123 45']],
    ('unavailable', 'en', (16, 2)): [['Not in service', '+46 8 123 45']],
    ('move car', 'en', (16, 2)): [['Move your car', 'Charging done'], ['Move your car', '20.50 kWh'], ['Move your car', 'Cost 7.18 EUR'], ['Move your car', 'Time 2:01 h']],
    ('ready', 'de', (16, 2)): [['Ladebereit', '0,35 EUR/kWh'], ['Ladebereit', 'Karte auflegen']],
    ('ready offline', 'de', (16, 2)): [['Ladebereit', '0,35 EUR/kWh'], ['Ladebereit', 'Karte auflegen'], ['Ladebereit', 'Offline-Betrieb']],
    ('card reader broken', 'de', (16, 2)): [['Ladebereit', '0,35 EUR/kWh'], ['Ladebereit', 'Leser defekt']],
    ('plugged in', 'de', (16, 2)): [['Karte auflegen', '0,35 EUR/kWh']],
    ('authorizing', 'de', (16, 2)): [['Prüfe Karte', 'Bitte warten']],
    ('accepted', 'de', (16, 2)): [['Karte gültig', 'Auto anstecken']],
    ('refused unknown', 'de', (16, 2)): [['Abgelehnt', 'Karte unbekannt']],
    ('refused expired', 'de', (16, 2)): [['Abgelehnt', 'Karte abgelaufen']],
    ('refused blocked', 'de', (16, 2)): [['Abgelehnt', 'Karte gesperrt']],
    ('refused offline', 'de', (16, 2)): [['Abgelehnt', 'Offline gesperrt']],
    ('waiting for the car', 'de', (16, 2)): [['Bitte warten', '0,00 kWh'], ['Bitte warten', 'Zeit 0:00 h']],
    ('car stopped drawing (EVConnected)', 'de', (16, 2)): [['Auto pausiert', '12,35 kWh'], ['Auto pausiert', 'Kosten 4,32 EUR'], ['Auto pausiert', 'Zeit 1:05 h']],
    ('charging', 'de', (16, 2)): [['Lädt', '7,4 kW 12,35 kWh'], ['Lädt', 'Kosten 4,32 EUR'], ['Lädt', 'Zeit 1:05 h']],
    ('suspended by car', 'de', (16, 2)): [['Auto pausiert', '12,35 kWh'], ['Auto pausiert', 'Kosten 4,32 EUR'], ['Auto pausiert', 'Zeit 1:05 h']],
    ('suspended by limit', 'de', (16, 2)): [['Pause: Limit', '12,35 kWh'], ['Pause: Limit', 'Kosten 4,32 EUR'], ['Pause: Limit', 'Zeit 1:05 h']],
    ('finished', 'de', (16, 2)): [['Beendet', '20,50 kWh'], ['Beendet', 'Summe 7,18 EUR'], ['Beendet', 'Zeit 2:01 h'], ['Beendet', 'Bitte abstecken']],
    ('fault ground', 'de', (16, 2)): [['Außer Betrieb', 'Fehlerstrom'], ['Außer Betrieb', '+46 8 123 45']],
    ('fault emergency stop', 'de', (16, 2)): [['Außer Betrieb', 'Not-Aus'], ['Außer Betrieb', '+46 8 123 45']],
    ('fault meter', 'de', (16, 2)): [['Außer Betrieb', 'Zählerfehler'], ['Außer Betrieb', '+46 8 123 45']],
    ('unavailable', 'de', (16, 2)): [['Außer Dienst', '+46 8 123 45']],
    ('move car', 'de', (16, 2)): [['Bitte umparken', 'Laden beendet'], ['Bitte umparken', '20,50 kWh'], ['Bitte umparken', 'Kosten 7,18 EUR'], ['Bitte umparken', 'Zeit 2:01 h']],
    ('ready', 'fr', (16, 2)): [['Prêt à charger', '0,35 EUR/kWh'], ['Prêt à charger', 'Passez carte']],
    ('ready offline', 'fr', (16, 2)): [['Prêt à charger', '0,35 EUR/kWh'], ['Prêt à charger', 'Passez carte'], ['Prêt à charger', 'Mode hors ligne']],
    ('card reader broken', 'fr', (16, 2)): [['Prêt à charger', '0,35 EUR/kWh'], ['Prêt à charger', 'Lecteur en panne']],
    ('plugged in', 'fr', (16, 2)): [['Passez carte', '0,35 EUR/kWh']],
    ('authorizing', 'fr', (16, 2)): [['Vérif. carte', 'Patientez']],
    ('accepted', 'fr', (16, 2)): [['Carte acceptée', 'Branchez véh.']],
    ('refused unknown', 'fr', (16, 2)): [['Carte refusée', 'Carte inconnue']],
    ('refused expired', 'fr', (16, 2)): [['Carte refusée', 'Carte expirée']],
    ('refused blocked', 'fr', (16, 2)): [['Carte refusée', 'Carte bloquée']],
    ('refused offline', 'fr', (16, 2)): [['Carte refusée', 'Refus hors ligne']],
    ('waiting for the car', 'fr', (16, 2)): [['Patientez', '0,00 kWh'], ['Patientez', 'Durée 0:00 h']],
    ('car stopped drawing (EVConnected)', 'fr', (16, 2)): [['Véh. en pause', '12,35 kWh'], ['Véh. en pause', 'Coût 4,32 EUR'], ['Véh. en pause', 'Durée 1:05 h']],
    ('charging', 'fr', (16, 2)): [['En charge', '7,4 kW 12,35 kWh'], ['En charge', 'Coût 4,32 EUR'], ['En charge', 'Durée 1:05 h']],
    ('suspended by car', 'fr', (16, 2)): [['Véh. en pause', '12,35 kWh'], ['Véh. en pause', 'Coût 4,32 EUR'], ['Véh. en pause', 'Durée 1:05 h']],
    ('suspended by limit', 'fr', (16, 2)): [['Pause: limite', '12,35 kWh'], ['Pause: limite', 'Coût 4,32 EUR'], ['Pause: limite', 'Durée 1:05 h']],
    ('finished', 'fr', (16, 2)): [['Terminé', '20,50 kWh'], ['Terminé', 'Total 7,18 EUR'], ['Terminé', 'Durée 2:01 h'], ['Terminé', 'Débranchez']],
    ('fault ground', 'fr', (16, 2)): [['Hors service', 'Défaut terre'], ['Hors service', '+46 8 123 45']],
    ('fault emergency stop', 'fr', (16, 2)): [['Hors service', "Arrêt d'urgence"], ['Hors service', '+46 8 123 45']],
    ('fault meter', 'fr', (16, 2)): [['Hors service', 'Défaut compteur'], ['Hors service', '+46 8 123 45']],
    ('unavailable', 'fr', (16, 2)): [['Indisponible', '+46 8 123 45']],
    ('move car', 'fr', (16, 2)): [['Libérez place', 'Charge terminée'], ['Libérez place', '20,50 kWh'], ['Libérez place', 'Coût 7,18 EUR'], ['Libérez place', 'Durée 2:01 h']],
    ('ready', 'sv', (16, 2)): [['Redo att ladda', '0,35 EUR/kWh'], ['Redo att ladda', 'Blippa kortet']],
    ('ready offline', 'sv', (16, 2)): [['Redo att ladda', '0,35 EUR/kWh'], ['Redo att ladda', 'Blippa kortet'], ['Redo att ladda', 'Offlineläge']],
    ('card reader broken', 'sv', (16, 2)): [['Redo att ladda', '0,35 EUR/kWh'], ['Redo att ladda', 'Läsare trasig']],
    ('plugged in', 'sv', (16, 2)): [['Blippa kortet', '0,35 EUR/kWh']],
    ('authorizing', 'sv', (16, 2)): [['Kontrollerar', 'Vänta']],
    ('accepted', 'sv', (16, 2)): [['Kort godkänt', 'Anslut bilen']],
    ('refused unknown', 'sv', (16, 2)): [['Kort nekat', 'Okänt kort']],
    ('refused expired', 'sv', (16, 2)): [['Kort nekat', 'Kort utgånget']],
    ('refused blocked', 'sv', (16, 2)): [['Kort nekat', 'Kort spärrat']],
    ('refused offline', 'sv', (16, 2)): [['Kort nekat', 'Nekas offline']],
    ('waiting for the car', 'sv', (16, 2)): [['Vänta', '0,00 kWh'], ['Vänta', 'Tid 0:00 h']],
    ('car stopped drawing (EVConnected)', 'sv', (16, 2)): [['Bilen pausar', '12,35 kWh'], ['Bilen pausar', 'Summa 4,32 EUR'], ['Bilen pausar', 'Tid 1:05 h']],
    ('charging', 'sv', (16, 2)): [['Laddar', '7,4 kW 12,35 kWh'], ['Laddar', 'Summa 4,32 EUR'], ['Laddar', 'Tid 1:05 h']],
    ('suspended by car', 'sv', (16, 2)): [['Bilen pausar', '12,35 kWh'], ['Bilen pausar', 'Summa 4,32 EUR'], ['Bilen pausar', 'Tid 1:05 h']],
    ('suspended by limit', 'sv', (16, 2)): [['Paus: gräns', '12,35 kWh'], ['Paus: gräns', 'Summa 4,32 EUR'], ['Paus: gräns', 'Tid 1:05 h']],
    ('finished', 'sv', (16, 2)): [['Avslutad', '20,50 kWh'], ['Avslutad', 'Totalt 7,18 EUR'], ['Avslutad', 'Tid 2:01 h'], ['Avslutad', 'Koppla ur']],
    ('fault ground', 'sv', (16, 2)): [['Ur funktion', 'Jordfel'], ['Ur funktion', '+46 8 123 45']],
    ('fault emergency stop', 'sv', (16, 2)): [['Ur funktion', 'Nödstopp'], ['Ur funktion', '+46 8 123 45']],
    ('fault meter', 'sv', (16, 2)): [['Ur funktion', 'Mätarfel'], ['Ur funktion', '+46 8 123 45']],
    ('unavailable', 'sv', (16, 2)): [['Ej i drift', '+46 8 123 45']],
    ('move car', 'sv', (16, 2)): [['Flytta bilen', 'Laddning klar'], ['Flytta bilen', '20,50 kWh'], ['Flytta bilen', 'Summa 7,18 EUR'], ['Flytta bilen', 'Tid 2:01 h']],
    ('ready', 'en', (20, 4)): [['Ready to use', '0.35 EUR/kWh', 'Tap your card', '']],
    ('ready offline', 'en', (20, 4)): [['Ready to use', '0.35 EUR/kWh', 'Tap your card', 'Offline mode']],
    ('card reader broken', 'en', (20, 4)): [['Ready to use', '0.35 EUR/kWh', 'Reader broken', '']],
    ('plugged in', 'en', (20, 4)): [['Tap your card', '0.35 EUR/kWh', '', '']],
    ('authorizing', 'en', (20, 4)): [['Checking card', 'Please wait', '', '']],
    ('accepted', 'en', (20, 4)): [['Card accepted', 'Plug in car', '', '']],
    ('refused unknown', 'en', (20, 4)): [['Card refused', 'Unknown card', '', '']],
    ('refused expired', 'en', (20, 4)): [['Card refused', 'Card expired', '', '']],
    ('refused blocked', 'en', (20, 4)): [['Card refused', 'Card blocked', '', '']],
    ('refused offline', 'en', (20, 4)): [['Card refused', 'Not when offline', '', '']],
    ('waiting for the car', 'en', (20, 4)): [['Please wait', '0.00 kWh', 'Time 0:00 h', '']],
    ('car stopped drawing (EVConnected)', 'en', (20, 4)): [['Car paused', '12.35 kWh', 'Cost 4.32 EUR', 'Time 1:05 h']],
    ('charging', 'en', (20, 4)): [['Charging', '7.4 kW 12.35 kWh', 'Cost 4.32 EUR', 'Time 1:05 h']],
    ('suspended by car', 'en', (20, 4)): [['Car paused', '12.35 kWh', 'Cost 4.32 EUR', 'Time 1:05 h']],
    ('suspended by limit', 'en', (20, 4)): [['Limit: paused', '12.35 kWh', 'Cost 4.32 EUR', 'Time 1:05 h']],
    ('finished', 'en', (20, 4)): [['Finished', '20.50 kWh', 'Total 7.18 EUR', 'Time 2:01 h'], ['Finished', 'Please unplug', '', '']],
    ('fault ground', 'en', (20, 4)): [['Out of order', 'Earth fault', 'Call +46 8 123 45', '']],
    ('fault emergency stop', 'en', (20, 4)): [['Out of order', 'Emergency stop', 'Call +46 8 123 45', '']],
    ('fault meter', 'en', (20, 4)): [['Out of order', 'Meter fault', 'Call +46 8 123 45', '']],
    ('unavailable', 'en', (20, 4)): [['Not in service', 'Call +46 8 123 45', '', '']],
    ('move car', 'en', (20, 4)): [['Move your car', 'Charging done', '20.50 kWh', 'Cost 7.18 EUR'], ['Move your car', 'Time 2:01 h', '', '']],
    ('ready', 'de', (20, 4)): [['Ladebereit', '0,35 EUR/kWh', 'Karte auflegen', '']],
    ('ready offline', 'de', (20, 4)): [['Ladebereit', '0,35 EUR/kWh', 'Karte auflegen', 'Offline-Betrieb']],
    ('card reader broken', 'de', (20, 4)): [['Ladebereit', '0,35 EUR/kWh', 'Leser defekt', '']],
    ('plugged in', 'de', (20, 4)): [['Karte auflegen', '0,35 EUR/kWh', '', '']],
    ('authorizing', 'de', (20, 4)): [['Prüfe Karte', 'Bitte warten', '', '']],
    ('accepted', 'de', (20, 4)): [['Karte gültig', 'Auto anstecken', '', '']],
    ('refused unknown', 'de', (20, 4)): [['Abgelehnt', 'Karte unbekannt', '', '']],
    ('refused expired', 'de', (20, 4)): [['Abgelehnt', 'Karte abgelaufen', '', '']],
    ('refused blocked', 'de', (20, 4)): [['Abgelehnt', 'Karte gesperrt', '', '']],
    ('refused offline', 'de', (20, 4)): [['Abgelehnt', 'Offline gesperrt', '', '']],
    ('waiting for the car', 'de', (20, 4)): [['Bitte warten', '0,00 kWh', 'Zeit 0:00 h', '']],
    ('car stopped drawing (EVConnected)', 'de', (20, 4)): [['Auto pausiert', '12,35 kWh', 'Kosten 4,32 EUR', 'Zeit 1:05 h']],
    ('charging', 'de', (20, 4)): [['Lädt', '7,4 kW 12,35 kWh', 'Kosten 4,32 EUR', 'Zeit 1:05 h']],
    ('suspended by car', 'de', (20, 4)): [['Auto pausiert', '12,35 kWh', 'Kosten 4,32 EUR', 'Zeit 1:05 h']],
    ('suspended by limit', 'de', (20, 4)): [['Pause: Limit', '12,35 kWh', 'Kosten 4,32 EUR', 'Zeit 1:05 h']],
    ('finished', 'de', (20, 4)): [['Beendet', '20,50 kWh', 'Summe 7,18 EUR', 'Zeit 2:01 h'], ['Beendet', 'Bitte abstecken', '', '']],
    ('fault ground', 'de', (20, 4)): [['Außer Betrieb', 'Fehlerstrom', 'Tel. +46 8 123 45', '']],
    ('fault emergency stop', 'de', (20, 4)): [['Außer Betrieb', 'Not-Aus', 'Tel. +46 8 123 45', '']],
    ('fault meter', 'de', (20, 4)): [['Außer Betrieb', 'Zählerfehler', 'Tel. +46 8 123 45', '']],
    ('unavailable', 'de', (20, 4)): [['Außer Dienst', 'Tel. +46 8 123 45', '', '']],
    ('move car', 'de', (20, 4)): [['Bitte umparken', 'Laden beendet', '20,50 kWh', 'Kosten 7,18 EUR'], ['Bitte umparken', 'Zeit 2:01 h', '', '']],
    ('ready', 'fr', (20, 4)): [['Prêt à charger', '0,35 EUR/kWh', 'Passez carte', '']],
    ('ready offline', 'fr', (20, 4)): [['Prêt à charger', '0,35 EUR/kWh', 'Passez carte', 'Mode hors ligne']],
    ('card reader broken', 'fr', (20, 4)): [['Prêt à charger', '0,35 EUR/kWh', 'Lecteur en panne', '']],
    ('plugged in', 'fr', (20, 4)): [['Passez carte', '0,35 EUR/kWh', '', '']],
    ('authorizing', 'fr', (20, 4)): [['Vérif. carte', 'Patientez', '', '']],
    ('accepted', 'fr', (20, 4)): [['Carte acceptée', 'Branchez véh.', '', '']],
    ('refused unknown', 'fr', (20, 4)): [['Carte refusée', 'Carte inconnue', '', '']],
    ('refused expired', 'fr', (20, 4)): [['Carte refusée', 'Carte expirée', '', '']],
    ('refused blocked', 'fr', (20, 4)): [['Carte refusée', 'Carte bloquée', '', '']],
    ('refused offline', 'fr', (20, 4)): [['Carte refusée', 'Refus hors ligne', '', '']],
    ('waiting for the car', 'fr', (20, 4)): [['Patientez', '0,00 kWh', 'Durée 0:00 h', '']],
    ('car stopped drawing (EVConnected)', 'fr', (20, 4)): [['Véh. en pause', '12,35 kWh', 'Coût 4,32 EUR', 'Durée 1:05 h']],
    ('charging', 'fr', (20, 4)): [['En charge', '7,4 kW 12,35 kWh', 'Coût 4,32 EUR', 'Durée 1:05 h']],
    ('suspended by car', 'fr', (20, 4)): [['Véh. en pause', '12,35 kWh', 'Coût 4,32 EUR', 'Durée 1:05 h']],
    ('suspended by limit', 'fr', (20, 4)): [['Pause: limite', '12,35 kWh', 'Coût 4,32 EUR', 'Durée 1:05 h']],
    ('finished', 'fr', (20, 4)): [['Terminé', '20,50 kWh', 'Total 7,18 EUR', 'Durée 2:01 h'], ['Terminé', 'Débranchez', '', '']],
    ('fault ground', 'fr', (20, 4)): [['Hors service', 'Défaut terre', 'Tél. +46 8 123 45', '']],
    ('fault emergency stop', 'fr', (20, 4)): [['Hors service', "Arrêt d'urgence", 'Tél. +46 8 123 45', '']],
    ('fault meter', 'fr', (20, 4)): [['Hors service', 'Défaut compteur', 'Tél. +46 8 123 45', '']],
    ('unavailable', 'fr', (20, 4)): [['Indisponible', 'Tél. +46 8 123 45', '', '']],
    ('move car', 'fr', (20, 4)): [['Libérez place', 'Charge terminée', '20,50 kWh', 'Coût 7,18 EUR'], ['Libérez place', 'Durée 2:01 h', '', '']],
    ('ready', 'sv', (20, 4)): [['Redo att ladda', '0,35 EUR/kWh', 'Blippa kortet', '']],
    ('ready offline', 'sv', (20, 4)): [['Redo att ladda', '0,35 EUR/kWh', 'Blippa kortet', 'Offlineläge']],
    ('card reader broken', 'sv', (20, 4)): [['Redo att ladda', '0,35 EUR/kWh', 'Läsare trasig', '']],
    ('plugged in', 'sv', (20, 4)): [['Blippa kortet', '0,35 EUR/kWh', '', '']],
    ('authorizing', 'sv', (20, 4)): [['Kontrollerar', 'Vänta', '', '']],
    ('accepted', 'sv', (20, 4)): [['Kort godkänt', 'Anslut bilen', '', '']],
    ('refused unknown', 'sv', (20, 4)): [['Kort nekat', 'Okänt kort', '', '']],
    ('refused expired', 'sv', (20, 4)): [['Kort nekat', 'Kort utgånget', '', '']],
    ('refused blocked', 'sv', (20, 4)): [['Kort nekat', 'Kort spärrat', '', '']],
    ('refused offline', 'sv', (20, 4)): [['Kort nekat', 'Nekas offline', '', '']],
    ('waiting for the car', 'sv', (20, 4)): [['Vänta', '0,00 kWh', 'Tid 0:00 h', '']],
    ('car stopped drawing (EVConnected)', 'sv', (20, 4)): [['Bilen pausar', '12,35 kWh', 'Summa 4,32 EUR', 'Tid 1:05 h']],
    ('charging', 'sv', (20, 4)): [['Laddar', '7,4 kW 12,35 kWh', 'Summa 4,32 EUR', 'Tid 1:05 h']],
    ('suspended by car', 'sv', (20, 4)): [['Bilen pausar', '12,35 kWh', 'Summa 4,32 EUR', 'Tid 1:05 h']],
    ('suspended by limit', 'sv', (20, 4)): [['Paus: gräns', '12,35 kWh', 'Summa 4,32 EUR', 'Tid 1:05 h']],
    ('finished', 'sv', (20, 4)): [['Avslutad', '20,50 kWh', 'Totalt 7,18 EUR', 'Tid 2:01 h'], ['Avslutad', 'Koppla ur', '', '']],
    ('fault ground', 'sv', (20, 4)): [['Ur funktion', 'Jordfel', 'Ring +46 8 123 45', '']],
    ('fault emergency stop', 'sv', (20, 4)): [['Ur funktion', 'Nödstopp', 'Ring +46 8 123 45', '']],
    ('fault meter', 'sv', (20, 4)): [['Ur funktion', 'Mätarfel', 'Ring +46 8 123 45', '']],
    ('unavailable', 'sv', (20, 4)): [['Ej i drift', 'Ring +46 8 123 45', '', '']],
    ('move car', 'sv', (20, 4)): [['Flytta bilen', 'Laddning klar', '20,50 kWh', 'Summa 7,18 EUR'], ['Flytta bilen', 'Tid 2:01 h', '', '']],
}


def layout(size: tuple[int, int], *languages: str, offline: bool = False, **more: object) -> Layout:
    return Layout(size[0], size[1], languages=languages or ("en",), price=PRICE, phone=PHONE, offline=offline,
                  **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(("step", "language", "size"), list(EXPECTED))
def test_each_step_in_each_language_at_each_size(step: str, language: str, size: tuple[int, int]) -> None:
    view, offline = STEPS[step]
    pages = cycle(view, layout(size, language, offline=offline), size[1], numbered=False)
    assert pages == EXPECTED[(step, language, size)]
    assert all(len(page) == size[1] and all(len(line) <= size[0] for line in page) for page in pages)


def test_the_table_covers_every_step_language_and_size() -> None:
    assert {(s, lang, size) for s in STEPS for lang in ("en", "de", "fr", "sv") for size in ((16, 2), (20, 4))} \
        == set(EXPECTED)


def test_time_picks_the_page_and_several_languages_take_turns() -> None:
    view = View(1, "Available")
    both = layout((16, 2), "de", "en", page_s=4.0)
    shown = [compose([view], both, t) for t in (0.0, 3.9, 4.0, 8.0, 12.0, 16.0)]
    assert shown == [
        ["Ladebereit", "0,35 EUR/kWh"], ["Ladebereit", "0,35 EUR/kWh"], ["Ladebereit", "Karte auflegen"],
        ["Ready to use", PRICE], ["Ready to use", "Tap your card"], ["Ladebereit", "0,35 EUR/kWh"],
    ]


def test_two_connectors_share_four_rows_and_take_turns_on_two() -> None:
    one = View(1, "Charging", power_kw=11.0, energy_kwh=3.2, session_s=600)
    two = View(2, "Faulted", error_code="GroundFailure")
    big = layout((20, 4))
    assert compose([one, two], big, 0.0) == ["1 Charging", "11.0 kW 3.20 kWh", "2 Out of order", "Earth fault"]
    small = layout((16, 2))
    assert compose([one, two], small, 0.0) == ["1 Charging", "11.0 kW 3.20 kWh"]
    assert compose([one, two], small, 4.0) == ["2 Out of order", "Earth fault"]
    assert compose([one, two], small, 8.0) == ["1 Charging", "Time 0:10 h"]  # each keeps its own cycle
    assert compose([one, two], small, 12.0) == ["2 Out of order", PHONE]


def test_backend_messages_by_priority() -> None:
    normal = DriverMessage(1, "Free coffee inside", priority="NormalCycle")
    front = DriverMessage(2, "Pay at the kiosk", priority="InFront")
    always = DriverMessage(3, "<b>Closed</b> for works until Monday", priority="AlwaysFront", format="HTML")
    size = (16, 2)
    assert cycle(View(1, "Available", messages=(normal, front)), layout(size), 2, numbered=False) == [
        ["Pay at the kiosk", ""], ["Ready to use", PRICE], ["Ready to use", "Tap your card"],
        ["Free coffee", "inside"],
    ]
    # AlwaysFront replaces every page, also a fault's (the backend decided so); HTML loses its tags
    assert cycle(View(1, "Faulted", messages=(normal, always)), layout(size), 2, numbered=False) == [
        ["Closed for works", "until Monday"],
    ]


def test_personal_message_shows_after_the_session_pages() -> None:
    view = View(1, "Charging", energy_kwh=1.0, personal="Hello Anna, 0.29 EUR/kWh for you")
    pages = cycle(view, layout((20, 4)), 4, numbered=False)
    assert pages[-1] == ["Hello Anna, 0.29", "EUR/kWh for you", "", ""]


def test_operator_name_and_phone_on_a_fault() -> None:
    view = View(1, "Faulted", error_code="PowerSwitchFailure")
    pages = cycle(view, layout((20, 4), operator="Ladda Energy"), 4, numbered=False)
    assert pages == [["Out of order", "Switch fault", "Ladda Energy", "Call +46 8 123 45"]]


@pytest.mark.parametrize(("code", "vendor", "words"), [
    ("GroundFailure", "", "Earth fault"),
    ("PowerSwitchFailure", "", "Switch fault"),
    ("ReaderFailure", "", "Reader broken"),
    ("EVCommunicationError", "", "Car link error"),
    ("OverCurrentFailure", "", "Overcurrent"),
    ("OtherError", "EmergencyStop", "Emergency stop"),
    ("PowerMeterFailure", "", "Meter fault"),
    ("InternalError", "", "Internal error"),
    ("ConnectorLockFailure", "", "Lock fault"),
    ("HighTemperature", "", "Too hot"),
    ("UnderVoltage", "", "Voltage fault"),
    ("OtherError", "PilotAdcFailure", "Technical fault"),
])
def test_fault_codes_in_words(code: str, vendor: str, words: str) -> None:
    assert compose([View(1, "Faulted", error_code=code, vendor_error_code=vendor)], layout((16, 2)), 0.0) \
        == ["Out of order", words]


def test_no_cost_offline_shows_the_backends_fallback_words() -> None:
    view = View(1, "Charging", energy_kwh=2.0, cost_note="Cost shown in the app")
    assert cycle(view, layout((20, 4)), 4, numbered=False) == [["Charging", "2.00 kWh", "Cost shown in the", "app"]]


def test_main_text_for_the_log_and_the_status_line() -> None:
    view = View(1, "Faulted", error_code="GroundFailure")
    assert main_text(view, layout((40, 2), "de", "en")) == "Außer Betrieb | Fehlerstrom | Tel. +46 8 123 45"


def test_durations() -> None:
    assert [duration(s) for s in (0, 59, 60, 3599, 3600, 36000 + 61)] == \
        ["0:00 h", "0:00 h", "0:01 h", "0:59 h", "1:00 h", "10:01 h"]


def test_no_connector_known_yet() -> None:
    assert compose([View(1)], layout((16, 2), "fr"), 0.0) == ["Démarrage...", ""]
    assert compose([], layout((16, 2)), 0.0) == ["", ""]


@pytest.mark.parametrize("language", ["en", "de", "fr", "sv"])
@pytest.mark.parametrize("cost", ["123.45 SEK", "12345.6789 EUR"])
@pytest.mark.parametrize("finished", [False, True])
def test_the_widest_values_stay_whole_on_a_line_with_one_decimal_mark(language: str, cost: str,
                                                                      finished: bool) -> None:
    """Five integer digits, a four-decimal tariff, 99:59 h: the amount drops its word
    rather than wrap, and money and energy carry the language's one decimal mark."""
    from agent.screen.texts import say

    comma = language in ("de", "fr", "sv")
    view = View(1, "Finishing" if finished else "Charging", plugged=True, running=not finished, finished=finished,
                energy_kwh=123.456, cost=cost, session_s=99 * 3600 + 59 * 60)
    lines = [line for page in cycle(view, Layout(16, 2, (language,)), 2, numbered=False) for line in page[1:]]
    amount = cost.replace(".", ",") if comma else cost
    label = say(language, "total" if finished else "cost", cost=amount)
    assert (label if len(label) <= 16 else amount) in lines
    assert ("123,46 kWh" if comma else "123.46 kWh") in lines
    assert say(language, "time", time="99:59 h") in lines
    assert all(len(line) <= 16 for line in lines)


def test_a_backend_s_own_cost_words_are_shown_as_sent_without_the_word_when_too_wide() -> None:
    view = View(1, "Charging", plugged=True, running=True, cost="2.50 EUR incl. VAT")
    lines = [line for page in cycle(view, Layout(20, 2, ("de",)), 2, numbered=False) for line in page]
    assert "2.50 EUR incl. VAT" in lines
