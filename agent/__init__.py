"""Ladda: the charge-point agent."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version: a release built from a firmware bundle reports
    # the bundle's version (BootNotification firmwareVersion, the health marker's name).
    __version__ = version("ladda")
except PackageNotFoundError:  # a source tree run without installing it
    __version__ = "0.0.0+source"
