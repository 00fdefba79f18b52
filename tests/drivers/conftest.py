"""Shared by the GPIO driver tests: mock pins and the bench's models on the far side."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio import pin_factory
from simulators.gpio_bench import GpioBench


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = pin_factory("mock")
    yield factory
    factory.reset()


@pytest.fixture
def bench(factory: MockFactory) -> Iterator[GpioBench]:
    bench = GpioBench(factory)
    yield bench
    bench.close()
