"""Row ids as SQLite stores them: signed 64-bit integers. A number outside that range names
no row, so a lookup answers "not found" instead of failing on the conversion."""

LOWEST, HIGHEST = -(2**63), 2**63 - 1


def storable(n: int) -> bool:
    return LOWEST <= n <= HIGHEST
