"""TFRecord framing: find every intact record of a file, fast, and say where it was damaged.

A TFRecord file is a sequence of records, each
    uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
(little-endian). `frame(buf)` finds the records of the whole file at once with numpy (`_Chains`) and
walks the rest one record at a time. Damage is handled as TensorFlow itself cannot:

- a last record cut anywhere (training killed mid-write): every complete record is kept, and the cut is
  reported with its byte offset;
- a bad length (flipped bytes): everything before is kept, and reading resumes at the next position whose
  length and length checksum validate (found by a vectorised scan, so garbage costs milliseconds).

Data checksums are the caller's business (`masked_crc`, `crc_fn`, `LinearCrc`), because the fast way to
check them depends on what the records hold.

CRC-32C comes from the `crc32c` package (hardware accelerated). Without it, `crc_fn` is None: lengths are
still checked (with the numpy table below) but data checksums are not.
"""
from __future__ import annotations

import mmap
from dataclasses import field

import numpy as np

from ..fastclass import dataclass


def _crc_fn():
    """The CRC-32C function (`crc_fn`), looked up on first use: importing crc32c also imports
    importlib.metadata, argparse and email (~50 ms), which a run without event files never needs."""
    if "crc_fn" not in globals():
        try:  # pragma: no cover - the import that succeeds depends on the machine
            from crc32c import crc32c as fn
        except ImportError:  # pragma: no cover
            try:
                from google_crc32c import value as fn
            except ImportError:
                fn = None
        globals()["crc_fn"] = fn
    return globals()["crc_fn"]


def crc_available() -> bool:
    """Whether a CRC-32C library is installed, without importing it (`crc_fn` imports it)."""
    if "crc_fn" in globals():
        return globals()["crc_fn"] is not None
    from importlib.util import find_spec

    return any(find_spec(name) is not None for name in ("crc32c", "google_crc32c"))


def __getattr__(name: str):
    if name == "crc_fn":  # `tfrecord.crc_fn`: crc32c's function, google_crc32c's, or None
        return _crc_fn()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

HEADER = 12  # uint64 length + uint32 length checksum
OVERHEAD = 16  # header + uint32 data checksum
_MASK_DELTA = 0xA282EAD8
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ _POLY, table >> 1).astype(np.uint32)
    return table


CRC_TABLE = _crc_table()


