"""Declarative card profiles (TOML), shipped inside cardki as ``cardki.profiles``."""
