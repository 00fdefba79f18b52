"""The display on the wired bench: the real HD44780 driver over the bench's remote I2C bus,
read back through the control channel's ``screen`` verb, unplugged with ``display``."""

from __future__ import annotations

import pytest

from drivers.display import DisplayKeeper, Hd44780Display
from drivers.i2c import I2cBus
from drivers.protocols import DeviceError
from drivers.remote_i2c import RemoteSMBus
from simulators.bench_wiring import DISPLAY_ADDRESS
from simulators.control import ControlClient, ControlError
from tests.simulators.test_bench import running_bench


async def test_the_driver_draws_on_the_bench_display_and_survives_an_unplug() -> None:
    async with running_bench() as bench:
        control = ControlClient(bench.control)
        display = Hd44780Display(I2cBus(lambda: RemoteSMBus(bench.hardware), "bench i2c"), DISPLAY_ADDRESS)
        keeper = DisplayKeeper(display)
        try:
            before = await control.request("screen")
            assert before["lines"] == [" " * 20] * 4 and not before["initialised"]
            await display.open()
            screen = ["Ready", "0,35 €/kWh", "Tap your card", "Grüße, Åsa"]
            await display.show(screen)
            shown = await control.request("screen")
            assert shown["lines"] == [line.ljust(20) for line in screen]
            assert shown["backlight"] is True and shown["initialised"] is True
            # A waiter sees the screen change (what end-to-end tests wait on).
            await display.show(["Charging", "7.4 kW"])
            reply = await control.request("wait_for", field="screen", value="Charging\n7.4 kW", op="contains",
                                          timeout=3)
            assert reply["value"].startswith("Charging\n7.4 kW")

            await control.request("display", plugged=False)
            assert (await control.request("screen"))["lines"] == [" " * 20] * 4
            with pytest.raises(DeviceError, match="no answer"):
                await display.show(["Authorizing"])
            assert not await keeper.show(["Authorizing"])
            await control.request("display", plugged=True)
            assert await keeper.show(["Accepted", "Plug in your car"])
            shown = await control.request("screen")
            assert shown["lines"][:2] == ["Accepted".ljust(20), "Plug in your car".ljust(20)]
            assert shown["initialised"] is True
            # Unplugged and plugged back while the screen stays the same: no transfer fails, the
            # pins read over the bench's bus show the reset, and the screen comes back.
            await control.request("display", plugged=False)
            await control.request("display", plugged=True)
            assert (await control.request("screen"))["initialised"] is False
            await display.check()
            shown = await control.request("screen")
            assert shown["initialised"] is True
            assert shown["lines"][:2] == ["Accepted".ljust(20), "Plug in your car".ljust(20)]
            with pytest.raises(ControlError, match="plugged must be true or false"):
                await control.request("display", plugged="yes")
            await display.close()  # a stopped charger leaves no stale screen
            shown = await control.request("screen")
            assert shown["backlight"] is False and shown["lines"] == [" " * 20] * 4
        finally:
            await display.close()
            await control.close()


async def test_screen_needs_a_wired_bench() -> None:
    async with running_bench("--wiring", "none") as bench:
        control = ControlClient(bench.control)
        try:
            with pytest.raises(ControlError, match="no wiring"):
                await control.request("screen")
            assert (await control.request("status"))["screen"] is None
        finally:
            await control.close()
