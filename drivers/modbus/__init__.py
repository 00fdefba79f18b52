"""Modbus energy meters (RTU over RS-485, or TCP): one driver, meter models as data files."""

from .bus import ModbusBus
from .meter import ModbusMeter
from .registers import MeterModel, MeterModelError, known_models, load_meter_model

__all__ = ["MeterModel", "MeterModelError", "ModbusBus", "ModbusMeter", "known_models", "load_meter_model"]
