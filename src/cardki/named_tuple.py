"""``typing.NamedTuple``'s class syntax at about half its cost: what cardki's values are made with.

Every PKCS#11 host start makes some thirty named-tuple classes (the info
structures, the profiles' slot tables, commands and responses, ...), ~10 ms of
a ~90 ms ``pkcs11-tool --sign`` with typing's NamedTuple: besides building the
class (``collections.namedtuple``), typing checks each field's annotation, and
under ``from __future__ import annotations`` that means compiling every
annotation string into a ``ForwardRef``. Here the class is built the same way,
``collections.namedtuple`` with the body's defaults, docstring and methods, and
the annotations are kept as written (``typing.get_type_hints`` resolves them
when someone asks). Type checkers see ``typing.NamedTuple`` itself.

Only the class syntax is offered (``class Point(NamedTuple): x: int``), without
``Generic`` bases: what cardki uses.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, Dict, Tuple

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    #: Names a body may not define (collections.namedtuple's own), as typing refuses them.
    _RESERVED = frozenset({"__init__", "__new__", "__slots__", "__getnewargs__", "_make", "_replace", "_asdict",
                           "_fields", "_field_defaults", "_source"})
    #: Names of the body the made class keeps its own value of.
    _NOT_COPIED = frozenset({"__module__", "__name__", "__annotations__"})

    class _NamedTupleMeta(type):
        def __new__(cls, typename: str, bases: Tuple[type, ...], namespace: Dict[str, Any]) -> type:
            if bases != (NamedTuple,):
                raise TypeError(f"{typename}: a NamedTuple class has no other base")
            annotations = dict(namespace.get("__annotations__", {}))
            defaults = [name for name in annotations if name in namespace]
            if defaults and list(annotations)[-len(defaults):] != defaults:
                raise TypeError(f"{typename}: a field without a default follows one with a default")
            made = collections.namedtuple(typename, list(annotations), defaults=[namespace[n] for n in defaults],
                                          module=namespace["__module__"])
            made.__annotations__ = made.__new__.__annotations__ = annotations
            for key, value in namespace.items():
                if key in _RESERVED:
                    raise AttributeError(f"{typename}: cannot overwrite NamedTuple attribute {key}")
                if key not in _NOT_COPIED and key not in made._fields:
                    setattr(made, key, value)
            return made

    NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {"__module__": __name__})

__all__ = ["NamedTuple"]
