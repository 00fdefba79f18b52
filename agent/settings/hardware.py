"""The hardware role sections: ``[meter]``, ``[reader]``, ``[pilot]``, ``[contactor]``,
``[lock]``, ``[safety]``, ``[indicator]``, ``[display]`` and ``[gpio]``.

A role's ``driver`` key picks the driver module, and the driver decides which other keys
the section may hold (Klipper's "section = role, driver = module"): a Modbus meter needs
a port and unit ids, the simulated one does not, and a key that does not belong to the
chosen driver is an error that says so. Keys shared by every driver of a role (how a
failing meter is treated) live in the role's base class.

Per-connector values are arrays in connector order (``unit_ids = [1, 2]`` for
connectors 1 and 2); the loader checks their length against ``connectors.count``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.settings.rules import Choice, DeviceName, Flag, Host, Integer, IntList, Number, PathValue, Text, setting

#: GPIO numbers (BCM numbering) on a Raspberry Pi header and compute modules.
PINS = IntList(0, 53, "GPIO numbers (BCM)")
ADC_INPUTS = IntList(0, 3, "ADS1115 inputs (AIN0..AIN3)")
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
UID_FORMATS = ("hex", "hex-reversed", "decimal", "decimal-reversed")
PIN_FACTORIES = ("lgpio", "rpigpio", "native", "mock", "bench")
I2C_TRANSPORTS = ("i2c-dev", "bench")
METER_FAILURE_POLICIES = ("stop", "continue")


def _frozen(cls: type) -> type:
    return dataclass(frozen=True, slots=True, kw_only=True)(cls)


# ------------------------------------------------------------------ meter
@_frozen
class MeterSettings:
    """The energy meter role; keys here apply to every meter driver."""

    driver: str = setting(Choice(("sim", "modbus")), "sim", doc='meter driver: "modbus", or "sim" (the bench)')
    poll_interval: float = setting(Number(0.2, 60, "seconds"), 1.0, unit="seconds",
                                   doc="how often each meter is read")
    fault_after: float = setting(
        Number(1, 60, "seconds"), 5.0, unit="seconds",
        doc="a meter that has not answered, or has returned the very same frame, for this long is a "
            "PowerMeterFailure")
    on_failure: str = setting(
        Choice(METER_FAILURE_POLICIES), "stop",
        doc='on PowerMeterFailure: "stop" withholds energy (Faulted) until the meter answers again; '
            '"continue" keeps charging and reports PowerMeterFailure as the error code of an otherwise unchanged status (a warning)')


@_frozen
class ModbusMeterSettings(MeterSettings):
    """One Modbus meter per connector, on one RS-485 bus (RTU) or one TCP gateway/meter."""

    model: str = setting(Text(1, 200), example='"sdm630"',
                         doc="register map: a file name in config/meters/ without .toml, or a path to one")
    transport: str = setting(Choice(("rtu", "tcp")), "rtu", doc='"rtu" (RS-485 serial) or "tcp"')
    port: str = setting(DeviceName(), "/dev/ttyUSB0", doc="serial device of the RS-485 adapter (rtu)")
    baudrate: int = setting(Choice(BAUD_RATES), 9600, unit="baud", doc="serial speed (rtu)")
    parity: str = setting(Choice(("N", "E", "O")), "N", doc="serial parity: N, E or O (rtu)")
    stopbits: int = setting(Choice((1, 2)), 1, doc="serial stop bits (rtu)")
    host: str = setting(Host(), "", doc="meter or gateway host name or address (tcp)")
    tcp_port: int = setting(Integer(1, 65535), 502, doc="Modbus TCP port (tcp)")
    unit_ids: tuple[int, ...] = setting(IntList(1, 247, "Modbus unit ids"), (1,),
                                        doc="the meter's unit id per connector, in connector order")
    timeout: float = setting(Number(0.05, 10, "seconds"), 0.5, unit="seconds",
                             doc="how long to wait for one reply")


# ------------------------------------------------------------------ grid meter
@_frozen
class GridMeterSettings:
    """The grid meter role: a meter at the building's connection, read only for ``[site]``."""

    driver: str = setting(Choice(("none", "modbus")), "none",
                          doc='grid meter driver: "modbus", or "none" (the site limit shares [site] max_current '
                              "alone)")
    poll_interval: float = setting(Number(0.2, 10, "seconds"), 1.0, unit="seconds",
                                   doc="how often the grid meter is read; a house load step is answered within "
                                       "about this plus the EV's own reaction (up to 5 s, IEC 61851-1)")
    fault_after: float = setting(
        Number(0.5, 60, "seconds"), 3.0, unit="seconds",
        doc="a grid meter that has not answered, or has returned the very same frame, for this long is silent: "
            "the chargers share [site] fallback_current until it answers again")


