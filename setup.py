"""Builds the PKCS#11 shared library (cffi embedding); all other metadata is in pyproject.toml.

setuptools has no declarative form for cffi's ``cffi_modules``, hence this file.
"""

from setuptools import setup

setup(cffi_modules=["src/cardki/capi/build.py:ffibuilder"])
