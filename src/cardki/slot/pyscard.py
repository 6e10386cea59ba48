"""pyscard's ``smartcard.scard`` (the PC/SC calls), without the rest of pyscard.

cardki uses only ``smartcard.scard``, but importing it runs the ``smartcard``
package's ``__init__`` first, which imports Session, System, the reader factory,
card connections and their observers: ~4 ms of the module's start, for classes
cardki never uses. So when no one has imported ``smartcard`` yet, the package is
registered without running its ``__init__``, and the ``__init__`` runs the
first time anyone asks the package for a name it defines (``smartcard.Session``,
``from smartcard import listReaders``): a host that uses pyscard itself in the
same process sees the whole package, as before. The slot layer imports ``scard``
from here, and only here.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

_PACKAGE = "smartcard"
_completion_lock = _thread.RLock()


def _register_package_without_init() -> None:
    """``smartcard`` in sys.modules with its path and spec set, its ``__init__``
    deferred to the first attribute lookup that finds nothing."""
    import importlib.util

    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not an ordinary package: the plain import below deals with it
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(name: str) -> Any:
        with _completion_lock:
            if package.__dict__.get("__getattr__") is complete:
                del package.__dict__["__getattr__"]
                loader.exec_module(package)
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}") from None

    package.__dict__["__getattr__"] = complete
    sys.modules[_PACKAGE] = package


def _load_scard() -> ModuleType:
    with _completion_lock:
        if _PACKAGE not in sys.modules:
            _register_package_without_init()
    import smartcard.scard as scard_module

    return scard_module


scard = _load_scard()

__all__ = ["scard"]