@_frozen
class ModbusGridMeterSettings(GridMeterSettings):
    """A Modbus meter on the building's supply: its own line, or the connector meters' line with its own unit id."""

    model: str = setting(Text(1, 200), example='"sdm630"',
                         doc="register map: a file name in config/meters/ without .toml, or a path to one")
    transport: str = setting(Choice(("rtu", "tcp")), "rtu", doc='"rtu" (RS-485 serial) or "tcp"')
    port: str = setting(DeviceName(), "/dev/ttyUSB0",
                        doc="serial device of the RS-485 adapter (rtu); the connector meters' port shares their line")
    baudrate: int = setting(Choice(BAUD_RATES), 9600, unit="baud", doc="serial speed (rtu)")
    parity: str = setting(Choice(("N", "E", "O")), "N", doc="serial parity: N, E or O (rtu)")
    stopbits: int = setting(Choice((1, 2)), 1, doc="serial stop bits (rtu)")
    host: str = setting(Host(), "", doc="meter or gateway host name or address (tcp)")
    tcp_port: int = setting(Integer(1, 65535), 502, doc="Modbus TCP port (tcp)")
    unit_id: int = setting(Integer(1, 247), 1,
                           doc="the grid meter's unit id; on the connector meters' line it must differ from theirs")
    timeout: float = setting(Number(0.05, 10, "seconds"), 0.5, unit="seconds",
                             doc="how long to wait for one reply; on the connector meters' line it must be meter.timeout "
                                 "(their bus waits that long for every reply)")


# ------------------------------------------------------------------ reader
@_frozen
class ReaderSettings:
    """The RFID card reader role."""

    driver: str = setting(Choice(("sim", "pcsc", "none")), "sim",
                          doc='card reader driver: "pcsc", "none" (no reader: remote starts only), or "sim"')


@_frozen
class PcscReaderSettings(ReaderSettings):
    """A PC/SC reader (any CCID USB reader, through pcscd)."""

    name: str = setting(Text(0, 200), "", doc="part of the reader's PC/SC name; empty = the first reader")
    uid_format: str = setting(Choice(UID_FORMATS), "hex",
                              doc="how a card's UID becomes the idTag the backend knows")
    debounce: float = setting(Number(0.1, 10, "seconds"), 0.5, unit="seconds",
                              doc="a card must be away this long before the same card counts as a new tap")
    poll_interval: float = setting(Number(0.05, 2, "seconds"), 0.2, unit="seconds",
                                   doc="how often the reader is asked for a card")


# ------------------------------------------------------------------ pilot
@_frozen
class PilotSettings:
    """The control pilot (IEC 61851-1) role."""

    driver: str = setting(Choice(("sim", "ads1115")), "sim",
                          doc='control pilot driver: "ads1115" (I2C ADC + sysfs PWM), or "sim"')


@_frozen
class Ads1115PilotSettings(PilotSettings):
    """Pilot levels through an ADS1115 behind peak detectors, the offer by hardware PWM (docs/hardware.md)."""

    i2c_transport: str = setting(
        Choice(I2C_TRANSPORTS), "i2c-dev",
        doc='"i2c-dev" (the kernel\'s /dev/i2c-N), or "bench" (the simulated bench\'s ADS1115, through [sim] socket)')
    i2c_bus: int = setting(Integer(0, 31), 1, doc="I2C bus number (/dev/i2c-N)")
    address: int = setting(Choice((0x48, 0x49, 0x4A, 0x4B)), 0x48, doc="ADS1115 I2C address (72 to 75)")
    positive_inputs: tuple[int, ...] = setting(ADC_INPUTS, (0,),
                                               doc="ADC input of each connector's positive pilot peak")
    negative_inputs: tuple[int, ...] = setting(
        ADC_INPUTS, (1,), doc="ADC input of each connector's negative pilot peak (diode check); [] = none")
    proximity_inputs: tuple[int, ...] = setting(
        ADC_INPUTS, (), doc="ADC input of each socket outlet's proximity pilot; [] = tethered cables")
    pwm_chip: int = setting(Integer(0, 31), 0, doc="sysfs pwmchip number")
    pwm_channels: tuple[int, ...] = setting(IntList(0, 15, "PWM channels"), (0,),
                                            doc="PWM channel driving each connector's pilot")
    pwm_root: Path = setting(PathValue(), Path("/sys/class/pwm"), doc="where the pwmchips are (sysfs)")


