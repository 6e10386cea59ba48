"""Builds the PKCS#11 shared library (cffi embedding); all other metadata is in pyproject.toml.

setuptools has no declarative form for cffi's ``cffi_modules``, hence this file. It
also keeps what tomllib makes of the profiles in the built package (see
cardki.token.profile_cache), so an install its users cannot write never parses them.
"""

import importlib.util
import os
import tomllib

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithProfileEntries(build_py):
    """build_py, then the profiles' __pycache__ entries beside the built TOML files."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's profiles/ (hw-sim/bootstrap writes those)
        here = os.path.dirname(os.path.abspath(__file__))
        # By path: importing the cardki.token package would need its dependencies in the build environment.
        spec = importlib.util.spec_from_file_location(
            "_cardki_profile_cache", os.path.join(here, "src", "cardki", "token", "profile_cache.py"))
        assert spec is not None and spec.loader is not None
        profile_cache = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(profile_cache)
        profile_cache.write_entries(os.path.join(self.build_lib, "cardki", "profiles"), tomllib.loads)


setup(cffi_modules=["src/cardki/capi/build.py:ffibuilder"], cmdclass={"build_py": BuildPyWithProfileEntries})
