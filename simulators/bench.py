"""The bench: simulated charger hardware and EVs, driven from two sides.

The agent reaches the hardware through its sim drivers over the *hardware socket*
(JSON lines, see docs/control-channel.md) and, for the energy meters, through its real
Modbus driver against the bench's :class:`~simulators.modbus_meter.MeterSimulator`;
a person, the demo or a test harness plays the EV, the card holder and the network
through the *control channel*. :class:`Bench` holds the state and the rules and feeds
the EV model's values into the Modbus units; :class:`HardwareServer` is only the socket
in front of it, so the physics in :mod:`simulators.ev` never depends on a wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from drivers.protocols import PilotState
from simulators.bench_hardware import WiredHardware
from simulators.bench_wiring import BenchWiring
from simulators.control import MAX_LINE, CommandTable, ControlError
from simulators.ev import ERROR_STATES, EvConnector
from simulators.grid_meter import GRID_FIELDS, GridMeter
from simulators.link_proxy import LinkProxy
from simulators.modbus_meter import MeterSimulator
from simulators.virtual_card import VirtualCardError, parse_uid

if TYPE_CHECKING:
    from simulators.bench_reader import PcscCardDesk

log = structlog.get_logger(__name__)

Event = dict[str, Any]
Send = Callable[[Event], None]
Clock = Callable[[], float]

#: A connector's fields that only a wired bench has (simulators/bench_hardware.py).
WIRED_FIELDS = ("coil", "coil_off_at", "contactor_fault", "rcd_tripped", "diode_ok", "leds", "pilot_reads")
STATUS_FIELDS = (
    "connector", "plugged", "ev_max_current", "paused", "pilot", "offer_a",
    "contactor_closed", "current_a", "power_w", "energy_wh", "locked", "lock_jammed",
    "meter_silent", "meter_stale", "meter_requests",
    *WIRED_FIELDS,
)  # fmt: skip
BENCH_FIELDS = ("link", "link_accepted", "agent_connected", "estop", "reader", "reader_plugged", "card_taps",
                "screen", *GRID_FIELDS)
#: How long a new hardware-socket connection has to name its wire role before it is
#: taken for a sim driver's link.
ROLE_WAIT_S = 0.2
#: Fields of a connector on a bench without wiring (no GPIO, no ADS1115).
UNWIRED = dict.fromkeys(WIRED_FIELDS)
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a is not None and a >= b,
    "le": lambda a, b: a is not None and a <= b,
    "contains": lambda a, b: isinstance(a, str) and isinstance(b, str) and b in a,
}


def _number(name: str, value: Any, *, minimum: float = 0.0, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if value < minimum or (positive and value <= 0):
        raise ValueError(f"{name} must be {'positive' if positive else f'>= {minimum:g}'}, not {value!r}")
    return float(value)


def _card_uid(uid: Any) -> str:
    if not isinstance(uid, str) or not uid.strip():
        raise ValueError(f"uid must be a non-empty hex string, not {uid!r}")
    normalised = uid.strip().upper()
    if any(c not in string.hexdigits for c in normalised):
        raise ValueError(f"uid must be hexadecimal, not {uid!r}")
    return normalised


class Bench:
    """Connectors, EVs and the agents listening to them; every change goes through here."""

    def __init__(
        self,
        connectors: int = 1,
        *,
        phases: int = 3,
        voltage: float = 230.0,
        initial_energy_wh: float = 0.0,
        proxy: LinkProxy | None = None,
        meters: MeterSimulator | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        wiring: BenchWiring | None = None,
        pwm_root: Path | None = None,
        card_desk: PcscCardDesk | None = None,
        grid_unit: int | None = None,
    ) -> None:
        if connectors < 1:
            raise ValueError(f"a bench needs at least one connector, not {connectors}")
        self.silent_meters: set[int] = set()  # meters that stopped answering (fault injection)
        # Meters whose registers froze (fault injection): the reading the JSON socket repeats.
        self.stale_meters: dict[int, dict[str, Any]] = {}
        self.evs = {
            n: EvConnector(phases=phases, voltage=voltage, energy_wh=initial_energy_wh)
            for n in range(1, connectors + 1)
        }
        if meters is not None:
            check_meters(meters, connectors, phases, grid_unit)
        self.meters = meters
        #: The building's meter: the house load plus the EVs (None: the bench has none).
        self.grid = GridMeter(meters[grid_unit], voltage) if meters is not None and grid_unit is not None else None
        self.proxy = proxy
        self._clock = clock
        self._wall_clock = wall_clock
        self._agents: list[Send] = []
        self._pilots = {n: ev.pilot for n, ev in self.evs.items()}
        self._changed = asyncio.Event()
        self._stopping = False
        self._waiters = 0
        #: The PC/SC reader cards are tapped on (None: cards go to the sim reader over
        #: the hardware socket).
        self.card_desk = card_desk
        self._socket_taps = 0
        self.wired: WiredHardware | None = None
        if wiring is not None:
            if pwm_root is None:
                raise ValueError("a wired bench needs a directory for its PWM tree (pwm_root)")
            self.wired = WiredHardware(wiring, pwm_root, on_contactor=self._contactor_moved,
                                       on_lock=self._lock_moved, on_offer=self._pwm_offer, on_change=self._settle)
        self._drive_meters()  # the units show the EV model from their very first request

    # -- plumbing ---------------------------------------------------------------------

    def connector(self, number: Any) -> EvConnector:
        if isinstance(number, bool) or not isinstance(number, int) or number not in self.evs:
            raise LookupError(f"unknown connector {number!r}; this bench has connectors 1..{len(self.evs)}")
        return self.evs[number]

    def _now(self) -> float:
        """Integrate every meter up to now and show the result on the Modbus units."""
        now = self._clock()
        for ev in self.evs.values():
            ev.advance(now)
        if self.grid is not None:
            self.grid.advance(now)
        self._drive_meters()
        return now

    def _drive_meters(self) -> None:
        """Copy the EV model's reading into each connector's Modbus unit (unit id = connector).

        A meter with more phases than the connector uses (a single-phase EV behind a
        three-phase meter) reads the supply's voltage and no current on the others.
        """
        if self.meters is None:
            return
        wall = self._wall_clock()
        for n, ev in self.evs.items():
            reading = ev.reading(wall)
            values = self.meters[n].values
            idle = self.meters[n].model.phases - ev.phases
            values.energy_wh = reading.energy_wh
            values.power_w = reading.power_w
            values.currents = [*reading.current_a, *[0.0] * idle]
            values.voltages = [*reading.voltage_v, *[ev.voltage] * idle]
        if self.grid is not None:
            self.grid.show([(ev.current_a,) * ev.phases for ev in self.evs.values()],
                           sum(ev.energy_wh for ev in self.evs.values()))

    def _settle(self) -> None:
        """After any change: show it on the meters and the pilot lines, tell agents about
        pilot changes and wake the waiters."""
        self._drive_meters()
        for n, ev in self.evs.items():
            if self.wired is not None:
                self.wired.show_pilot(n, ev.pilot)
            if ev.pilot is not self._pilots[n]:
                self._pilots[n] = ev.pilot
                self._broadcast({"event": "pilot", "connector": n, "state": ev.pilot.value})
        self._changed.set()
        self._changed = asyncio.Event()

    def _broadcast(self, event: Event) -> int:
        for send in list(self._agents):
            send(event)
        return len(self._agents)

    async def stop(self) -> None:
        """Answer every pending ``wait_for`` (with an error) so no control client hangs."""
        self._stopping = True
        self._settle()
        async with asyncio.timeout(1.0):
            while self._waiters:
                await asyncio.sleep(0.01)

    async def run(self, tick: float) -> None:
        """Integrate the meters every ``tick`` seconds so waiters see energy grow; a wired
        bench also follows its PWM outputs. Runs until cancelled."""
        async with asyncio.TaskGroup() as tg:
            if self.wired is not None:
                self.wired.start()
                tg.create_task(self.wired.run())
            while True:
                await asyncio.sleep(tick)
                self._now()
                self._settle()

    # -- the agent's side (hardware) ---------------------------------------------------

    def attach_agent(self, send: Send) -> None:
        """A controller connected: give it the present pilot state of every connector."""
        self._agents.append(send)
        for n, state in self._pilots.items():
            send({"event": "pilot", "connector": n, "state": state.value})
        log.info("agent connected", agents=len(self._agents))
        self._settle()

    def detach_agent(self, send: Send) -> None:
        """A controller went away; with none left, power is cut as on a dead controller
        (a wired bench's contactors and PWM follow their own lines instead)."""
        with contextlib.suppress(ValueError):
            self._agents.remove(send)
        if not self._agents and self.wired is None:
            now = self._now()
            for ev in self.evs.values():
                ev.set_contactor(False, now)
                ev.set_offer(0.0, now)
            log.info("agent disconnected; contactors opened, offers withdrawn")
        self._settle()

    def read_meter(self, connector: Any) -> dict[str, Any] | None:
        """The meter's registers as the JSON socket serves them: None when the meter is
        silent, the reading frozen at the fault while it is stale (fault injection)."""
        ev = self.connector(connector)
        if connector in self.silent_meters:
            return None
        if connector in self.stale_meters:
            return self.stale_meters[connector]
        self._now()
        return self._reading(ev)

    def _reading(self, ev: EvConnector) -> dict[str, Any]:
        reading = ev.reading(self._wall_clock())
        return {
            "timestamp": reading.timestamp,
            "energy_wh": reading.energy_wh,
            "power_w": reading.power_w,
            "current_a": list(reading.current_a),
            "voltage_v": list(reading.voltage_v),
        }

    # -- a wired bench: the devices tell the EV model what really happened -------------

    def _contactor_moved(self, connector: int, closed: bool) -> None:
        ev = self.evs[connector]
        if ev.contactor_closed != closed:
            ev.set_contactor(closed, self._now())
        self._settle()

    def _lock_moved(self, connector: int, locked: bool) -> None:
        self.evs[connector].locked = locked
        self._settle()

    def _pwm_offer(self, connector: int, current_a: float) -> None:
        self.evs[connector].set_offer(current_a, self._now())
        self._settle()

    def _refuse_if_wired(self, what: str) -> None:
        if self.wired is not None:
            raise ValueError(f"this bench is wired: the {what} is driven through its GPIO/PWM lines, not this "
                             "socket (start the bench with --wiring none for the sim drivers)")

    def _wiring(self) -> WiredHardware:
        if self.wired is None:
            raise ValueError("this bench has no wiring (started with --wiring none)")
        return self.wired

    def set_rcd(self, connector: Any, tripped: Any) -> None:
        """The connector's RCD trips (or is reset by hand)."""
        self.connector(connector)
        if not isinstance(tripped, bool):
            raise ValueError(f"tripped must be true or false, not {tripped!r}")
        self._wiring().set_rcd(connector, tripped)
        self._settle()

    def set_estop(self, pressed: Any) -> None:
        if not isinstance(pressed, bool):
            raise ValueError(f"pressed must be true or false, not {pressed!r}")
        self._wiring().set_estop(pressed)
        self._settle()

    def set_contactor_fault(self, connector: Any, fault: Any) -> None:
        """Weld the contactor's contacts, make them fail to close, or repair them (null)."""
        self.connector(connector)
        self._wiring().set_contactor_fault(connector, fault)
        self._settle()

    def set_diode(self, connector: Any, ok: Any) -> None:
        """The EV's pilot diode shorted (false) or sound again (true)."""
        self.connector(connector)
        if not isinstance(ok, bool):
            raise ValueError(f"ok must be true or false, not {ok!r}")
        self._wiring().set_diode(connector, ok)
        self._settle()

    def drive_contactor(self, connector: Any, closed: Any) -> bool:
        """Switch a contactor; returns the feedback contact's reading."""
        self._refuse_if_wired("contactor")
        ev = self.connector(connector)
        if not isinstance(closed, bool):
            raise ValueError(f"closed must be true or false, not {closed!r}")
        ev.set_contactor(closed, self._now())
        self._settle()
        return ev.contactor_closed

    def drive_lock(self, connector: Any, locked: Any) -> bool:
        """Lock or unlock a connector's cable; returns the lock's feedback."""
        self._refuse_if_wired("cable lock")
        ev = self.connector(connector)
        if not isinstance(locked, bool):
            raise ValueError(f"locked must be true or false, not {locked!r}")
        return ev.drive_lock(locked)

    def silence_meter(self, connector: Any, silent: Any) -> None:
        """The meter stops answering at all (no power, broken bus); its register keeps counting."""
        self.connector(connector)
        if not isinstance(silent, bool):
            raise ValueError(f"silent must be true or false, not {silent!r}")
        (self.silent_meters.add if silent else self.silent_meters.discard)(connector)
        if self.meters is not None:
            self.meters[connector].silent = silent
        self._settle()

    def _grid(self) -> GridMeter:
        if self.grid is None:
            raise ValueError("this bench has no grid meter (started with --grid-unit 0)")
        return self.grid

    def set_house_load(self, current_a: Any) -> None:
        """The house's own load in A per phase (one number for every phase, or one per phase)."""
        grid = self._grid()
        values = current_a if isinstance(current_a, list) else [current_a]
        amperes = [_number("current_a", a) for a in values]
        grid.set_house_load(amperes[0] if len(amperes) == 1 else amperes, self._now())
        log.info("house load", current_a=grid.house_a)
        self._settle()

    def silence_grid_meter(self, silent: Any) -> None:
        """The grid meter stops answering (or answers again); the house and the EVs go on."""
        if not isinstance(silent, bool):
            raise ValueError(f"silent must be true or false, not {silent!r}")
        self._grid().set_silent(silent)
        self._settle()

    def freeze_meter(self, connector: Any, stale: Any) -> None:
        """The meter keeps answering with the very same registers (hung firmware), on the
        Modbus line and on the JSON socket alike; unfrozen, it shows the live register."""
        ev = self.connector(connector)
        if not isinstance(stale, bool):
            raise ValueError(f"stale must be true or false, not {stale!r}")
        if stale and connector not in self.stale_meters:
            self._now()
            self.stale_meters[connector] = self._reading(ev)
        elif not stale:
            self.stale_meters.pop(connector, None)
        if self.meters is not None:
            self.meters[connector].stale = stale
        self._settle()

    def set_lock(self, connector: Any, locked: Any) -> None:
        """Put the lock where a person (or a power cut) left it, whatever the agent said."""
        ev = self.connector(connector)
        if not isinstance(locked, bool):
            raise ValueError(f"locked must be true or false, not {locked!r}")
        ev.locked = locked
        if self.wired is not None:
            self.wired.place_lock(connector, locked)

    def jam_lock(self, connector: Any, jammed: Any) -> None:
        ev = self.connector(connector)
        if not isinstance(jammed, bool):
            raise ValueError(f"jammed must be true or false, not {jammed!r}")
        ev.lock_jammed = jammed
        if self.wired is not None:
            self.wired.jam_lock(connector, jammed)

    def offer(self, connector: Any, current_a: Any) -> None:
        self._refuse_if_wired("pilot's PWM")
        ev = self.connector(connector)
        ev.set_offer(_number("current_a", current_a), self._now())
        self._settle()

    # -- the EV's, the card holder's and the network's side (control) ------------------

    def plug(self, connector: Any, max_current: Any = 32) -> None:
        ev = self.connector(connector)
        ev.plug(_number("max_current", max_current, positive=True), self._now())
        self._settle()

    def unplug(self, connector: Any) -> None:
        self.connector(connector).unplug(self._now())
        self._settle()

    def set_paused(self, connector: Any, paused: bool) -> None:
        ev = self.connector(connector)
        if not ev.plugged:
            raise ValueError(f"no EV is plugged into connector {connector}")
        ev.set_paused(paused, self._now())
        self._settle()

    async def tap(self, uid: Any) -> int:
        """Present a card to the reader. Returns how many agents received it: on the
        socket reader the agents listening, on the PC/SC reader the times a driver read
        the card's UID (0: nobody did)."""
        uid = _card_uid(uid)
        if self.card_desk is None:
            self._socket_taps += 1
            delivered = self._broadcast({"event": "card", "uid": uid})
        else:
            try:
                parse_uid(uid)
            except VirtualCardError as exc:
                raise ValueError(str(exc)) from None
            delivered = await self.card_desk.tap(uid)
        log.info("card tapped", uid=uid, delivered=delivered)
        self._settle()
        return delivered

    def _card_desk(self) -> PcscCardDesk:
        if self.card_desk is None:
            raise ValueError("this bench's cards go to the sim reader over its socket (start it with --reader pcsc "
                             "for a PC/SC reader that can be unplugged)")
        return self.card_desk

    async def set_reader_plugged(self, plugged: Any) -> None:
        """Pull the PC/SC reader out (pcscd loses it) or plug it back in."""
        if not isinstance(plugged, bool):
            raise ValueError(f"plugged must be true or false, not {plugged!r}")
        await self._card_desk().set_plugged(plugged)
        self._settle()

    async def restart_pcscd(self) -> None:
        await self._card_desk().restart_pcscd()
        self._settle()

    def set_link(self, state: Any) -> None:
        if self.proxy is None:
            raise ControlError("no link proxy; start the bench with --link-listen and --link-upstream")
        if state == "cut":
            self.proxy.cut()
        elif state == "stall":
            self.proxy.stall()
        elif state == "up":
            self.proxy.restore()
        else:
            raise ValueError(f'state must be "cut", "stall" or "up", not {state!r}')
        self._settle()

    def set_pilot_error(self, connector: Any, state: Any) -> None:
        ev = self.connector(connector)
        allowed = [s.value for s in ERROR_STATES]
        if state not in allowed:
            raise ValueError(f"state must be one of {', '.join(allowed)}, not {state!r}")
        ev.set_pilot_error(PilotState(state), self._now())
        self._settle()

    def clear_pilot_error(self, connector: Any) -> None:
        self.connector(connector).set_pilot_error(None, self._now())
        self._settle()

    def screen(self) -> dict[str, Any]:
        """The display's rows as a person reads them, and its backlight."""
        return self._wiring().screen()

    def set_display_plugged(self, plugged: Any) -> None:
        if not isinstance(plugged, bool):
            raise ValueError(f"plugged must be true or false, not {plugged!r}")
        self._wiring().set_display_plugged(plugged)

    def status(self) -> dict[str, Any]:
        self._now()
        return {
            "connectors": [self._connector_status(n, ev) | self._meter_status(n)
                           | (self.wired.status(n) if self.wired is not None else UNWIRED)
                           for n, ev in self.evs.items()],
            "link": None if self.proxy is None else self.proxy.state,
            "link_accepted": None if self.proxy is None else self.proxy.accepted,
            "agent_connected": bool(self._agents),
            "estop": None if self.wired is None else self.wired.estop_pressed(),
            "reader": "socket" if self.card_desk is None else "pcsc",
            "reader_plugged": None if self.card_desk is None else self.card_desk.plugged,
            "card_taps": self._socket_taps if self.card_desk is None else self.card_desk.taps,
            "screen": None if self.wired is None else self.wired.screen_text(),
            **(self.grid.status() if self.grid is not None else dict.fromkeys(GRID_FIELDS)),
        }

    @staticmethod
    def _connector_status(n: int, ev: EvConnector) -> dict[str, Any]:
        return {
            "connector": n,
            "plugged": ev.plugged,
            "ev_max_current": ev.ev_max_current,
            "paused": ev.paused,
            "pilot": ev.pilot.value,
            "offer_a": ev.offer_a,
            "contactor_closed": ev.contactor_closed,
            "current_a": ev.current_a,
            "power_w": ev.power_w,
            "energy_wh": round(ev.energy_wh, 3),
            "locked": ev.locked,
            "lock_jammed": ev.lock_jammed,
        }

    def _meter_status(self, n: int) -> dict[str, Any]:
        return {
            "meter_silent": n in self.silent_meters,
            "meter_stale": n in self.stale_meters,
            "meter_requests": 0 if self.meters is None else self.meters[n].requests,
        }

    def _field(self, connector: Any, field: Any) -> Any:
        if field in BENCH_FIELDS:
            return self.status()[field]
        if field not in STATUS_FIELDS:
            known = ", ".join(STATUS_FIELDS[1:] + BENCH_FIELDS)
            raise ValueError(f"unknown field {field!r}; known: {known}")
        self.connector(connector)
        return self.status()["connectors"][connector - 1][field]

    async def wait_for(
        self, field: Any, value: Any, connector: Any = None, timeout: Any = 10, op: Any = "eq"
    ) -> Any:
        """Wait until a status field compares true with ``value``; returns its value."""
        timeout = _number("timeout", timeout)
        compare = COMPARISONS.get(op)
        if compare is None:
            raise ValueError(f"op must be one of {', '.join(COMPARISONS)}, not {op!r}")
        deadline = self._clock() + timeout
        self._waiters += 1
        try:
            while not compare(current := self._field(connector, field), value):
                remaining = deadline - self._clock()
                if self._stopping:
                    raise ControlError("the bench is stopping")
                if remaining <= 0:
                    where = "" if field in BENCH_FIELDS else f"connector {connector} "
                    raise ControlError(
                        f"timed out after {timeout:g} s waiting for {where}{field} {op} "
                        f"{json.dumps(value)}; last value {json.dumps(current)}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
            return current
        except TypeError as exc:
            raise ValueError(f"cannot compare {field} with {value!r}") from exc
        finally:
            self._waiters -= 1

    def commands(self) -> CommandTable:
        """The control channel's commands, one per thing a person can do to the bench."""
        table = CommandTable()

        async def plug(connector: Any, max_current: Any = 32) -> None:
            self.plug(connector, max_current)

        async def unplug(connector: Any) -> None:
            self.unplug(connector)

        async def pause(connector: Any) -> None:
            self.set_paused(connector, True)

        async def resume(connector: Any) -> None:
            self.set_paused(connector, False)

        async def tap(uid: Any) -> dict[str, Any]:
            return {"delivered": await self.tap(uid)}

        async def reader(plugged: Any) -> None:
            await self.set_reader_plugged(plugged)

        async def pcscd_restart() -> None:
            await self.restart_pcscd()

        async def link(state: Any) -> dict[str, Any]:
            self.set_link(state)
            return {"link": state}

        async def pilot_error(connector: Any, state: Any) -> None:
            self.set_pilot_error(connector, state)

        async def pilot_clear(connector: Any) -> None:
            self.clear_pilot_error(connector)

        async def lock_jam(connector: Any, jammed: Any = True) -> None:
            self.jam_lock(connector, jammed)

        async def lock_set(connector: Any, locked: Any = True) -> None:
            self.set_lock(connector, locked)

        async def meter_silent(connector: Any, silent: Any = True) -> None:
            self.silence_meter(connector, silent)

        async def meter_stale(connector: Any, stale: Any = True) -> None:
            self.freeze_meter(connector, stale)

        async def rcd(connector: Any, tripped: Any = True) -> None:
            self.set_rcd(connector, tripped)

        async def estop(pressed: Any = True) -> None:
            self.set_estop(pressed)

        async def contactor_fault(connector: Any, fault: Any = "welded") -> None:
            self.set_contactor_fault(connector, fault)

        async def pilot_diode(connector: Any, ok: Any = False) -> None:
            self.set_diode(connector, ok)

        async def house_load(current_a: Any) -> None:
            self.set_house_load(current_a)

        async def grid_meter_silent(silent: Any = True) -> None:
            self.silence_grid_meter(silent)

        async def status() -> dict[str, Any]:
            return self.status()

        async def screen() -> dict[str, Any]:
            return self.screen()

        async def display(plugged: Any) -> None:
            self.set_display_plugged(plugged)

        async def wait_for(
            field: Any, value: Any, connector: Any = None, timeout: Any = 10, op: Any = "eq"
        ) -> dict[str, Any]:
            return {"value": await self.wait_for(field, value, connector, timeout, op)}

        for func in (plug, unplug, pause, resume, tap, reader, pcscd_restart, link, pilot_error, pilot_clear, lock_jam, lock_set,
                     meter_silent, meter_stale, rcd, estop, contactor_fault, pilot_diode, house_load,
                     grid_meter_silent, status, screen, display, wait_for):
            table.add(func.__name__, func)
        return table


def check_meters(meters: MeterSimulator, connectors: int, phases: int, grid_unit: int | None = None) -> None:
    """One unit per connector, numbered like the connectors, each measuring every phase used,
    and the grid meter's unit when there is one."""
    wanted = set(range(1, connectors + 1))
    if grid_unit is not None and grid_unit in wanted:
        raise ValueError(f"the grid meter's unit id {grid_unit} is a connector's (1 to {connectors})")
    if grid_unit is not None:
        wanted.add(grid_unit)
    if set(meters.units) != wanted:
        raise ValueError(f"the meters have unit ids {sorted(meters.units)}; a bench with {connectors} "
                         f"connector(s) needs exactly {sorted(wanted)} (unit id = connector"
                         f"{', and the grid meter' if grid_unit is not None else ''})")
    for unit in meters.units.values():
        if unit.model.phases < phases:
            raise ValueError(f"meter model {unit.model.key} measures {unit.model.phases} phase(s); "
                             f"connectors with {phases} phases need a {phases}-phase meter")


class HardwareServer:
    """The hardware socket: JSON lines between the bench and the agent's sim drivers."""

    def __init__(self, bench: Bench, path: str | os.PathLike[str]) -> None:
        self.bench = bench
        self.path = Path(path)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)  # e.g. the agent's state directory
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path), limit=MAX_LINE)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        # Let each handler see its end of file and finish, rather than be cancelled at exit.
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def request(self, message: Any) -> dict[str, Any] | None:
        """Answer one request (None: a silent device, no answer); never raises, errors
        become ``ok: false`` replies."""
        if not isinstance(message, dict):
            return {"id": None, "ok": False, "error": "a request is a JSON object"}
        reply: dict[str, Any] = {"id": message.get("id")}
        op = message.get("op")
        try:
            if op == "hello":
                reply["connectors"] = len(self.bench.evs)
            elif op == "read_meter":
                reading = self.bench.read_meter(message.get("connector"))
                if reading is None:
                    return None  # a silent meter does not answer at all
                reply["reading"] = reading
            elif op == "contactor":
                reply["feedback"] = self.bench.drive_contactor(
                    message.get("connector"), message.get("closed")
                )
            elif op == "offer":
                self.bench.offer(message.get("connector"), message.get("current_a"))
            elif op == "lock":
                reply["locked"] = self.bench.drive_lock(message.get("connector"), message.get("locked"))
            else:
                raise ValueError(f"unknown op {op!r}; known: hello, read_meter, contactor, offer, lock")
        except (ValueError, LookupError) as exc:
            return {"id": reply["id"], "ok": False, "error": str(exc)}
        return {**reply, "ok": True}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(event: Event) -> None:
            if not writer.is_closing():
                writer.write(json.dumps(event).encode() + b"\n")

        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._writers.add(writer)
        try:
            try:
                # A wire transport says its role at once; a sim driver's link may stay quiet
                # until it needs something, yet is owed the pilot states right away.
                first = await asyncio.wait_for(reader.readline(), ROLE_WAIT_S)
            except TimeoutError:
                first = b"\n"
            role = _attach_role(first)
            if role is None:
                await self._serve_agent(first, reader, writer, send)
            elif self.bench.wired is None:
                send({"errno": 19, "error": "this bench has no wiring (started with --wiring none)"})
            elif role == "pins":
                await self.bench.wired.serve_pins(reader, send)
            elif role == "i2c":
                await self.bench.wired.serve_i2c(reader, send)
            else:
                send({"errno": 22, "error": f"unknown role {role!r}; known: pins, i2c"})
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            self._handlers.discard(handler)
            writer.close()

    async def _serve_agent(self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           send: Send) -> None:
        """The sim drivers' JSON requests, and the pilot and card events pushed to them."""
        self.bench.attach_agent(send)
        try:
            line = first
            while line:
                if not line.strip():
                    line = await reader.readline()
                    continue
                try:
                    message = json.loads(line)
                except json.JSONDecodeError as exc:
                    reply: dict[str, Any] | None = {"id": None, "ok": False, "error": f"not JSON: {exc}"}
                else:
                    reply = self.request(message)
                if reply is not None:
                    send(reply)
                await writer.drain()
                line = await reader.readline()
        finally:
            self.bench.detach_agent(send)


def _attach_role(line: bytes) -> str | None:
    """The role a connection asks for with ``{"op": "attach", "role": ...}``; None: a sim driver's requests."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("op") == "attach":
        return str(message.get("role"))
    return None
