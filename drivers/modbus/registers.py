"""Meter models as data: one TOML file per model, loaded and checked here.

Adding a meter model is a data file, not code (see ``config/meters/generic-template.toml``).
A model names the registers of the four quantities a charger needs (imported energy,
total power, current and voltage per phase), their data types, word order and scale,
and how the meter lets them be read (function code, largest request, which unused
registers may be read along). From that the registers are grouped into as few requests
as the meter allows: a full reading over a slow RS-485 line costs per request, not per
register.
"""

from __future__ import annotations

import tomllib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .codec import DataType, WordOrder, decode, resolution

def _models_dir() -> Path:
    """Where the shipped models live: ``config/meters`` in a source tree, or
    ``share/ladda/meters`` under the virtualenv an installed release runs from (the
    wheel carries them there as data files)."""
    source_tree = Path(__file__).resolve().parents[2] / "config" / "meters"
    installed = Path(sys.prefix) / "share" / "ladda" / "meters"
    return source_tree if source_tree.is_dir() or not installed.is_dir() else installed


MODELS_DIR = _models_dir()
#: The template is documentation for technicians, not a meter.
TEMPLATE_NAME = "generic-template"
#: Modbus limits a read request to 125 registers (the PDU carries at most 250 data bytes).
MAX_REGISTERS_PER_REQUEST = 125

QUANTITIES = ("energy", "power", "current", "voltage")
_TOP_KEYS = {"name", "phases", "function_code", "word_order", "max_registers", "max_gap", "source", *QUANTITIES}
_SOURCE_KEYS = {"title", "version", "url", "notes", "unverified"}
_QUANTITY_KEYS = {"address", "addresses", "type", "scale", "word_order"}


class MeterModelError(ValueError):
    """A model file that cannot be used; the message lists every problem found."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems) if len(problems) == 1 else
                         f"{path}: {len(problems)} problems:\n  " + "\n  ".join(problems))


@dataclass(frozen=True, slots=True)
class Source:
    """The published register map a model was checked against."""

    title: str
    version: str
    url: str
    notes: str = ""
    unverified: tuple[str, ...] = ()  # quantities whose registers could not be checked


@dataclass(frozen=True, slots=True)
class Quantity:
    """One measured quantity: its register(s), type and scale to driver units (Wh, W, A, V)."""

    name: str
    addresses: tuple[int, ...]  # one per phase for current/voltage, one for energy/power
    dtype: DataType
    word_order: WordOrder
    scale: float

    def spans(self) -> list[tuple[int, int]]:
        return [(a, self.dtype.registers) for a in self.addresses]

    def decode(self, registers: dict[int, int]) -> tuple[float, ...]:
        """Scaled values, one per address, from an address -> register word map."""
        n = self.dtype.registers
        return tuple(
            decode([registers[a + i] for i in range(n)], self.dtype, self.word_order) * self.scale
            for a in self.addresses
        )

    def resolution(self, value: float) -> float:
        return resolution(value, self.dtype, self.scale)


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: ``count`` registers from ``start`` with ``function_code``."""

    function_code: int
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class MeterModel:
    key: str  # file stem, e.g. "sdm630"
    name: str  # display name
    source: Source
    phases: int
    function_code: int
    max_registers: int
    max_gap: int
    energy: Quantity
    power: Quantity
    current: Quantity
    voltage: Quantity
    blocks: tuple[Block, ...]

    @property
    def quantities(self) -> tuple[Quantity, ...]:
        return (self.energy, self.power, self.current, self.voltage)

    def spans(self) -> list[tuple[int, int]]:
        """Every (address, register count) a full reading needs."""
        return [span for q in self.quantities for span in q.spans()]


