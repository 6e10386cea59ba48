"""Fixtures of the client tests: ``release`` (each test with ykman 4 and 5,
_ykman.py) and ``gpg_home`` (a GNUPGHOME per test, _gpg.py)."""

from _gpg import gpg_home  # noqa: F401 - fixture
from _ykman import release  # noqa: F401 - fixture
