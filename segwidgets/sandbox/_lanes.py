"""Many 64-bit integers at once: packed side by side into one Python ``int``.

Every member id the sandbox reads or writes goes through a 64-bit mix (see ``_seed``): a
batch of 1,000 ids costs 2,000 mixes, which in pure Python cost more than the rest of the
request. Packed into 128-bit *lanes* of one big integer, a whole batch goes
through each step of the mix in a single C-level big-integer operation.

A lane holds its value in its low 64 bits and zeros above, so that the steps of a mix never
spill into another lane: a right shift by less than 64 only brings the low bits of the lane
above into this lane's (masked-off) high half, a product with a 64-bit constant or a sum
with one stays below 2**128, and ``& mask`` brings every lane back to 64 bits at once. This is
"SIMD within a register" with CPython's arbitrary-size integers as the register.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import TypeVar

__all__ = ["CHUNK", "Lanes", "chunks", "lanes"]

#: Most lanes packed at once: bounds the size of the cached layouts and of one big integer.
CHUNK = 4096

_MASK64 = (1 << 64) - 1

_T = TypeVar("_T")


class Lanes:
    """The layout of ``n`` lanes: packing, unpacking and the per-lane constants."""

    def __init__(self, n: int) -> None:
        self.n = n
        # Big-endian, each lane 8 zero bytes then the value: lane 0 is the most significant.
        self._struct = struct.Struct(">" + "8xQ" * n)
        #: The low 64 bits of every lane set: ``packed & mask`` truncates each lane to 64 bits.
        self.mask = int.from_bytes((bytes(8) + b"\xff" * 8) * n, "big")
        #: 1 in every lane: ``ones * v`` is ``v`` in every lane (for ``0 <= v < 2**64``).
        self.ones = self.mask // _MASK64

    def pack(self, values: Sequence[int]) -> int:
        """``values`` (each ``0 <= v < 2**64``, exactly ``n`` of them) as one integer."""
        return int.from_bytes(self._struct.pack(*values), "big")

    def unpack(self, packed: int) -> list[int]:
        """The low 64 bits of each lane, first lane first."""
        return list(self._struct.unpack(packed.to_bytes(16 * self.n, "big")))


@lru_cache(maxsize=16)  # batches and pages come in a few sizes
def lanes(n: int) -> Lanes:
    """The (cached) layout of ``n`` lanes, ``1 <= n <= CHUNK``."""
    if not 1 <= n <= CHUNK:
        msg = f"lanes(n) needs 1 <= n <= {CHUNK}, not {n}"
        raise ValueError(msg)
    return Lanes(n)


def chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """``values`` in consecutive slices of at most ``CHUNK``."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
