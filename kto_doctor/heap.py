"""Keeping a large analysis's memory at what it uses: the C heap's free pages, and stores that grow.

numpy arrays of a long run (a 558k-row series is 4.5 MB a copy) come from the C heap, and glibc raises its mmap
threshold to the largest block freed (up to 32 MB), so after a reader's first buffers they come from the main
heap, and the holes they leave behind stay resident. `malloc_trim` returns them (pages used again later are
faulted in as they are written): the console reader calls it after its chunks and after building its series of
a large file, the rules of a long run before they start. glibc only (Linux); elsewhere nothing is done, and small
inputs never call it (nor load ctypes).

A store that grows by a little per chunk (a reader's values and records) made most of those holes: an
`array.array` grows by realloc, and beside the chunk's own buffers each move left the old block behind. `Grow`
keeps such a store, once large, in a mapping of its own that grows in place: the C heap then holds only the
chunks' transients, which the next chunk reuses. Peak of the 1 GB console log's reading: 176 -> 147 MB.
"""
from __future__ import annotations

import sys
from array import array

LARGE = 100_000  # rows of a run: below this its arrays are small and a trim would give little back
_trim = None  # malloc_trim, False where there is none


def release() -> None:
    """Return the free pages of the C heap to the system (glibc's `malloc_trim(0)`); a no-op elsewhere."""
    global _trim
    if _trim is None:
        _trim = _function("malloc_trim", ("c_size_t",))
    if _trim:
        _trim(0)


def _function(name: str, argtypes: tuple):
    """A glibc function through ctypes (looked up once), or False where there is none."""
    got = _found.get(name)
    if got is None:
        got = _found[name] = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = getattr(ctypes.CDLL(None), name)  # (musl has no malloc_trim: AttributeError)
                fn.argtypes = [getattr(ctypes, t) for t in argtypes]
                fn.restype = ctypes.c_int
                got = _found[name] = fn
            except (OSError, AttributeError):
                pass
    return got


_found: dict = {}


MAPPED = 1 << 20  # a Grow this large moves to a mapping of its own


class Grow:
    """A growable array of one `array.array` type, for what a reader of a long log keeps per value or record.

    Small, it is an `array.array`. Past MAPPED bytes (Linux only) its memory is an anonymous mapping of its own
    that doubles by mremap (`mmap.resize`: the pages move, nothing is copied, pages not yet written take no
    memory): an `array.array` grows by realloc in the C heap, and beside the other stores and the chunks' buffers
    each growth leaves the old block behind as a hole the process keeps (about 40 MB of them over a 1 GB console
    log). `view()` is the items as a writable numpy array without a copy."""

    __slots__ = ("data", "mapped", "n", "size", "code")

    def __init__(self, code: str) -> None:
        self.code = code
        self.data = array(code)
        self.size = self.data.itemsize
        self.mapped = None
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def append(self, x) -> None:
        if self.mapped is None:
            self.data.append(x)
            self.n += 1
            if len(self.data) * self.size > MAPPED and _CAN_MAP:
                self._map(0)
        else:
            self.frombytes(array(self.code, [x]))

    def frombytes(self, data) -> None:
        """Append the items in the buffer `data` (machine values of this type)."""
        raw = memoryview(data).cast("B")
        nbytes = len(raw)
        if self.mapped is None:
            if (self.n * self.size + nbytes <= MAPPED) or not _CAN_MAP:
                self.data.frombytes(raw)
                self.n += nbytes // self.size
                return
            self._map(nbytes)
        used = self.n * self.size
        mm = self.mapped
        if used + nbytes > len(mm):
            mm.resize(max(2 * len(mm), used + nbytes))
        mm[used:used + nbytes] = raw
        self.n += nbytes // self.size

    def _map(self, more: int) -> None:
        import mmap

        used = self.n * self.size
        mm = mmap.mmap(-1, max(2 * MAPPED, 2 * (used + more)), flags=mmap.MAP_PRIVATE)  # (shared memory cannot grow)
        mm[:used] = memoryview(self.data).cast("B")
        self.mapped, self.data = mm, None

    def view(self, dtype):
        """The items as a numpy array of `dtype` (of this type's size): the memory itself, writable."""
        import numpy as np

        if self.mapped is None:
            return np.frombuffer(self.data, dtype=dtype) if self.n else np.zeros(0, dtype=dtype)
        return np.frombuffer(self.mapped, dtype=dtype, count=self.n)


_CAN_MAP = sys.platform.startswith("linux")  # mmap.resize needs mremap
