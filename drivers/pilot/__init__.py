"""Control pilot driver: an ADS1115 on I2C measures the pilot, a kernel PWM drives it.

Real hardware::

    bus = I2cBus(lambda: smbus2.SMBus(1), "/dev/i2c-1")
    pilot = AdcPilot(1, adc=Ads1115(bus, 0x48), positive_input=0, negative_input=1,
                     proximity_input=2, pwm=SysfsPwm(0, 0))

Wiring and the component values the scale factors assume: docs/hardware.md.
"""

from .ads1115 import Ads1115
from drivers.i2c import I2cBus, SMBusLike
from .pilot import AdcPilot
from .pwm import SysfsPwm
from .schedule import SampleSchedule

__all__ = ["AdcPilot", "Ads1115", "I2cBus", "SMBusLike", "SampleSchedule", "SysfsPwm"]
