"""Giving the C heap's free memory back to the system between the steps of a large analysis.

numpy arrays of a long run (a 558k-row series is 4.5 MB a copy) come from the C heap, and glibc raises its mmap
threshold to the largest block freed (up to 32 MB), so after a reader's first buffers they come from the main
heap, and the holes they leave behind stay resident. On a 1 GB console log the process held about 40 MB of such
freed pages beside the data in use after reading, and each rule's temporaries added theirs. `malloc_trim`
returns them (pages used again later are faulted in as they are written): the console reader calls it after its
chunks and after building its series of a large file, the rules of a long run before they start and after
each rule that ran. glibc only (Linux); elsewhere nothing is done, and small inputs never call it (nor load
ctypes). Peak of the 1 GB console log's `analyze`: 217 -> 186 MB.
"""
from __future__ import annotations

import sys

LARGE = 100_000  # rows of a run: below this its arrays are small and a trim would give little back
_trim = None  # malloc_trim, False where there is none


def release() -> None:
    """Return the free pages of the C heap to the system (glibc's `malloc_trim(0)`); a no-op elsewhere."""
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = ctypes.CDLL(None).malloc_trim  # (musl has none: AttributeError)
                fn.argtypes = [ctypes.c_size_t]
                fn.restype = ctypes.c_int
                _trim = fn
            except (OSError, AttributeError):
                pass
    if _trim:
        _trim(0)
