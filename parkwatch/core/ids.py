"""Ids, in one place.

Project, site and device ids (and profile ids): 1-64 of letters, digits, '_', '.', '-', not
starting with a punctuation mark. ``ID_PATTERN`` is the text form the HTTP routes' path and
body checks take; ``ID`` the compiled one the wire contract and the profile loader match.

Row ids as SQLite stores them: signed 64-bit integers. A number outside that range names
no row, so a lookup answers "not found" instead of failing on the conversion.
"""

import re

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ID = re.compile(ID_PATTERN)

LOWEST, HIGHEST = -(2**63), 2**63 - 1


def storable(n: int) -> bool:
    return LOWEST <= n <= HIGHEST
