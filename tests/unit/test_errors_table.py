"""The CKR exception classes are written out by hand (so type checkers see them):
this pins them to the spec's table of return values."""

from __future__ import annotations

import inspect

from cardki import errors
from cardki.constants import CKR


def _camel(code: CKR) -> str:
    return "".join(part.capitalize() for part in code.name.split("_"))


def _classes() -> dict:
    return {name: cls for name, cls in vars(errors).items()
            if inspect.isclass(cls) and issubclass(cls, errors.CryptokiError) and cls is not errors.CryptokiError}


def test_every_ckr_code_has_exactly_one_class_named_after_it() -> None:
    classes = _classes()
    codes = [code for code in CKR if code not in (CKR.OK, CKR.VENDOR_DEFINED)]
    assert sorted(classes) == sorted(_camel(code) for code in codes)
    for code in codes:
        cls = classes[_camel(code)]
        assert cls.rv == code, cls
        assert errors.error_class(code) is cls
        assert cls.__doc__ and cls.__doc__.strip(), f"{cls.__name__} says what the code means"
    assert sorted(errors.__all__) == sorted(["CryptokiError", "error_class", "raise_for_rv", *classes])


def test_special_classes_keep_their_fields() -> None:
    assert errors.PinIncorrect(2).tries_left == 2
    assert "2 tries left" in str(errors.PinIncorrect(2))
    assert errors.BufferTooSmall(64).required == 64
    assert errors.error_class(0x80001234).rv == 0x80001234  # vendor codes get a generic class
