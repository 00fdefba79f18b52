"""A firmware bundle of this source tree, built once for the firmware tests (pip wheel:
a few seconds with pip's cache warm from `make test`'s own install)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.firmware.bundle import build

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(REPO, tmp_path_factory.mktemp("bundle"))
