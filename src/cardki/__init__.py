"""cardki: a PKCS#11 (Cryptoki) module for PIV and OpenPGP smart cards and YubiKeys."""

__version__ = "0.1.0"