# ------------------------------------------------------------------ contactor
@_frozen
class ContactorSettings:
    """The contactor role."""

    driver: str = setting(Choice(("sim", "gpio")), "sim", doc='contactor driver: "gpio", or "sim"')


@_frozen
class GpioContactorSettings(ContactorSettings):
    """A contactor coil on a GPIO output (through a driver transistor or relay), with its mirror contact."""

    pins: tuple[int, ...] = setting(PINS, (17,), doc="coil output of each connector's contactor")
    active_high: bool = setting(Flag(), True, doc="true when a high output energises the coil")
    feedback_pins: tuple[int, ...] = setting(PINS, (), doc="mirror contact input per connector; [] = none")
    feedback_active_high: bool = setting(Flag(), True, doc="true when a high input means the contactor is closed")
    feedback_timeout: float = setting(Number(0.05, 5, "seconds"), 0.5, unit="seconds",
                                      doc="how long the mirror contact may take to follow the coil")


# ------------------------------------------------------------------ lock
@_frozen
class LockSettings:
    """The cable lock role: socket outlets have one, tethered cables do not."""

    driver: str = setting(Choice(("none", "sim", "gpio")), "none",
                          doc='cable lock driver: "none" for a tethered cable (UnlockConnector answers '
                              'NotSupported), "gpio", or "sim"')


@_frozen
class GpioLockSettings(LockSettings):
    """A solenoid (one held output) or a motor actuator (lock and unlock pulses), with a position switch."""

    lock_pins: tuple[int, ...] = setting(PINS, (5,), doc="output that locks each connector's cable")
    unlock_pins: tuple[int, ...] = setting(PINS, (), doc="motor actuators: output that unlocks; [] = solenoid")
    feedback_pins: tuple[int, ...] = setting(PINS, (6,), doc="lock position switch per connector")
    feedback_active_high: bool = setting(Flag(), True, doc="true when a high input means locked")
    pulse: float = setting(Number(0.05, 5, "seconds"), 0.3, unit="seconds", doc="motor pulse length")
    timeout: float = setting(Number(0.1, 10, "seconds"), 1.0, unit="seconds",
                             doc="how long the position switch may take to confirm")


# ------------------------------------------------------------------ safety inputs
@_frozen
class SafetySettings:
    """Protective inputs: RCD/RCM per connector and the emergency stop."""

    driver: str = setting(Choice(("none", "gpio")), "none",
                          doc='"gpio", or "none" when the RCD and emergency stop act on the supply by themselves')


@_frozen
class GpioSafetySettings(SafetySettings):
    rcd_pins: tuple[int, ...] = setting(PINS, (), doc="RCD/RCM trip contact per connector; [] = none")
    rcd_active_high: bool = setting(Flag(), True, doc="true when a high input means tripped")
    estop_pin: int = setting(Integer(-1, 53), -1, doc="emergency stop input; -1 = none")
    estop_active_high: bool = setting(Flag(), False,
                                      doc="false for a normally-closed button (low = pressed or a broken wire)")
    debounce: float = setting(Number(0.001, 1, "seconds"), 0.02, unit="seconds",
                              doc="how long an input must hold a level before it counts")


# ------------------------------------------------------------------ indicator
@_frozen
class IndicatorSettings:
    """The LEDs that show the driver what is happening."""

    driver: str = setting(Choice(("none", "gpio")), "none", doc='"gpio", or "none"')


@_frozen
class GpioIndicatorSettings(IndicatorSettings):
    green_pins: tuple[int, ...] = setting(PINS, (), doc="green LED per connector; [] = none")
    blue_pins: tuple[int, ...] = setting(PINS, (), doc="blue LED per connector; [] = none")
    red_pins: tuple[int, ...] = setting(PINS, (), doc="red LED per connector; [] = none")
    active_high: bool = setting(Flag(), True, doc="true when a high output lights an LED")


# ------------------------------------------------------------------ display
#: A PCF8574's address with jumpers A0..A2 (0x20..0x27), and a PCF8574A's (0x38..0x3F).
DISPLAY_ADDRESSES = (*range(0x20, 0x28), *range(0x38, 0x40))
#: Backpack wirings (drivers/display/pins.py).
PIN_MAP_NAMES = ("pcf8574", "mjkdz")


