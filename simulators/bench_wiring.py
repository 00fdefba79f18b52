"""How the simulated bench is wired: which GPIO, ADC input and PWM channel does what.

One table serves both ends: the bench builds its device models on these pins, and
:meth:`BenchWiring.agent_sections` writes the agent's hardware sections from it, so the
two cannot disagree. The layout is one a Raspberry Pi could have (docs/hardware.md):
I2C on GPIO2/3 for the ADS1115 and the display's backpack, the UART on GPIO14/15 for RS-485 and hardware PWM on
GPIO18/19 are left free, and every output is active high with a pull-down, so a
released line (a dead controller) reads low: coil off, lock released, LEDs dark.

A Pi's header has room for two connectors' worth of pins (nine each, plus the
emergency stop); a bigger charger would use an I/O expander, which the bench does not
model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ConnectorWiring:
    """One connector's pins (BCM numbers), ADC inputs and PWM channel."""

    coil: int
    mirror: int
    rcd: int
    lock: int  # a motor actuator: a pulse on lock moves it to locked, on unlock to unlocked
    unlock: int
    lock_feedback: int
    green: int
    blue: int
    red: int
    pilot_positive: int  # ADS1115 input of the positive peak detector
    pilot_negative: int  # ... and of the negative one (diode check)
    pwm_channel: int

    def agent_outputs(self) -> tuple[int, ...]:
        return (self.coil, self.lock, self.unlock, self.green, self.blue, self.red)

    def bench_outputs(self) -> tuple[int, ...]:
        return (self.mirror, self.rcd, self.lock_feedback)


CONNECTORS = (
    ConnectorWiring(coil=17, mirror=27, rcd=22, lock=5, unlock=4, lock_feedback=6, green=23, blue=24, red=25,
                    pilot_positive=0, pilot_negative=1, pwm_channel=0),
    ConnectorWiring(coil=16, mirror=20, rcd=21, lock=12, unlock=11, lock_feedback=13, green=7, blue=8, red=9,
                    pilot_positive=2, pilot_negative=3, pwm_channel=1),
)
ESTOP_PIN = 26  # normally closed: low = pressed (or a broken wire)
ADS1115_ADDRESS = 0x48
#: The 20x4 character display's PCF8574 backpack, no address jumper closed.
DISPLAY_ADDRESS = 0x27
DISPLAY_COLUMNS, DISPLAY_ROWS = 20, 4
PWM_CHIP = 0
PWM_CHANNELS = 2
MAX_CONNECTORS = len(CONNECTORS)


@dataclass(frozen=True, slots=True)
class BenchWiring:
    """The wiring of a bench with ``len(connectors)`` connectors."""

    connectors: tuple[ConnectorWiring, ...]
    estop: int = ESTOP_PIN

    @classmethod
    def for_connectors(cls, count: int) -> BenchWiring:
        if not 1 <= count <= MAX_CONNECTORS:
            raise ValueError(f"the wired bench has pins for 1 to {MAX_CONNECTORS} connectors, not {count} "
                             "(a Raspberry Pi header holds two connectors' contactor, RCD, lock and LEDs)")
        return cls(CONNECTORS[:count])

    def agent_outputs(self) -> set[int]:
        """Pins the agent drives (the bench listens)."""
        return {pin for c in self.connectors for pin in c.agent_outputs()}

    def bench_outputs(self) -> set[int]:
        """Pins the bench drives (the agent's inputs)."""
        return {pin for c in self.connectors for pin in c.bench_outputs()} | {self.estop}

    def agent_sections(self, *, pwm_root: Path, lock: bool) -> dict[str, dict[str, Any]]:
        """The agent's hardware sections for this wiring, reached through the bench socket.

        ``lock``: the connectors are socket outlets whose cable lock the agent drives
        (a tethered cable has none; the bench's lock then stays idle).
        """
        pins = {field: [getattr(c, field) for c in self.connectors] for field in ConnectorWiring.__slots__}
        sections: dict[str, dict[str, Any]] = {
            "pilot": {"driver": "ads1115", "i2c_transport": "bench", "address": ADS1115_ADDRESS,
                      "positive_inputs": pins["pilot_positive"], "negative_inputs": pins["pilot_negative"],
                      "pwm_chip": PWM_CHIP, "pwm_channels": pins["pwm_channel"], "pwm_root": str(pwm_root)},
            "contactor": {"driver": "gpio", "pins": pins["coil"], "feedback_pins": pins["mirror"]},
            "safety": {"driver": "gpio", "rcd_pins": pins["rcd"], "estop_pin": self.estop,
                       "estop_active_high": False},
            "indicator": {"driver": "gpio", "green_pins": pins["green"], "blue_pins": pins["blue"],
                          "red_pins": pins["red"]},
            "display": {"driver": "hd44780", "i2c_transport": "bench", "address": DISPLAY_ADDRESS,
                        "columns": DISPLAY_COLUMNS, "rows": DISPLAY_ROWS},
            "gpio": {"pin_factory": "bench"},
        }
        if lock:
            sections["lock"] = {"driver": "gpio", "lock_pins": pins["lock"], "unlock_pins": pins["unlock"],
                                "feedback_pins": pins["lock_feedback"]}
        return sections
