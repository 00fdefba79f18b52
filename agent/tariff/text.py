"""Prices and amounts as a driver reads them: short, in the tariff's currency, with the
tax the tariff says is shown."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from agent.tariff.cost import rounded
from agent.tariff.model import Tariff

#: A price is shown with up to this many decimals when it has them (0.349 EUR/kWh), at
#: least the tariff's own.
PRICE_DECIMALS_MAX = 4


def money(amount: Decimal, tariff: Tariff) -> str:
    """``amount`` as displayed (e.g. ``12.40 EUR``): rounded half up to the tariff's decimals."""
    return f"{rounded(amount, tariff):f} {tariff.currency}"


def shown_price(price: Decimal, tariff: Tariff) -> Decimal:
    """A price as the driver pays it: with tax when the tariff's prices are without."""
    if not tariff.prices_include_tax and tariff.tax_percent:
        price = price * (1 + tariff.tax_percent / 100)
    places = min(max(tariff.decimals, -price.normalize().as_tuple().exponent), PRICE_DECIMALS_MAX)  # type: ignore[operator]
    return price.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def price_lines(tariff: Tariff, at: datetime) -> list[str]:
    """Every price in force at ``at`` that is not zero, one short line each: per kWh, per
    hour of charging, per hour idle (and the grace before it), the session fee; ``free``
    if none. Each fits a 20-column line for a price of up to 8 characters."""
    prices = tariff.prices_at(at.astimezone(tariff.zone))
    cur = tariff.currency
    lines = []
    if prices.per_kwh:
        lines.append(f"{shown_price(prices.per_kwh, tariff):f} {cur}/kWh")
    if prices.per_hour_charging:
        lines.append(f"{shown_price(prices.per_hour_charging, tariff):f} {cur}/h")
    if prices.per_hour_idle:
        lines.append(f"idle {shown_price(prices.per_hour_idle, tariff):f} {cur}/h")
        if tariff.idle_grace_minutes:
            lines.append(f"after {tariff.idle_grace_minutes} min idle")
    if tariff.session_fee:
        lines.append(f"+{shown_price(tariff.session_fee, tariff):f} {cur}/session")
    return lines or ["free"]


def price_text(tariff: Tariff, at: datetime) -> str:
    """The price in force at ``at``, short enough for a 16-column line (e.g.
    ``0.35 EUR/kWh``): the energy price when there is one, else the first other price
    (see :func:`price_lines`)."""
    return price_lines(tariff, at)[0]


__all__ = ["money", "price_lines", "price_text", "shown_price"]