@_frozen
class DisplaySettings:
    """The text display the driver reads at the charger."""

    driver: str = setting(Choice(("none", "hd44780")), "none",
                          doc='"hd44780" (a character LCD on a PCF8574 I2C backpack), or "none" (no display: '
                              "the LEDs, the log and the systemd status line)")


@_frozen
class Hd44780DisplaySettings(DisplaySettings):
    """A 16x2 or 20x4 (or other HD44780) character LCD on a PCF8574 I2C backpack (docs/hardware.md)."""

    i2c_transport: str = setting(
        Choice(I2C_TRANSPORTS), "i2c-dev",
        doc='"i2c-dev" (the kernel\'s /dev/i2c-N), or "bench" (the simulated bench\'s display, through [sim] socket)')
    i2c_bus: int = setting(Integer(0, 31), 1,
                           doc="I2C bus number (/dev/i2c-N); best not the pilot's (docs/hardware.md: a shorted "
                               "display cable would block the pilot's ADC and stop charging)")
    address: int = setting(Choice(DISPLAY_ADDRESSES), 0x27,
                           doc="the backpack's I2C address: 39 (0x27) with no jumper closed, down to 32 (0x20) with "
                               "A0, A1 and A2 closed; 56 to 63 (0x38 to 0x3F) for a PCF8574A")
    columns: int = setting(Choice((8, 16, 20, 24, 40)), 20, unit="characters", doc="characters per row")
    rows: int = setting(Choice((1, 2, 4)), 4, doc="rows of the display (16x2: 2, 20x4: 4)")
    pin_map: str = setting(Choice(PIN_MAP_NAMES), "pcf8574",
                           doc='how the backpack wires the expander: "pcf8574" (the common one: P0=RS, P1=RW, '
                               'P2=E, P3=backlight, P4..P7=D4..D7) or "mjkdz" (D4..D7 on P0..P3, backlight lit low)')
    layout: str = setting(Choice(("standard", "8x2")), "standard",
                          doc='"8x2" for a 16x1 module that is two 8-cell lines inside (cells 9 to 16 at DDRAM '
                              '0x40: most 16x1 modules; set "standard" they show only their first 8 characters), '
                              'else "standard"')


# ------------------------------------------------------------------ gpio
@_frozen
class GpioSettings:
    """How GPIO pins are reached (every gpio driver shares it)."""

    pin_factory: str = setting(
        Choice(PIN_FACTORIES), "lgpio",
        doc='gpiozero pin factory: "lgpio" (Raspberry Pi OS, every Pi), "rpigpio", "native", "mock" (no '
            'hardware: pins only in memory), or "bench" (the simulated bench\'s pins, through [sim] socket)')


#: role -> driver name -> the class holding that driver's keys.
DRIVER_SECTIONS: dict[str, dict[str, type]] = {
    "meter": {"sim": MeterSettings, "modbus": ModbusMeterSettings},
    "grid_meter": {"none": GridMeterSettings, "modbus": ModbusGridMeterSettings},
    "reader": {"sim": ReaderSettings, "none": ReaderSettings, "pcsc": PcscReaderSettings},
    "pilot": {"sim": PilotSettings, "ads1115": Ads1115PilotSettings},
    "contactor": {"sim": ContactorSettings, "gpio": GpioContactorSettings},
    "lock": {"none": LockSettings, "sim": LockSettings, "gpio": GpioLockSettings},
    "safety": {"none": SafetySettings, "gpio": GpioSafetySettings},
    "indicator": {"none": IndicatorSettings, "gpio": GpioIndicatorSettings},
    "display": {"none": DisplaySettings, "hd44780": Hd44780DisplaySettings},
}

#: Per-connector arrays: (role, driver, key, may be empty).
PER_CONNECTOR: tuple[tuple[str, str, str, bool], ...] = (
    ("meter", "modbus", "unit_ids", False),
    ("pilot", "ads1115", "positive_inputs", False),
    ("pilot", "ads1115", "negative_inputs", True),
    ("pilot", "ads1115", "proximity_inputs", True),
    ("pilot", "ads1115", "pwm_channels", False),
    ("contactor", "gpio", "pins", False),
    ("contactor", "gpio", "feedback_pins", True),
    ("lock", "gpio", "lock_pins", False),
    ("lock", "gpio", "unlock_pins", True),
    ("lock", "gpio", "feedback_pins", False),
    ("safety", "gpio", "rcd_pins", True),
    ("indicator", "gpio", "green_pins", True),
    ("indicator", "gpio", "blue_pins", True),
    ("indicator", "gpio", "red_pins", True),
)
