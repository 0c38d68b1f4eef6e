"""``MemberKeys``: the members of one segment, cheap to change in batches and to page.

A segment's members are 64-bit member keys (the first 64 bits of a customer id, so key
order is id order). Member writes come as batches of up to 1,000 keys and must stay cheap
per key (the benchmarks send them by the thousand); pages want the keys in order,
``O(log n + page)`` each.

So the keys live twice: in a ``set``, which answers membership and takes a batch of
changes in one C-level set operation, and in a ``SortedList``, which serves pages.
Changes reach the sorted view only when a read needs order; until then a write only
remembers which keys it touched. Catching up costs one sorted insert or removal per
touched key, or one ``O(n)`` rebuild when that is cheaper, and nothing when nothing
changed: a walk over an unchanging segment pays only for its pages, and a push that reads
nothing back never sorts.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator

from sortedcontainers import SortedList

__all__ = ["MemberKeys"]

#: Catch up by rebuilding the sorted view once the waiting changes exceed 1/16 of it:
#: about where one rebuild beats a sorted insert or removal per change (the measured costs
#: are in docs/benchmarks.md, "Numbers behind code choices").
_REBUILD_SHARE = 16
#: Changes a segment may hold back from its sorted view (beyond its own size).
_MAX_WAITING = 1 << 20


class MemberKeys:
    """A set of member keys that also serves them in key order."""

    def __init__(self, keys: Iterable[int] = ()) -> None:
        self._keys: set[int] = set(keys)
        self._sorted = SortedList(self._keys)
        #: The keys of each write since the view was last brought up to date.
        self._touched: list[Collection[int]] = []
        self._n_touched = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[int]:
        """The keys in order."""
        return iter(self._in_order())

    def __repr__(self) -> str:
        return f"<MemberKeys {len(self)} keys>"

    def present(self, keys: Iterable[int]) -> set[int]:
        """Those of ``keys`` that are members."""
        return self._keys.intersection(keys)

    def add(self, keys: Collection[int]) -> None:
        """Make ``keys`` members (kept until the sorted view catches up: do not change them
        afterwards)."""
        self._keys.update(keys)
        self._touch(keys)

    def remove(self, keys: Collection[int]) -> None:
        """Remove ``keys`` (members or not; the same caveat as ``add``)."""
        self._keys.difference_update(keys)
        self._touch(keys)

    def _touch(self, keys: Collection[int]) -> None:
        if keys:
            self._touched.append(keys)
            self._n_touched += len(keys)
            if self._n_touched > max(len(self._sorted), _MAX_WAITING):
                self._in_order()  # bounds the memory of a long run of writes without reads

    def page(self, after: int | None, limit: int) -> tuple[list[int], bool]:
        """Up to ``limit`` keys greater than ``after`` (all keys if ``None``), in order, and
        whether more keys follow them."""
        ordered = self._in_order()
        start = 0 if after is None else ordered.bisect_right(after)
        # A slice, not ``islice``: one list copy per sublist instead of an iterator stepped
        # key by key.
        return ordered[start : start + limit], start + limit < len(ordered)

    def window(self, start: int, limit: int) -> list[int]:
        """Up to ``limit`` keys from position ``start`` of the key order."""
        return list(self._in_order()[start : start + limit])

    def _in_order(self) -> SortedList:
        """The sorted view, brought up to date with the writes since the last time."""
        if not self._touched:
            return self._sorted
        touched = set().union(*self._touched)
        members = touched & self._keys
        if len(touched) * _REBUILD_SHARE > len(self._sorted):
            # Untouched keys of the view are still members, touched ones are members if in
            # _keys: an ordered run plus a few new keys, which one sort merges in O(n).
            kept = itertools.filterfalse(touched.__contains__, self._sorted)
            self._sorted = SortedList(itertools.chain(kept, members))
        else:
            for key in touched - members:
                self._sorted.discard(key)
            for key in members:
                if key not in self._sorted:
                    self._sorted.add(key)
        self._touched = []
        self._n_touched = 0
        return self._sorted
