"""Names of a driver package resolved on first use, so that a charger imports only the
driver modules of the roles its configuration has (each costs memory on a Pi)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, module_of: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports ``package.<module>`` for
    each name in ``module_of`` (name -> module) when the name is first looked up."""

    def __getattr__(name: str) -> object:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
