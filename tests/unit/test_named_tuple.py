"""cardki.named_tuple.NamedTuple: the class typing.NamedTuple makes from the same body,
built without typing's annotation checks (see its docstring for why)."""

from __future__ import annotations

import pickle
import typing
from typing import Tuple

import pytest

from cardki.named_tuple import NamedTuple


class Point(NamedTuple):
    """A point, with a default and a method."""

    x: int
    y: Tuple[int, int] | None
    label: str = "origin"

    def moved(self, by: int) -> Point:
        return self._replace(x=self.x + by)


class TypingPoint(typing.NamedTuple):
    """A point, with a default and a method."""

    x: int
    y: Tuple[int, int] | None
    label: str = "origin"

    def moved(self, by: int) -> TypingPoint:
        return self._replace(x=self.x + by)


def test_it_behaves_as_typings_named_tuple() -> None:
    for cls in (Point, TypingPoint):
        value = cls(1, (2, 3))
        assert isinstance(value, tuple) and tuple(value) == (1, (2, 3), "origin")
        assert value.moved(2) == cls(3, (2, 3), "origin") and value.moved(2).label == "origin"
        assert cls._fields == ("x", "y", "label") and cls._field_defaults == {"label": "origin"}
        assert value._asdict() == {"x": 1, "y": (2, 3), "label": "origin"}
        assert cls._make([4, None, "a"]) == cls(x=4, y=None, label="a")
        assert repr(value) == f"{cls.__name__}(x=1, y=(2, 3), label='origin')"
        assert cls.__doc__ == "A point, with a default and a method." and cls.__module__ == __name__
        assert pickle.loads(pickle.dumps(value)) == value
        assert typing.get_type_hints(cls) == {"x": int, "y": Tuple[int, int] | None, "label": str}
        with pytest.raises(AttributeError):
            value.x = 2  # type: ignore[misc]
        with pytest.raises(TypeError):
            cls(1)  # type: ignore[call-arg]


def test_its_annotations_are_kept_as_written() -> None:
    """typing would compile each into a ForwardRef at class creation (the cost avoided)."""
    assert Point.__annotations__ == {"x": "int", "y": "Tuple[int, int] | None", "label": "str"}


def test_bodies_typing_refuses_are_refused() -> None:
    with pytest.raises(TypeError):
        class _Order(NamedTuple):  # a field without a default after one with
            a: int = 0
            b: int
    with pytest.raises(AttributeError):
        class _Reserved(NamedTuple):
            a: int

            def _asdict(self) -> dict:  # type: ignore[override]
                return {}
    with pytest.raises(TypeError):
        class _TwoBases(NamedTuple, int):  # type: ignore[misc]
            a: int
