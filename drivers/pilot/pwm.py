"""The control pilot's 1 kHz PWM from a kernel PWM channel (sysfs ``pwmchipN/pwmM``).

The pilot generator circuit (docs/hardware.md) turns the PWM pin's high level into
+12 V and its low level into -12 V, so a duty cycle of 100 % is a constant +12 V:
no PWM, nothing offered (states A/B1 of IEC 61851-1). Hardware PWM is used because
software-timed PWM jitters and gpiozero rounds duty to whole percent.

sysfs attribute writes are single short syscalls that the kernel completes at once,
so they are made directly from the event loop; only the wait for a freshly exported
channel to appear (udev) is awaited.
"""

from __future__ import annotations

import asyncio
import errno
import os
import math
import time
from pathlib import Path

from drivers.protocols import DeviceError

PERIOD_NS = 1_000_000  # 1 kHz
OVERLAY_HINT = (
    "hardware PWM is not enabled: add dtoverlay=pwm-2chan to /boot/firmware/config.txt and reboot "
    "(Raspberry Pi: GPIO18 is channel 0, GPIO19 channel 1)"
)


class SysfsPwm:
    """One PWM channel driven through sysfs. Constructing it does no I/O.

    ``close()`` leaves the channel enabled at 100 % (constant +12 V) and exported: a
    disabled channel idles low on the Raspberry Pi, which the generator turns into
    -12 V (state F, "EVSE not available"), and some EVs latch an error on F that only
    a replug clears. Constant +12 V tells the EV "nothing offered" and lets a restarted
    agent carry on with the EV as it was.
    """

    def __init__(self, chip: int, channel: int, root: Path = Path("/sys/class/pwm"), *,
                 export_timeout: float = 2.0) -> None:
        self.chip_dir = Path(root) / f"pwmchip{chip}"
        self.channel = channel
        self.dir = self.chip_dir / f"pwm{channel}"
        self.name = str(self.dir)
        self.export_timeout = export_timeout
        self._duty_ns: int | None = None  # None: not open

    @property
    def duty_percent(self) -> float | None:
        """The duty cycle last set, or None before :meth:`open`."""
        return None if self._duty_ns is None else self._duty_ns * 100 / PERIOD_NS

    @property
    def oscillating(self) -> bool:
        """True while the output really toggles (duty strictly between 0 and 100 %)."""
        return self._duty_ns is not None and 0 < self._duty_ns < PERIOD_NS

    async def open(self) -> None:
        """Export the channel if needed, then run it at 1 kHz, 100 % (constant +12 V)."""
        if self._duty_ns is not None:
            return
        if not self.chip_dir.is_dir():
            raise DeviceError(str(self.chip_dir), f"no such PWM chip; {OVERLAY_HINT}", retry=False)
        npwm = self._read_int(self.chip_dir / "npwm")
        if not 0 <= self.channel < npwm:
            raise DeviceError(
                str(self.chip_dir), f"has {npwm} channels (0-{npwm - 1}), not channel {self.channel}", retry=False
            )
        if not (self.dir / "enable").exists():
            await self._export()
        if (self.dir / "polarity").exists() and self._read(self.dir / "polarity") != "normal":
            if self._read(self.dir / "enable") == "1":
                self._write(self.dir / "enable", "0")  # polarity can only change while disabled
            self._write(self.dir / "polarity", "normal")
        if self._read_int(self.dir / "duty_cycle") > PERIOD_NS:
            self._write(self.dir / "duty_cycle", str(PERIOD_NS))  # duty may never exceed the period
        self._write(self.dir / "period", str(PERIOD_NS))
        self._write(self.dir / "duty_cycle", str(PERIOD_NS))
        self._write(self.dir / "enable", "1")
        self._duty_ns = PERIOD_NS

    async def set_duty(self, percent: float) -> None:
        """Set the duty cycle in percent: 100 is constant +12 V, 0 constant -12 V."""
        if self._duty_ns is None:
            raise DeviceError(self.name, "PWM channel is not open")
        if not math.isfinite(percent) or not 0.0 <= percent <= 100.0:
            raise DeviceError(self.name, f"duty cycle {percent} % is not within 0-100 %", retry=False)
        duty_ns = round(PERIOD_NS * percent / 100)
        self._write(self.dir / "duty_cycle", str(duty_ns))
        self._duty_ns = duty_ns

    async def close(self) -> None:
        """Leave the output at constant +12 V (see the class docstring); idempotent."""
        if self._duty_ns is None:
            return
        self._duty_ns = None
        self._write(self.dir / "duty_cycle", str(PERIOD_NS))

    # -- sysfs ---------------------------------------------------------------------

    async def _export(self) -> None:
        try:
            (self.chip_dir / "export").write_text(str(self.channel))
        except OSError as exc:
            if exc.errno != errno.EBUSY:  # EBUSY: exported meanwhile by someone else
                raise DeviceError(str(self.chip_dir / "export"), f"cannot export channel {self.channel}: "
                                  f"{exc.strerror or exc}") from exc
        # The channel's files appear root's, and udev hands them to the gpio group a few
        # tens of ms later (Raspberry Pi OS's rules, systemd/60-ladda-devices.rules): wait
        # until the agent may write them, not only until they exist.
        deadline = time.monotonic() + self.export_timeout
        enable = self.dir / "enable"
        while not (enable.exists() and os.access(enable, os.W_OK) and os.access(self.dir / "period", os.W_OK)):
            if time.monotonic() > deadline:
                state = "is not writable" if enable.exists() else "did not appear"
                raise DeviceError(self.name, f"{state} within {self.export_timeout:g} s of exporting "
                                  f"channel {self.channel}")
            await asyncio.sleep(0.01)

    def _read(self, path: Path) -> str:
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise DeviceError(str(path), f"cannot read: {exc.strerror or exc}") from exc

    def _read_int(self, path: Path) -> int:
        text = self._read(path)
        try:
            return int(text)
        except ValueError:
            raise DeviceError(str(path), f"reads {text!r}, not a whole number", retry=False) from None

    def _write(self, path: Path, value: str) -> None:
        try:
            path.write_text(value)
        except OSError as exc:
            hint = " (run as root or grant the pwm group write access with a udev rule)" \
                if exc.errno == errno.EACCES else ""
            raise DeviceError(str(path), f"cannot write {value}: {exc.strerror or exc}{hint}") from exc