def plan_blocks(spans: Iterable[tuple[int, int]], *, function_code: int, max_registers: int,
                max_gap: int) -> tuple[Block, ...]:
    """Fewest requests covering every span, then fewest registers among those.

    A request covers consecutive spans when it stays within ``max_registers`` and no run
    of unused registers inside it is longer than ``max_gap`` (registers a meter may refuse
    or that cost bytes for nothing). A value is never split across two requests.
    Dynamic programming over the sorted, merged spans: n is a handful, so O(n^2) is free.
    """
    merged: list[list[int]] = []
    for start, length in sorted(spans):
        end = start + length
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    n = len(merged)
    # best[i]: (requests, registers, previous cut) covering merged[:i]
    best: list[tuple[int, int, int]] = [(0, 0, 0)] + [(n + 1, 0, 0)] * n
    for i in range(1, n + 1):
        for j in range(i - 1, -1, -1):  # block = merged[j:i]
            if j < i - 1 and merged[j + 1][0] - merged[j][1] > max_gap:
                break
            width = merged[i - 1][1] - merged[j][0]
            if width > max_registers:
                break
            candidate = (best[j][0] + 1, best[j][1] + width, j)
            if candidate[:2] < best[i][:2]:
                best[i] = candidate
    blocks: list[Block] = []
    i = n
    while i > 0:
        j = best[i][2]
        blocks.append(Block(function_code, merged[j][0], merged[i - 1][1] - merged[j][0]))
        i = j
    return tuple(reversed(blocks))


def known_models(models_dir: Path | None = None) -> list[str]:
    """Names of the shipped models (file stems), without the template."""
    folder = models_dir or MODELS_DIR
    return sorted(p.stem for p in folder.glob("*.toml") if p.stem != TEMPLATE_NAME)


