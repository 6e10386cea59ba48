"""``python -m cardki.profiles [DIRECTORY...]``: keep what tomllib makes of the profiles.

Writes each profile's entry in its directory's ``__pycache__`` (see
:mod:`cardki.token.profile_cache`), so that no process parses them again, a user's
who cannot write the install among them: ``hw-sim/bootstrap`` runs it for a
checkout, a wheel's build writes the same entries (``setup.py``). Without a
directory: this package's own.
"""

from __future__ import annotations

import os
import sys
import tomllib
from typing import List

from cardki.token.profile_cache import write_entries


def main(directories: List[str]) -> int:
    for directory in directories or [os.path.dirname(os.path.abspath(__file__))]:
        write_entries(directory, tomllib.loads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
