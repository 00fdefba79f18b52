"""Ladda: the charge-point agent."""

import os
import sys


def _installed_version(name: str) -> str | None:
    """The version in the first ``<name>-<version>.dist-info`` on ``sys.path``, where
    ``importlib.metadata`` looks too: that package brings the ``email`` parser with it, a
    MiB and more of memory that a charger would keep for one string."""
    prefix = name + "-"
    for entry in sys.path:
        try:
            names = sorted(n for n in os.listdir(entry or ".") if n.startswith(prefix) and n.endswith(".dist-info"))
        except OSError:
            continue
        for found in names:
            try:
                with open(os.path.join(entry or ".", found, "METADATA"), encoding="utf-8") as metadata:
                    for line in metadata:
                        if line.startswith("Version:"):
                            return line.partition(":")[2].strip()
                        if not line.strip():
                            break  # the headers end at the first blank line
            except OSError:
                continue
    return None


def _version() -> str:
    found = _installed_version("ladda")
    if found is not None:
        return found
    from importlib.metadata import PackageNotFoundError, version  # an installation without dist-info

    try:
        return version("ladda")
    except PackageNotFoundError:  # a source tree run without installing it
        return "0.0.0+source"


# The installed distribution's version: a release built from a firmware bundle reports
# the bundle's version (BootNotification firmwareVersion, the health marker's name).
__version__ = _version()
