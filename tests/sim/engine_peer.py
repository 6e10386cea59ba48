"""A second Cryptoki application in its own process, driven line by line.

The engine sim tests start this script to play application B of the spec's
two-application walk-through: each stdin line is JSON ``[method, [args...]]``
called on one ``cardki.Cryptoki`` (real PC/SC slot layer); each reply line is
``{"ok": true, "result": ...}`` or ``{"ok": false, "rv": <CKR code>}``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from cardki import Cryptoki, errors


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return _plain(dataclasses.asdict(value))
    if hasattr(value, "_asdict"):  # the engine's info values are named tuples
        return _plain(value._asdict())
    if isinstance(value, dict):
        return {str(int(k)) if isinstance(k, int) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int):
        return int(value)
    return value


def main() -> int:
    library = Cryptoki()
    for line in sys.stdin:
        if not line.strip():
            continue
        method, arguments = json.loads(line)
        if method == "exit":
            break
        try:
            reply = {"ok": True, "result": _plain(getattr(library, method)(*arguments))}
        except errors.CryptokiError as error:
            reply = {"ok": False, "rv": int(error.rv)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
