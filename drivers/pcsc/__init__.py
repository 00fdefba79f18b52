"""RFID card reader over PC/SC (pcscd): any reader pcscd has a driver for."""

from drivers.pcsc.reader import PcscCardReader
from drivers.pcsc.uid import UID_FORMATS, format_uid

__all__ = ["UID_FORMATS", "PcscCardReader", "format_uid"]
