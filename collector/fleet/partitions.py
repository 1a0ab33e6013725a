"""Which partition a site belongs to: the same number nats-server's subject mapping gives.

A NATS cluster maps each site's topics to one of ``count`` partitions with
``{{partition(count, 1, 2)}}`` on ``parkwatch.v1.*.*.*`` (MQTT topic
``parkwatch/v1/<project>/<site>/<channel>``: wildcards 1 and 2 are the project and the
site). nats-server (``subject_transform.go``, ``getHashPartition``; ``accounts.go`` in 2.9)
appends the chosen tokens' bytes one after the other, with no separator, hashes them with
FNV-1a 32 and takes the remainder: ``fnv1a32(project + site) % count``.
``tests/cluster/test_partition_map.py`` checks this against a running nats-server.

So ``p1``/``lot-1`` and ``p1l``/``ot-1`` share a partition: a hash of the pair, not a key.
Pure; collectors that own partitions (``collector.fleet.leases``) call it to know whether a
site is theirs.
"""

from __future__ import annotations

FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193
DEFAULT_COUNT = 8


def fnv1a32(data: bytes) -> int:
    h = FNV32_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
    return h


def partition_of(project: str, site: str, count: int = DEFAULT_COUNT) -> int:
    """The partition (0 .. count-1) of ``project/site`` among ``count``."""
    if count < 1:
        raise ValueError(f"partition count must be at least 1, not {count}")
    return fnv1a32(project.encode() + site.encode()) % count


def mapping(count: int = DEFAULT_COUNT) -> tuple[str, str]:
    """The NATS subject mapping (source, destination) that puts every fleet message under
    ``part.<n>.`` followed by its own subject: MQTT topic ``part/<n>/parkwatch/v1/...``."""
    return ("parkwatch.v1.*.*.*",
            f"part.{{{{partition({count},1,2)}}}}.parkwatch.v1."
            "{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}")
