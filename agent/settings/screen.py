"""``[screen]`` (what the driver reads at the station, in which languages) and
``[operator]`` (who runs the charger: shown with every fault, so a driver can call).

The languages are checked here against the phrase tables' languages (the tables live in
``agent.screen.texts`` and import this list, so the two cannot drift apart).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.settings.rules import Invalid, Number, Rule, Text, closest, setting

#: The languages the screen has every phrase in (ISO 639-1), the first one the default.
LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "sv")


@dataclass(frozen=True, slots=True)
class Languages(Rule):
    """An array of language codes the screen knows, without repeats."""

    def describe(self) -> str:
        return f"an array of 1 to {len(LANGUAGES)} language codes from {', '.join(LANGUAGES)}"

    def convert(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self._wrong_type(value)
        if not value:
            raise Invalid(f"must be {self.describe()} (it is empty)")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise Invalid(f"must be {self.describe()} (item {i} is not a string)")
            if item not in LANGUAGES:
                near = closest(item.lower(), LANGUAGES)
                hint = f"; did you mean {near!r}?" if near else ""
                raise Invalid(f"must be {self.describe()} ({item!r} at index {i} is not one{hint})")
        if len(set(value)) != len(value):
            raise Invalid(f"must be {self.describe()} (a language is listed twice)")
        return tuple(value)


@dataclass(frozen=True, slots=True)
class ScreenSettings:
    """What the driver is told at the station: on the display ([display]) when one is
    fitted, else in the log and the systemd status line."""

    languages: tuple[str, ...] = setting(
        Languages(), ("en",),
        doc='languages of the screen\'s texts, e.g. ["de", "en"]; with several the screen shows each in turn')
    language_seconds: float = setting(
        Number(1, 60, "seconds"), 4.0, unit="seconds",
        doc="how long each language (and each page of a backend message) stays on the screen")
    finished_seconds: float = setting(
        Number(0, 3600, "seconds"), 60.0, unit="seconds",
        doc="how long a finished session's energy, cost and time stay shown after the cable is unplugged "
            "(while it stays plugged in they stay shown)")
    idle_alert_minutes: float = setting(
        Number(0, 1440, "minutes"), 15.0, unit="minutes",
        doc="a car plugged in, authorized and drawing nothing after it charged for this long is asked to move "
            "(screen, LEDs) and the backend gets a meter value with the totals; 0 = never")


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    """Who runs the charger: a driver with a fault, or a refused card, reads whom to call."""

    name: str = setting(Text(1, 40, allow_empty=True), "", doc="the operator's name as drivers know it")
    phone: str = setting(Text(3, 20, allow_empty=True), "",
                         doc='the phone number drivers call, as dialled, e.g. "+49 30 1234567"; "" = none shown')


__all__ = ["LANGUAGES", "Languages", "OperatorSettings", "ScreenSettings"]
