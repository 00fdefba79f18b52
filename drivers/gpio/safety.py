"""RCD/RCM trip inputs per connector and the emergency stop, as faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from gpiozero.pins import Factory

from drivers.gpio.faults import FaultFeed
from drivers.gpio.pins import WatchedInput
from drivers.protocols import DeviceError, Fault

NAME = "safety inputs"


class GpioSafetyInputs:
    """A :class:`~drivers.protocols.SafetyInputs` on GPIO inputs.

    ``*_active_high`` is the level of a *tripped* input. The defaults suit an RCD/RCM
    whose trip contact drives its input high, and a normally-closed emergency stop that
    holds its input high while released: pressing it, or a cut wire, reads low (tripped).
    A trip is reported ``debounce`` seconds after the input last changed, with no
    polling in between, because the agent opens the contactor on it. An input already
    tripped at ``open()`` is reported at once.
    """

    def __init__(self, *, factory: Factory, rcd_pins: dict[int, int], rcd_active_high: bool = True,
                 estop_pin: int | None = None, estop_active_high: bool = False, debounce: float = 0.02) -> None:
        used = list(rcd_pins.values()) + ([] if estop_pin is None else [estop_pin])
        if len(set(used)) != len(used):
            raise ValueError(f"{NAME}: each input needs its own pin, got RCD {rcd_pins} and e-stop {estop_pin}")
        self._feed = FaultFeed(NAME)
        self._inputs: list[tuple[WatchedInput, Callable[[bool], Fault]]] = []
        for connector, pin in sorted(rcd_pins.items()):
            make = self._rcd_fault(connector, pin)
            watched = WatchedInput(NAME, f"RCD input of connector {connector}", factory, pin,
                                   active_high=rcd_active_high, debounce=debounce,
                                   on_change=self._reporter(make))
            self._inputs.append((watched, make))
        if estop_pin is not None:
            make = self._estop_fault(estop_pin)
            watched = WatchedInput(NAME, "emergency stop input", factory, estop_pin,
                                   active_high=estop_active_high, debounce=debounce,
                                   on_change=self._reporter(make))
            self._inputs.append((watched, make))

    async def open(self) -> None:
        """Claim every input; report the ones already tripped."""
        tripped: list[Fault] = []
        try:
            for watched, make in self._inputs:
                if watched.open():
                    tripped.append(make(True))
        except DeviceError:
            await self.close()
            raise
        for fault in tripped:
            self._feed.put(fault)

    def faults(self) -> AsyncIterator[Fault]:
        return self._feed.faults()

    async def close(self) -> None:
        for watched, _ in self._inputs:
            watched.close()

    def _reporter(self, make: Callable[[bool], Fault]) -> Callable[[bool], None]:
        return lambda tripped: self._feed.put(make(tripped))

    @staticmethod
    def _rcd_fault(connector: int, pin: int) -> Callable[[bool], Fault]:
        def make(tripped: bool) -> Fault:
            state = "tripped" if tripped else "reset"
            return Fault(connector, "GroundFailure", tripped, f"RCD {state} (GPIO{pin})")
        return make

    @staticmethod
    def _estop_fault(pin: int) -> Callable[[bool], Fault]:
        def make(pressed: bool) -> Fault:
            state = "pressed" if pressed else "released"
            return Fault(0, "OtherError", pressed, f"emergency stop {state} (GPIO{pin})",
                         vendor_error_code="EmergencyStop")
        return make
