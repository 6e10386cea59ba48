"""One library, many threads: each with its own session, signing at the same
time through one card. The library lock keeps sessions and the card consistent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from engine_support import PIN, RO, make_rig

from cardki import CKM, CKU


def test_threads_sign_concurrently_with_their_own_sessions() -> None:
    rig = make_rig()
    try:
        first = rig.open(RO)
        rig.lib.login(first, CKU.USER, PIN)
        key = rig.private_key(first, b"\x01")
        public = rig.keys[0x9A].public_key()

        def work(index: int) -> bool:
            session = rig.open(RO)
            try:
                for round_ in range(5):
                    message = f"thread {index} round {round_}".encode()
                    rig.lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
                    rig.lib.sign_update(session, message[:4])
                    rig.lib.sign_update(session, message[4:])
                    public.verify(rig.lib.sign_final(session), message, padding.PKCS1v15(), hashes.SHA256())
                return True
            finally:
                rig.lib.close_session(session)

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(work, range(16)))
        assert rig.lib.get_token_info(rig.slot_id).session_count == 1
    finally:
        rig.lib.finalize()
