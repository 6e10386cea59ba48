"""A user's script against cardki's Python API, as a typed program would write it:
generate a key on the virtual card, find it, sign, verify. tests/unit/test_api_typing.py
checks it with ``mypy --strict`` and runs it."""

import cardki
from cardki import errors
from cardki.api import CKK, CKO, PrivateKey, PublicKey, SignMixin, VerifyMixin

MANAGEMENT_KEY = "010203040506070801020304050607080102030405060708"


def main() -> int:
    with cardki.open(virtual=True) as lib:
        token = lib.get_token()
        with token.open(rw=True, so_pin=MANAGEMENT_KEY) as so:
            so.generate_keypair(CKK.EC, curve="secp256r1", id=b"\x01")
        with token.open(user_pin="123456") as session:
            keys = session.private_keys(id=b"\x01")
            key: PrivateKey = keys[0]
            assert isinstance(key, SignMixin)
            signature: bytes = key.sign(b"hello")
            public: PublicKey = key.public_key()
            assert isinstance(public, VerifyMixin)
            ok: bool = public.verify(b"hello", signature)
            try:
                session.get_key(object_class=CKO.SECRET_KEY)
            except LookupError:
                pass
            except errors.CryptokiError as error:
                print(error.rv_name)
                return 2
            return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
