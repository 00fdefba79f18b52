"""What the screen shows now, from what each connector is doing: pure (no I/O, no clock).

Each connector's :class:`View` becomes a cycle of pages; each page is a header line (what
is happening, in a word or two) and details on the remaining rows, one a line (power and
energy share one when they fit). The cycle holds the pages in each configured language, then the
backend's messages and the driver's personal message; the time passed in picks the
page. A backend message AlwaysFront replaces the cycle, InFront comes before it,
NormalCycle is one more page of it (OCPP 2.0.1 MessagePriorityEnumType).

A two-connector charger shares the display: on four rows each connector has two; on two
rows the connectors take turns. Their headers then start with the connector's number.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from . import DriverMessage
from .texts import fault_key, refusal_key, say

#: Languages writing a decimal comma: kW, kWh, and the amounts and prices the charger
#: formats itself ("12.40 EUR", "0.35 EUR/kWh"), so that one screen uses one mark. A
#: backend's own words (a 1.6 priceText, a fallback message) are shown as sent.
DECIMAL_COMMA = frozenset({"de", "fr", "sv"})
#: An amount or price as the charger formats it: a number, and a unit without digits.
_FORMATTED = re.compile(r"\d+\.\d+(?: [^\s\d]+)?")
#: The card reader is broken: a warning (the connector serves on), but no card can be read.
READER_FAILURE = "ReaderFailure"
#: Statuses on which a card tap's answer is shown (a card could have been for them).
FREE = frozenset({None, "Available", "Preparing", "Finishing"})


@dataclass(frozen=True, slots=True)
class CardStep:
    """A card being checked (``asking``), or its answer (``accepted``, ``refused`` with
    ``why``: an AuthStatus value, the machine's reason, or "offline")."""

    step: str
    why: str = ""


@dataclass(frozen=True, slots=True)
class View:
    """One connector as the driver should understand it."""

    connector: int
    #: OCPP 1.6 ChargePointStatus words; None until the first status is known.
    status: str | None = None
    error_code: str = "NoError"
    vendor_error_code: str = ""
    plugged: bool = False
    #: A transaction runs on the connector.
    running: bool = False
    card: CardStep | None = None
    power_kw: float | None = None
    #: Energy of the running session, or of the one just ended (``finished``), in kWh.
    energy_kwh: float | None = None
    #: The running or final cost as displayed (local tariff or backend), None: unknown.
    cost: str | None = None
    #: Whether ``cost`` of a finished session is its total (False: the backend's last
    #: running cost, its final cost still to come).
    cost_final: bool = True
    #: Length of the running session, or of the one just ended, in seconds.
    session_s: float | None = None
    #: A session just ended: its energy, cost and time are shown.
    finished: bool = False
    #: The car has stood idle after charging for too long (see agent.screen.idle).
    idle_alert: bool = False
    #: Shown when no cost is known: the backend's TotalCostFallbackMessage (offline, or no
    #: final cost for a session that ended).
    cost_note: str | None = None
    #: The backend's words for this driver (personalMessage, SetUserPrice priceText).
    personal: str | None = None
    #: The backend's messages for this connector now, in the board's order.
    messages: tuple[DriverMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class Layout:
    """The display and what is the same on every connector."""

    columns: int = 16
    rows: int = 2
    languages: tuple[str, ...] = ("en",)
    page_s: float = 4.0
    operator: str = ""
    phone: str = ""
    #: The price in force (local tariff, or the backend's default/fallback price text).
    price: str | None = None
    offline: bool = False


def compose(views: Sequence[View], layout: Layout, now_s: float) -> list[str]:
    """The display's lines at ``now_s`` (any steady clock, in seconds): one string per
    row, each at most ``layout.columns`` long."""
    slot = int(now_s // layout.page_s)
    if not views:
        return [""] * layout.rows
    if len(views) == 1:
        return _pick(cycle(views[0], layout, layout.rows, numbered=False), slot)
    if layout.rows >= 2 * len(views):
        share = layout.rows // len(views)
        lines: list[str] = []
        for view in views:
            lines += _pick(cycle(view, layout, share, numbered=True), slot)
        return lines + [""] * (layout.rows - len(lines))
    view = views[slot % len(views)]  # too few rows: the connectors take turns
    return _pick(cycle(view, layout, layout.rows, numbered=True), slot // len(views))


def main_text(view: View, layout: Layout) -> str:
    """A connector's screen in one line of the first language, the header and its
    details (for the log and the systemd status line, where nothing cycles)."""
    language = layout.languages[0]
    header, details = _content(view, layout, language)
    return " | ".join([header, *[d for d in details if d]])


def cycle(view: View, layout: Layout, rows: int, numbered: bool) -> list[list[str]]:
    """Every page of one connector's cycle, ``rows`` lines each."""
    def number(header: str) -> str:
        return f"{view.connector} {header}" if numbered else header

    front = [m for m in view.messages if m.priority == "AlwaysFront"]
    if front:
        return [p for m in front for p in _text_pages(_message_text(m), layout.columns, rows)]
    pages = [p for m in view.messages if m.priority == "InFront"
             for p in _text_pages(_message_text(m), layout.columns, rows)]
    for language in layout.languages:
        header, details = _content(view, layout, language)
        pages += _pages(number(header), details, layout.columns, rows)
    pages += [p for m in view.messages if m.priority not in ("AlwaysFront", "InFront")
              for p in _text_pages(_message_text(m), layout.columns, rows)]
    if view.personal and view.status not in ("Faulted", "Unavailable"):
        pages += _text_pages(view.personal, layout.columns, rows)
    return pages


def _content(view: View, layout: Layout, lang: str) -> tuple[str, list[str]]:
    """The header and the details of a connector's page in one language."""
    def t(key: str, **values: str) -> str:
        return say(lang, key, **values)

    offline = [t("offline")] if layout.offline else []
    status = view.status
    if status == "Faulted":
        details = [t(fault_key(view.error_code, view.vendor_error_code)), *_operator(layout, lang)]
        return t("out_of_order"), details
    if status is None:
        return t("starting"), []
    if status == "Unavailable":
        return t("unavailable"), _operator(layout, lang)
    if status == "Reserved":
        return t("reserved"), []
    if view.card is not None and status in FREE:
        return _card(view, layout, lang)
    if status == "Preparing" and view.running and not view.idle_alert:
        # Authorized, the car has not drawn yet (or, 2.0.1 EVConnected, draws no more).
        drawn = view.energy_kwh is not None and view.energy_kwh > 0
        return t("suspended_ev" if drawn else "wait"), [*_values(view, lang, layout.columns), *offline]
    if status in ("Charging", "SuspendedEV", "SuspendedEVSE") or (status == "Preparing" and view.running):
        values = _values(view, lang, layout.columns)
        if view.idle_alert:
            return t("move_car"), [t("charge_done"), *values]
        key = {"Charging": "charging", "SuspendedEVSE": "suspended_evse"}.get(status, "suspended_ev")
        if view.power_kw is not None and status == "Charging":
            power = _number(view.power_kw, 1, lang) + " kW"
            both = f"{power} {values[0]}" if values and values[0].endswith(" kWh") else ""
            values = [both, *values[1:]] if both and len(both) <= layout.columns else [power, *values]
        return t(key), [*values, *offline]
    if view.finished or status == "Finishing":
        unplug = [t("unplug")] if view.plugged or status == "Finishing" else []
        return t("finished"), [*_values(view, lang, layout.columns, final=True), *unplug]
    price = _wrap(_decimal_mark(layout.price, lang), layout.columns) if layout.price else []
    if status == "Preparing" and not view.plugged:
        return t("plug_in"), [*price, *offline]
    if view.error_code == READER_FAILURE:  # a warning: remote starts still work, a card does not
        return t("ready"), [*price, t(fault_key(READER_FAILURE)), *offline]
    if status == "Preparing":
        return t("tap_card"), [*price, *offline]
    return t("ready"), [*price, t("tap_card"), *offline]


def _card(view: View, layout: Layout, lang: str) -> tuple[str, list[str]]:
    card = view.card
    assert card is not None
    if card.step == "asking":
        return say(lang, "authorizing"), [say(lang, "wait")]
    if card.step == "accepted":
        return say(lang, "accepted"), [say(lang, "wait" if view.plugged else "plug_in")]
    return say(lang, "refused"), [say(lang, refusal_key(card.why))]


def _values(view: View, lang: str, columns: int, final: bool = False) -> list[str]:
    """Energy, cost and time of the running (or just ended) session, those known."""
    out = []
    if view.energy_kwh is not None:
        out.append(_number(view.energy_kwh, 2, lang) + " kWh")
    if view.cost is not None:
        amount = _decimal_mark(view.cost, lang)
        line = say(lang, "total" if final and view.cost_final else "cost", cost=amount)
        out.append(line if len(line) <= columns else amount)  # a wide amount goes without its word
    if view.session_s is not None:
        out.append(say(lang, "time", time=duration(view.session_s)))
    if view.cost_note and (view.cost is None or (final and not view.cost_final)):
        out += _wrap(view.cost_note, columns)
    return out


def _operator(layout: Layout, lang: str) -> list[str]:
    """Whom to call: the operator's name, and the number (alone when the phrase with it
    does not fit a line)."""
    out = [layout.operator] if layout.operator else []
    if layout.phone:
        line = say(lang, "call", phone=layout.phone)
        out.append(line if len(line) <= layout.columns else layout.phone)
    return out


def duration(seconds: float) -> str:
    """A session's length as hours and minutes, e.g. ``1:05 h``."""
    minutes = int(max(0.0, seconds) // 60)
    return f"{minutes // 60}:{minutes % 60:02d} h"


def _number(value: float, decimals: int, lang: str) -> str:
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang in DECIMAL_COMMA else text


def _decimal_mark(text: str, lang: str) -> str:
    """An amount or price the charger formatted, with the language's decimal mark; any
    other text as it is."""
    if lang in DECIMAL_COMMA and _FORMATTED.fullmatch(text):
        return text.replace(".", ",", 1)
    return text


def _pages(header: str, details: list[str], columns: int, rows: int) -> list[list[str]]:
    """The header on top of every page, the details below it, one a line (a long one
    word-wrapped over several), as many pages as they need."""
    lines = [piece for detail in details for piece in (_wrap(detail, columns) or [""])]
    below = max(1, rows - 1)
    if rows == 1:
        return [[header[:columns]], *[[line] for line in lines]]
    chunks = [lines[i:i + below] for i in range(0, len(lines), below)] or [[]]
    return [[header[:columns], *chunk, *[""] * (below - len(chunk))] for chunk in chunks]


def _text_pages(text: str, columns: int, rows: int) -> list[list[str]]:
    """A free text (a backend message) word-wrapped over as many pages as it needs."""
    lines = _wrap(text, columns) or [""]
    chunks = [lines[i:i + rows] for i in range(0, len(lines), rows)]
    return [chunk + [""] * (rows - len(chunk)) for chunk in chunks]


def _wrap(text: str | None, columns: int) -> list[str]:
    if not text:
        return []
    return textwrap.wrap(" ".join(text.split()), columns, break_long_words=True) or []


def _message_text(message: DriverMessage) -> str:
    """A backend message as plain words: HTML loses its tags (O01: format HTML)."""
    if message.format == "HTML":
        return html.unescape(re.sub(r"<[^>]*>", " ", message.text))
    return message.text


def _pick(pages: list[list[str]], slot: int) -> list[str]:
    return list(pages[slot % len(pages)])