def load_meter_model(name_or_path: str, models_dir: Path | None = None) -> MeterModel:
    """Load a model by name (``sdm630``) from the models folder, or from a file path."""
    folder = models_dir or MODELS_DIR
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.parent != Path("."):
        path = candidate
    else:
        path = folder / f"{name_or_path}.toml"
        if not path.exists():
            raise MeterModelError(str(path), [f"unknown meter model {name_or_path!r} "
                                              f"(allowed: {', '.join(known_models(folder))})"])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MeterModelError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MeterModelError(str(path), [f"cannot be read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise MeterModelError(str(path), [f"not valid TOML: {exc}"]) from None
    return _parse(path, data)


class _Checker:
    """Collects every problem in a file so a technician fixes them all in one go."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def unknown(self, table: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
        for key in sorted(set(table) - allowed):
            self.fail(prefix + key, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def text(self, table: dict[str, Any], key: str, prefix: str = "", *, required: bool = True) -> str:
        value = table.get(key)
        if value is None:
            if required:
                self.fail(prefix + key, "missing (a non-empty string)")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(prefix + key, f"{value!r} is not allowed (a non-empty string)")
            return ""
        return value

    def integer(self, table: dict[str, Any], key: str, low: int, high: int, default: int | None = None,
                prefix: str = "") -> int:
        value = table.get(key, default)
        if value is None:
            self.fail(prefix + key, f"missing (an integer {low} to {high})")
            return low
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(prefix + key, f"{value!r} is not allowed (an integer {low} to {high})")
            return low
        return value

    def choice(self, table: dict[str, Any], key: str, allowed: list[Any], default: Any = None,
               prefix: str = "") -> Any:
        value = table.get(key, default)
        if value not in allowed:
            shown = "missing" if value is None else f"{value!r} is not allowed"
            self.fail(prefix + key, f"{shown} (allowed: {', '.join(map(str, allowed))})")
            return allowed[0]
        return value


def _parse(path: Path, data: dict[str, Any]) -> MeterModel:
    check = _Checker()
    check.unknown(data, _TOP_KEYS)
    name = check.text(data, "name")
    phases = check.choice(data, "phases", [1, 3])
    function_code = check.choice(data, "function_code", [3, 4])
    word_order = WordOrder(check.choice(data, "word_order", ["big", "little"], default="big"))
    max_registers = check.integer(data, "max_registers", 1, MAX_REGISTERS_PER_REQUEST,
                                  default=MAX_REGISTERS_PER_REQUEST)
    max_gap = check.integer(data, "max_gap", 0, MAX_REGISTERS_PER_REQUEST, default=0)

    raw_source = data.get("source")
    if not isinstance(raw_source, dict):
        check.fail("source", "missing table [source] (title, version, url of the published register map)")
        raw_source = {}
    check.unknown(raw_source, _SOURCE_KEYS, "source.")
    unverified = raw_source.get("unverified", [])
    if not isinstance(unverified, list) or any(q not in QUANTITIES for q in unverified):
        check.fail("source.unverified", f"{unverified!r} is not allowed (a list of: {', '.join(QUANTITIES)})")
        unverified = []
    source = Source(
        title=check.text(raw_source, "title", "source."),
        version=check.text(raw_source, "version", "source."),
        url=check.text(raw_source, "url", "source."),
        notes=check.text(raw_source, "notes", "source.", required=False),
        unverified=tuple(unverified),
    )

    quantities = {q: _parse_quantity(check, data, q, phases, word_order) for q in QUANTITIES}
    if check.problems:
        raise MeterModelError(str(path), check.problems)
    spans = [span for q in quantities.values() for span in q.spans()]
    for address, length in spans:
        if address + length > 65536:
            check.fail("address", f"{address} + {length} registers runs past 65535")
    if check.problems:
        raise MeterModelError(str(path), check.problems)
    blocks = plan_blocks(spans, function_code=function_code, max_registers=max_registers, max_gap=max_gap)
    return MeterModel(key=path.stem, name=name, source=source, phases=phases, function_code=function_code,
                      max_registers=max_registers, max_gap=max_gap, blocks=blocks, **quantities)


def _parse_quantity(check: _Checker, data: dict[str, Any], name: str, phases: int,
                    default_order: WordOrder) -> Quantity:
    """Energy and power have one ``address``; current and voltage ``addresses``, one per phase."""
    per_phase = name in ("current", "voltage")
    count = phases if per_phase else 1
    table = data.get(name)
    prefix = f"{name}."
    placeholder = Quantity(name, (0,) * count, DataType.UINT16, default_order, 1.0)
    if not isinstance(table, dict):
        check.fail(name, f"missing table [{name}]")
        return placeholder
    check.unknown(table, _QUANTITY_KEYS, prefix)
    key = "addresses" if per_phase else "address"
    other = "address" if per_phase else "addresses"
    if other in table:
        check.fail(prefix + other, f"not allowed here: use {key} "
                   + (f"(a list of {count}, one per phase)" if per_phase else "(one register address)"))
    raw = table.get(key)
    addresses: list[int] = []
    if not per_phase:
        raw = [raw] if raw is not None else None
    if (not isinstance(raw, list) or len(raw) != count
            or any(isinstance(a, bool) or not isinstance(a, int) or not 0 <= a <= 65535 for a in raw)):
        what = "a register address 0 to 65535" if not per_phase else f"a list of {count} register addresses 0 to 65535"
        shown = "missing" if table.get(key) is None else f"{table.get(key)!r} is not allowed"
        check.fail(prefix + key, f"{shown} ({what})")
    else:
        addresses = raw
    dtype = DataType.from_label(check.choice(table, "type", DataType.labels(), prefix=prefix))
    order = WordOrder(check.choice(table, "word_order", ["big", "little"], default=default_order.value,
                                   prefix=prefix))
    scale = table.get("scale", 1)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        check.fail(prefix + "scale", f"{scale!r} is not allowed (a number > 0: register value x scale = "
                   + {"energy": "Wh", "power": "W", "current": "A", "voltage": "V"}[name] + ")")
        scale = 1
    if not addresses:
        return placeholder
    return Quantity(name, tuple(addresses), dtype, order, float(scale))
