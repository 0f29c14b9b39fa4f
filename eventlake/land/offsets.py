"""Which bus offsets are already in the lake: the lander's source of truth for exactly once.

Commit ids are ``<topic>-p<partition:04d>-<first_offset:020d>``, so within one partition
they sort by offset: the last id of a partition names its newest commit, and that one
record's ``meta.last_offset`` says where to resume. One directory listing plus one small
read per partition, however long the lake's history.
"""

from __future__ import annotations

from eventlake.bus.base import TopicPartition
from eventlake.lake import Lake

__all__ = ["LakeOffsets", "parse_commit_id"]


def parse_commit_id(commit_id: str) -> tuple[TopicPartition, int] | None:
    """(partition, first offset) of a lander commit id; None for any other id."""
    parts = commit_id.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].startswith("p"):
        return None
    topic, p, first = parts
    if not (p[1:].isdigit() and first.isdigit()):
        return None
    return TopicPartition(topic, int(p[1:])), int(first)


class LakeOffsets:
    """Next offset to land per partition, read from the lake's commit records."""

    def __init__(self, lake: Lake, stream: str) -> None:
        self.lake = lake
        self.stream = stream
        self._next: dict[TopicPartition, int] = {}

    def refresh(self) -> None:
        """Re-read the newest commit of every partition (after a crash or a rebalance)."""
        newest: dict[TopicPartition, str] = {}
        for cid in self.lake.commit_ids(self.stream):  # sorted: the last per tp wins
            parsed = parse_commit_id(cid)
            if parsed is not None:
                newest[parsed[0]] = cid
        self._next = {}
        for tp, cid in newest.items():
            meta = self.lake.read_commit(self.stream, cid).meta
            self._next[tp] = int(meta["last_offset"]) + 1

    def next_offset(self, tp: TopicPartition) -> int:
        """The first offset of ``tp`` not in the lake (0 when nothing landed)."""
        return self._next.get(tp, 0)

    def landed(self, tp: TopicPartition, last_offset: int) -> None:
        """Record a commit this process just made."""
        self._next[tp] = last_offset + 1

    def by_partition(self) -> dict[TopicPartition, int]:
        """Next offset to land of every partition with a commit."""
        return dict(self._next)

    def as_dict(self) -> dict[str, int]:
        return {
            f"{tp.topic}/{tp.partition}": o
            for tp, o in sorted(self._next.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
        }
