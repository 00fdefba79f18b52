"""The ADS1115 driver against the register-level fake: the traffic a real chip would see."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import pytest

from drivers.pilot import Ads1115, I2cBus
from drivers.protocols import DeviceError
from simulators.ads1115 import FakeAds1115, FakeSMBus, Transfer

BUS = "/dev/i2c-1"


@pytest.fixture
def chip() -> FakeAds1115:
    return FakeAds1115({0: lambda: 1.234})


@pytest.fixture
async def adc(chip: FakeAds1115) -> AsyncIterator[Ads1115]:
    device = Ads1115(I2cBus(lambda: FakeSMBus({0x48: chip}), BUS))
    await device.open()
    chip.transfers.clear()
    yield device
    await device.close()


async def test_a_conversion_writes_config_polls_os_and_reads_the_result(adc: Ads1115, chip: FakeAds1115) -> None:
    chip.busy_reads = 2
    volts = await adc.read(0, full_scale=4.096, data_rate=860)
    assert volts == pytest.approx(1.234, abs=0.000125)
    # OS=1, MUX=100 (AIN0-GND), PGA=001 (4.096 V), MODE=1, DR=111 (860 SPS), comparator off.
    assert chip.transfers[0] == Transfer("write", 0x01, 0b1_100_001_1_111_00011)
    polls = chip.transfers[1:-1]
    assert [t.register for t in polls] == [0x01, 0x01, 0x01]
    assert [bool(t.value & 0x8000) for t in polls] == [False, False, True]  # busy, busy, done
    assert chip.transfers[-1] == Transfer("read", 0x00, round(1.234 / 4.096 * 32768))


@pytest.mark.parametrize(("full_scale", "pga"), [(6.144, 0), (4.096, 1), (2.048, 2), (1.024, 3), (0.512, 4),
                                                 (0.256, 5)])
async def test_each_gain_sets_pga_and_scales_the_result(
    adc: Ads1115, chip: FakeAds1115, full_scale: float, pga: int
) -> None:
    chip.inputs[2] = lambda: 0.2
    volts = await adc.read(2, full_scale=full_scale)
    assert chip.transfers[0].value >> 9 & 0b111 == pga
    assert chip.transfers[0].value >> 12 & 0b111 == 0b110  # AIN2 against GND
    assert volts == pytest.approx(0.2, abs=full_scale / 32768)


@pytest.mark.parametrize(("rate", "dr"), [(860, 7), (475, 6), (250, 5), (128, 4)])
async def test_data_rate_bits(adc: Ads1115, chip: FakeAds1115, rate: int, dr: int) -> None:
    await adc.read(0, data_rate=rate)
    assert chip.transfers[0].value >> 5 & 0b111 == dr


async def test_full_scale_clips_and_negative_codes_decode(adc: Ads1115, chip: FakeAds1115) -> None:
    chip.inputs[1] = lambda: 3.3
    assert await adc.read(1, full_scale=2.048) == pytest.approx(2.048 * 32767 / 32768)
    assert chip.transfers[-1].value == 0x7FFF
    chip.inputs[1] = lambda: -0.05  # just below GND, as a real input can be
    assert await adc.read(1, full_scale=0.256) == pytest.approx(-0.05, abs=0.256 / 32768)
    assert chip.transfers[-1].value & 0x8000


async def test_a_conversion_that_never_finishes_is_a_device_error(adc: Ads1115, chip: FakeAds1115) -> None:
    chip.stuck = True
    with pytest.raises(DeviceError, match=r"ADS1115 at 0x48 on /dev/i2c-1: conversion not finished after \d+ ms"):
        await adc.read(0)


async def test_absent_chip_is_named_with_bus_and_address() -> None:
    adc = Ads1115(I2cBus(lambda: FakeSMBus({}), BUS), 0x49)
    with pytest.raises(DeviceError, match=r"ADS1115 at 0x49 on /dev/i2c-1: no answer") as caught:
        await adc.open()
    assert caught.value.retry


async def test_another_chip_at_the_address_is_refused() -> None:
    impostor = FakeAds1115()
    impostor.registers[2], impostor.registers[3] = 0x4B00, 0x5000  # a TMP102's alert limits
    adc = Ads1115(I2cBus(lambda: FakeSMBus({0x48: impostor}), BUS))
    with pytest.raises(DeviceError, match=r"0x48 on /dev/i2c-1: not an ADS1115: .* read 0x4B00/0x5000") as caught:
        await adc.open()
    assert not caught.value.retry


async def test_missing_bus_device_names_the_bus() -> None:
    def missing() -> FakeSMBus:
        raise FileNotFoundError(2, "No such file or directory", BUS)

    with pytest.raises(DeviceError, match=r"^/dev/i2c-1: no such I2C bus: enable I2C") as caught:
        await Ads1115(I2cBus(missing, BUS)).open()
    assert not caught.value.retry


async def test_bad_arguments_are_refused_by_name(adc: Ads1115) -> None:
    with pytest.raises(DeviceError, match="input AIN4 does not exist"):
        await adc.read(4)
    with pytest.raises(DeviceError, match="full scale 5.0 V is not one of"):
        await adc.read(0, full_scale=5.0)
    with pytest.raises(DeviceError, match="data rate 1000 SPS is not one of"):
        await adc.read(0, data_rate=1000)
    with pytest.raises(ValueError, match="address 0x50 is not 0x48-0x4B"):
        Ads1115(adc.bus, 0x50)


async def test_chips_share_one_bus_thread_and_the_last_user_closes_it() -> None:
    threads: set[str] = set()

    def source() -> float:
        threads.add(threading.current_thread().name)
        return 0.5

    fake = FakeSMBus({0x48: FakeAds1115({0: source}), 0x49: FakeAds1115({3: source})})
    bus = I2cBus(lambda: fake, BUS)
    first, second = Ads1115(bus, 0x48), Ads1115(bus, 0x49)
    await first.open()
    await second.open()
    for _ in range(3):
        assert await first.read(0) == pytest.approx(0.5, abs=1e-3)
        assert await second.read(3) == pytest.approx(0.5, abs=1e-3)
    assert len(threads) == 1 and threading.main_thread().name not in threads
    await first.close()
    await first.close()  # idempotent: must not release the bus a second time
    assert not fake.closed
    assert await second.read(3) == pytest.approx(0.5, abs=1e-3)
    await second.close()
    assert fake.closed
    with pytest.raises(DeviceError, match="/dev/i2c-1: the I2C bus is not open"):
        await second.bus.call(lambda b: None)