def mask(crc):
    """TFRecord's masking of a CRC-32C (ints or uint32 arrays)."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked):
    """The CRC-32C behind a masked checksum (ints or uint32 arrays)."""
    x = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((x << 15) | (x >> 17)) & 0xFFFFFFFF


def masked_crc(data: bytes) -> int | None:
    """The masked CRC-32C of `data`, or None when no CRC library is installed."""
    fn = _crc_fn()
    return None if fn is None else mask(fn(data))


def length_crcs(lengths: np.ndarray) -> np.ndarray:
    """Masked CRC-32C of each uint64 length's 8 little-endian bytes, vectorised (uint32 array)."""
    n = lengths.astype(np.uint64)
    crc = np.full(len(n), 0xFFFFFFFF, dtype=np.uint32)
    for k in range(8):
        byte = ((n >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.uint32)
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc = crc ^ np.uint32(0xFFFFFFFF)
    return (((crc >> 15) | (crc << 17)) + np.uint32(_MASK_DELTA)).astype(np.uint32)


class LinearCrc:
    """CRC-32C differences from byte differences: crc(a) ^ crc(b) = sum of shifted(a[i] ^ b[i]).

    CRC is affine over GF(2): for two messages of the same length, the XOR of their CRCs depends only on
    the XOR of their bytes. `table(k)[b]` is the contribution of byte b followed by k bytes. Records that
    differ from a template only in a few fields are then checked with a few table lookups each.
    """

    def __init__(self) -> None:
        self._tables = [CRC_TABLE]
        self._stacked = CRC_TABLE

    def stacked(self, k: int) -> np.ndarray:
        """Tables 0..k (at least) end to end: `table(i)[x]` is at `256 * i + x`."""
        if len(self._stacked) <= 256 * k:
            self.table(k)
            self._stacked = np.concatenate(self._tables)
        return self._stacked

    def crcs(self, u8: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The CRC-32C (unmasked, uint32) of each span `u8[offset:offset + length]`, with numpy: the CRC of as
        many zero bytes, changed by what each byte adds at its distance from the end (few short spans: what
        `crc_fn` gives, without importing the library for them)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        out = np.array([_zeros_crc(int(n)) for n in lengths.tolist()], dtype=np.uint32)
        total = int(lengths.sum())
        if total:
            nonempty = lengths > 0
            starts = np.cumsum(lengths) - lengths  # each span's first byte among all spans' bytes
            at = np.arange(total) - np.repeat(starts, lengths)  # each byte's place in its span
            data = u8[np.repeat(np.asarray(offsets, dtype=np.int64), lengths) + at]
            after = np.repeat(lengths, lengths) - 1 - at  # bytes after it in its span
            added = self.stacked(int(lengths.max()) - 1)[256 * after + data]
            out[nonempty] ^= np.bitwise_xor.reduceat(added, starts[nonempty])
        return out

    def pairs(self) -> np.ndarray:
        """Tables of two bytes of the last 8: `pairs()[i][x]` is what the uint16 x (little-endian) adds as bytes
        2i and 2i+1 of a message's last 8 (one lookup for two bytes)."""
        if not hasattr(self, "_pairs"):
            x = np.arange(1 << 16)
            self._pairs = np.stack([self.table(7 - 2 * i)[x & 0xFF] ^ self.table(6 - 2 * i)[x >> 8] for i in range(4)])
        return self._pairs

    def table(self, k: int) -> np.ndarray:
        tables = self._tables
        while len(tables) <= k:
            t = tables[-1]
            tables.append(CRC_TABLE[t & 0xFF] ^ (t >> 8))
        return tables[k]


_ZEROS_CRC: dict[int, int] = {}


def _zeros_crc(n: int) -> int:
    """CRC-32C of n zero bytes."""
    if n not in _ZEROS_CRC:
        crc = 0xFFFFFFFF
        for _ in range(n):
            crc = int(CRC_TABLE[crc & 0xFF]) ^ (crc >> 8)
        _ZEROS_CRC[n] = crc ^ 0xFFFFFFFF
    return _ZEROS_CRC[n]


@dataclass
class Frames:
    """Where the intact records of a file are, and what was wrong with the rest."""

    starts: np.ndarray  # int64 offsets of the record headers
    lengths: np.ndarray  # int64 data lengths
    cut_at: int | None = None  # offset of an incomplete last record
    damaged: list[tuple[int, int]] = field(default_factory=list)  # (first byte, bytes skipped)


class Bytes:
    """A buffer seen as bytes and as little-endian uint32 / uint64 starting at every offset (no copies).

    `u32[i]` is the uint32 in bytes i..i+3: gathering unaligned words this way is one numpy call.
    `release(a, b)` tells a memory-mapped buffer that bytes a..b are not needed for now: their pages leave
    the process's resident memory (they stay in the page cache, and come back if read again).
    """

    def __init__(self, buf) -> None:
        n = len(buf)
        self.size = n
        self._madvise = getattr(buf, "madvise", None) if hasattr(mmap, "MADV_DONTNEED") else None
        self.u8 = np.frombuffer(buf, dtype=np.uint8)
        self.u32 = np.ndarray((max(n - 3, 0),), dtype="<u4", buffer=buf, strides=(1,))
        self.u64 = np.ndarray((max(n - 7, 0),), dtype="<u8", buffer=buf, strides=(1,))

    def release(self, a: int, b: int) -> None:
        if self._madvise is not None:
            a = -(-a // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside a..b only
            b = self.size if b >= self.size else b // mmap.PAGESIZE * mmap.PAGESIZE
            if b > a:
                self._madvise(mmap.MADV_DONTNEED, a, b - a)

    def word(self, offsets: np.ndarray) -> np.ndarray:
        """uint64 at each offset, clipped to the buffer (callers mask offsets past the end)."""
        return self.u64[np.minimum(offsets, self.size - 8)]


def per_distinct(values: np.ndarray, fn) -> np.ndarray:
    """fn(distinct values)[i] mapped back onto `values` (few distinct non-negative ints: a lookup table)."""
    if len(values) and 0 <= values.min() and values.max() < 1 << 20:
        present = np.zeros(int(values.max()) + 1, dtype=bool)
        present[values] = True
        distinct = np.flatnonzero(present)
        table = np.zeros(len(present), dtype=np.uint32)
        table[distinct] = fn(distinct)
        return table[values]
    distinct, inverse = np.unique(values, return_inverse=True)
    return fn(distinct)[inverse]


def _header_ok(b: Bytes, pos: int) -> bool:
    return bool(b.u32[pos + 8] == length_crcs(b.u64[pos:pos + 1])[0])


def resync(b: Bytes, pos: int, end: int, chunk: int = 1 << 20) -> int | None:
    """The first offset >= pos where a whole record's length and length checksum validate, or None."""
    while pos <= end - OVERHEAD:
        stop = min(pos + chunk, end - OVERHEAD + 1)
        offsets = np.arange(pos, stop, dtype=np.int64)
        lengths = b.u64[pos:stop]
        fits = lengths <= (end - OVERHEAD - offsets).astype(np.uint64)
        offsets, lengths = offsets[fits], lengths[fits]
        if len(offsets):
            good = b.u32[offsets + 8] == length_crcs(lengths)
            if good.any():
                return int(offsets[np.argmax(good)])
        pos = stop
    return None


class _Chains:
    """Runs of consecutive valid records, found for the whole file at once.

    Every event a TensorBoard writer emits starts with its wall time (protobuf byte 0x09), so the record
    starts are among the positions 12 bytes before a 0x09. Those whose length fits the file and whose
    length checksum validates are records; where each one's end is the next one's start, they chain.
    """

    SCAN = 1 << 22  # bytes searched at once (bounds the temporary arrays)

    def __init__(self, b: Bytes, lo: int = 0, hi: int | None = None) -> None:
        """The candidates starting at offsets lo..hi (the whole buffer by default)."""
        u8, end = b.u8, b.size
        top = end if hi is None else min(hi, end)
        pieces = []
        for a in range(lo + HEADER, top + HEADER, self.SCAN):  # each block's candidates filtered before the next
            starts = np.flatnonzero(u8[a:min(a + self.SCAN, top + HEADER)] == 0x09) + (a - HEADER)
            starts = starts[starts <= end - OVERHEAD]
            lengths = b.u64[starts]
            fits = lengths <= (end - OVERHEAD - starts).astype(np.uint64)
            starts, lengths = starts[fits], lengths[fits].astype(np.int64)
            valid = b.u32[starts + 8] == per_distinct(lengths, length_crcs)
            pieces.append((starts[valid], lengths[valid]))
            b.release(a - HEADER, a + self.SCAN)
        self.starts, self.lengths = join(pieces, (np.int64, np.int64))
        # index of the last record of each run
        breaks = self.starts[:-1] + self.lengths[:-1] + OVERHEAD != self.starts[1:]
        self.run_ends = np.append(np.flatnonzero(breaks), len(self.starts) - 1)

    def end_of(self, run: slice) -> int:
        """The offset just past the last record of `run`."""
        k = run.stop - 1
        return int(self.starts[k] + self.lengths[k] + OVERHEAD)

    def run_from(self, pos: int) -> slice | None:
        """The run of records starting exactly at `pos`, as a slice of `starts`, or None."""
        j = int(np.searchsorted(self.starts, pos))
        if j == len(self.starts) or self.starts[j] != pos:
            return None
        k = int(self.run_ends[np.searchsorted(self.run_ends, j)])
        return slice(j, k + 1)


def join(pieces: list[tuple[np.ndarray, ...]], dtypes) -> tuple[np.ndarray, ...]:
    """Pieces of columns (tuples of equally long arrays) into one array per column, each piece dropped
    from `pieces` once copied (a single piece is returned as it is)."""
    if len(pieces) == 1:
        return pieces.pop()
    total = sum(len(piece[0]) for piece in pieces)
    out = tuple(np.empty(total, dtype) for dtype in dtypes)
    pieces.reverse()
    pos = 0
    while pieces:
        piece = pieces.pop()
        n = len(piece[0])
        for target, part in zip(out, piece):
            target[pos:pos + n] = part
        pos += n
        del piece, part
    return out


def frame(b: Bytes) -> Frames:
    """Locate the intact records of a TFRecord buffer."""
    return frame_from(b)[0]


def frame_from(b: Bytes, pos: int = 0, stop: int | None = None) -> tuple[Frames, int]:
    """The records of a TFRecord buffer that start at offsets pos..stop (all from pos by default), found as
    `frame` finds them when it reaches `pos`, and the offset where framing goes on (a record's start, the
    end of a damaged region, or the end). Framing a buffer piece by piece gives what one `frame` gives."""
    end = b.size
    stop = end if stop is None else min(stop, end)
    chains = _Chains(b, pos, stop)
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    frames = Frames(np.zeros(0, np.int64), np.zeros(0, np.int64))
    while pos < stop:
        run = chains.run_from(pos)
        if run is not None:
            pieces.append((chains.starts[run], chains.lengths[run]))  # views
            pos = chains.end_of(run)
            continue
        if end - pos < HEADER:
            frames.cut_at = pos
            break
        if not _header_ok(b, pos):
            resume = resync(b, pos + 1, end)
            frames.damaged.append((pos, (end if resume is None else resume) - pos))
            if resume is None:
                pos = end  # nothing valid after it
                break
            pos = resume
            continue
        n = int(b.u64[pos])
        if n > end - OVERHEAD - pos:
            frames.cut_at = pos
            break
        pieces.append((np.array([pos], np.int64), np.array([n], np.int64)))
        pos += n + OVERHEAD
    del chains
    if pieces:
        frames.starts, frames.lengths = join(pieces, (np.int64, np.int64))
    return frames, (end if frames.cut_at is not None else pos)


class Framer:
    """`frame_from` block by block, as records are asked for (`take`); a caller that read records on its own
    tells how many and where they ended (`skip`), and framing goes on from there."""

    BLOCK = 1 << 22  # bytes framed at once

    def __init__(self, b: Bytes) -> None:
        self.b = b
        self.pos = 0  # where framing goes on
        self.frames = Frames(np.zeros(0, np.int64), np.zeros(0, np.int64))  # damage and cut seen so far
        self.starts, self.lengths = self.frames.starts, self.frames.lengths  # framed, not yet taken

    @property
    def done(self) -> bool:
        """Whether every record has been framed."""
        return self.pos >= self.b.size

    def available(self, n: int) -> int:
        """How many records are framed and not taken, framing until there are n (or the buffer ends)."""
        while len(self.starts) < n and not self.done:
            got, self.pos = frame_from(self.b, self.pos, self.pos + self.BLOCK)
            self.frames.damaged += got.damaged
            self.frames.cut_at = got.cut_at
            if len(got.starts):
                self.starts = np.concatenate((self.starts, got.starts))
                self.lengths = np.concatenate((self.lengths, got.lengths))
        return len(self.starts)

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The next n records (fewer at the end): (starts, lengths)."""
        self.available(n)
        starts, lengths = self.starts[:n], self.lengths[:n]
        self.starts, self.lengths = self.starts[n:], self.lengths[n:]
        return starts, lengths

    def skip(self, n: int, pos: int) -> None:
        """The next n records, which end at offset `pos`, were read (intact) by the caller."""
        if n <= len(self.starts):
            self.starts, self.lengths = self.starts[n:], self.lengths[n:]
        else:
            self.starts, self.lengths = self.starts[:0], self.lengths[:0]
            self.pos = pos
