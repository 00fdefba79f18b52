"""The version the charger reports (BootNotification firmwareVersion, the firmware
health marker) is read from the installed distribution without importlib.metadata."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from agent import _installed_version


def _dist_info(root: Path, name: str, version: str) -> None:
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nVersion: 9.9.9\n")


def test_the_version_is_the_one_importlib_metadata_finds(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _dist_info(tmp_path / "first", "ladda", "2.3.4")
    _dist_info(tmp_path / "second", "ladda", "1.0.0")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(tmp_path / "first"), str(tmp_path / "second")])
    assert _installed_version("ladda") == "2.3.4" == importlib.metadata.version("ladda")


def test_no_installed_distribution_gives_none(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert _installed_version("ladda") is None
