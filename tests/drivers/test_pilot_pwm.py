"""SysfsPwm against a fake pwmchip tree: what the kernel's attributes end up holding."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.pilot import SysfsPwm
from drivers.protocols import DeviceError
from simulators.sysfs_pwm import ChannelState, FakePwmTree


async def test_open_runs_one_khz_at_constant_plus_12_volts(tmp_path: Path) -> None:
    tree = FakePwmTree(tmp_path)
    pwm = SysfsPwm(0, 1, root=tmp_path)
    await pwm.open()
    assert tree.channel(0, 1) == ChannelState(1_000_000, 1_000_000, "normal", True)
    assert tree.channel(0, 1).offered_a is None  # 100 %: no PWM, nothing offered
    assert not pwm.oscillating


async def test_open_exports_the_channel_when_needed(tmp_path: Path) -> None:
    tree = FakePwmTree(tmp_path, {2: 4}, exported=False)
    with tree.serving_exports():
        await SysfsPwm(2, 3, root=tmp_path).open()
    assert tree.channel(2, 3) == ChannelState(1_000_000, 1_000_000, "normal", True)


async def test_a_channel_that_never_appears_is_named(tmp_path: Path) -> None:
    FakePwmTree(tmp_path, exported=False)
    with pytest.raises(DeviceError, match=r"pwmchip0/pwm0: did not appear within 0.05 s of exporting channel 0"):
        await SysfsPwm(0, 0, root=tmp_path, export_timeout=0.05).open()
    assert (tmp_path / "pwmchip0" / "export").read_text() == "0"


async def test_missing_pwmchip_points_at_the_overlay(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"pwmchip0: no such PWM chip; .*dtoverlay=pwm-2chan") as caught:
        await SysfsPwm(0, 0, root=tmp_path).open()
    assert str(tmp_path / "pwmchip0") in str(caught.value)
    assert not caught.value.retry


async def test_a_channel_the_chip_lacks_is_refused(tmp_path: Path) -> None:
    FakePwmTree(tmp_path, {0: 2})
    with pytest.raises(DeviceError, match=r"pwmchip0: has 2 channels \(0-1\), not channel 2"):
        await SysfsPwm(0, 2, root=tmp_path).open()


async def test_inverted_polarity_is_set_back_to_normal(tmp_path: Path) -> None:
    tree = FakePwmTree(tmp_path)
    channel = tmp_path / "pwmchip0" / "pwm0"
    (channel / "polarity").write_text("inversed\n")
    (channel / "period").write_text("5000000\n")
    (channel / "duty_cycle").write_text("4000000\n")
    (channel / "enable").write_text("1\n")
    await SysfsPwm(0, 0, root=tmp_path).open()
    assert tree.channel(0, 0) == ChannelState(1_000_000, 1_000_000, "normal", True)


async def test_set_duty_writes_nanoseconds_and_close_leaves_plus_12_volts(tmp_path: Path) -> None:
    tree = FakePwmTree(tmp_path)
    pwm = SysfsPwm(0, 0, root=tmp_path)
    await pwm.open()
    await pwm.set_duty(26.6667)
    assert tree.channel(0, 0).duty_ns == 266_667
    assert pwm.oscillating and pwm.duty_percent == pytest.approx(26.6667)
    await pwm.set_duty(0)
    assert tree.channel(0, 0).duty_ns == 0 and not pwm.oscillating  # constant -12 V
    for bad in (-1, 100.5, float("nan")):
        with pytest.raises(DeviceError, match=r"pwm0: duty cycle .* % is not within 0-100 %"):
            await pwm.set_duty(bad)
    await pwm.set_duty(50)
    await pwm.close()
    await pwm.close()
    assert tree.channel(0, 0) == ChannelState(1_000_000, 1_000_000, "normal", True)
    with pytest.raises(DeviceError, match="PWM channel is not open"):
        await pwm.set_duty(50)


async def test_a_write_the_kernel_refuses_names_the_attribute(tmp_path: Path) -> None:
    FakePwmTree(tmp_path)
    period = tmp_path / "pwmchip0" / "pwm0" / "period"
    period.unlink()
    period.mkdir()  # any write fails, as a refused sysfs write does
    with pytest.raises(DeviceError, match=r"pwm0/period: cannot write 1000000: Is a directory"):
        await SysfsPwm(0, 0, root=tmp_path).open()
