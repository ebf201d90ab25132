"""The record framing of W&B's `run-<id>.wandb` and SwanLab's `run-<id>.swanlab` (LevelDB's log format).

File: a 7-byte header (4-byte ident, uint16 LE magic, uint8 version: W&B `:W&B`, 0xBEE1, 0; SwanLab `:SWL`,
0xE1D6, 2), then 32 KiB blocks (block 0 starts at offset 0, so its first 7 bytes are the header). A block
holds chunks `uint32 LE checksum | uint16 LE length | uint8 type | data`; a chunk never crosses a block, and
fewer than 7 bytes left at a block's end are zero padding. Type 1 is a whole record; 2, 3, 4 are the first,
middle and last pieces of a record longer than a block. The checksum is plain CRC-32 (zlib, IEEE) over the
type byte and the data, not LevelDB's masked CRC-32C (wandb's Go writer selects `CRCAlgoIEEE`; its Python
docstring saying "crc32c" is wrong: every chunk of the files written by wandb 0.15, 0.17 and 0.31 checks
with zlib). Sources: wandb `sdk/internal/datastore.py` (0.15-0.17), FORMATS.md of the fixtures.

Damage (a job killed mid-write, a flipped byte, a preallocated tail of zeros): every record whose chunks
all check is kept. A bad checksum, an impossible length or type, or a record whose pieces do not follow in
order is skipped; reading resumes right after a damaged chunk when the chunk there checks (a flipped data
byte leaves the length intact), else at the next block, where the writer's next chunk must start (LevelDB's
own recovery); a file that ends inside a chunk is a cut, reported with its byte offset. Zero bytes where a
chunk header should be (the unwritten rest of a block or file) end that block quietly.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import field

from ..fastclass import dataclass

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_CHUNK = struct.Struct("<IHB")


@dataclass
class Log:
    records: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # byte offset of each record's first chunk
    bad: int = 0  # chunks or records dropped for damage
    first_bad: int | None = None  # byte offset of the first damage
    cut_at: int | None = None  # the file ends inside a chunk here

    def damage(self, offset: int) -> None:
        self.bad += 1
        if self.first_bad is None:
            self.first_bad = offset


def header_ok(data: bytes, ident: bytes, magic: int) -> int | None:
    """The format version when `data` starts with this ident and magic, else None."""
    if len(data) < HEADER or data[:4] != ident or struct.unpack_from("<H", data, 4)[0] != magic:
        return None
    return data[6]


def read_log(data: bytes) -> Log:
    """Every intact record of a framed log (its 7-byte header already checked by the caller)."""
    log = Log()
    size = len(data)
    pos = HEADER
    pending: list[bytes] | None = None  # pieces of a record split over blocks
    pending_at = 0
    crc32 = zlib.crc32
    unpack = _CHUNK.unpack_from
    while pos < size:
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer padding
            pos += left
            continue
        if pos + HEADER > size:
            if data[pos:].strip(b"\x00"):
                log.cut_at = pos
            break
        crc, length, kind = unpack(data, pos)
        if kind == 0 and length == 0 and crc == 0:  # zeros: the unwritten rest of this block
            if data[pos:pos + left].strip(b"\x00"):
                log.damage(pos)
            pos += left
            pending = None
            continue
        start, end = pos + HEADER, pos + HEADER + length
        if end > size and length <= left - HEADER and kind in (FULL, FIRST, MIDDLE, LAST):
            log.cut_at = pos  # the last chunk was being written when the file ended
            break
        if not FULL <= kind <= LAST or length > left - HEADER \
                or crc32(data[start:end], crc32(bytes((kind,)))) & 0xFFFFFFFF != crc:
            log.damage(pos)
            pending = None
            # A flipped data byte leaves the length right: go on after the chunk when a chunk that checks (or
            # the block's end) is there; otherwise resynchronise at the next block.
            pos = end if FULL <= kind <= LAST and length <= left - HEADER and _chunk_ok(data, end) else pos + left
            continue
        if kind == FULL:
            if pending is not None:
                log.damage(pending_at)  # a record whose last piece never came
                pending = None
            log.records.append(data[start:end])
            log.offsets.append(pos)
        elif kind == FIRST:
            if pending is not None:
                log.damage(pending_at)
            pending, pending_at = [data[start:end]], pos
        elif pending is None:  # a MIDDLE or LAST piece without its FIRST (after damage)
            log.damage(pos)
        else:
            pending.append(data[start:end])
            if kind == LAST:
                log.records.append(b"".join(pending))
                log.offsets.append(pending_at)
                pending = None
        pos = end
    if pending is not None:
        log.cut_at = log.cut_at if log.cut_at is not None else pending_at
    return log


def _chunk_ok(data: bytes, pos: int) -> bool:
    """Whether a valid chunk (or the end of the data or of a block) starts at `pos`."""
    left = BLOCK - pos % BLOCK
    if pos >= len(data) or left < HEADER:
        return True
    if pos + HEADER > len(data):
        return False
    crc, length, kind = _CHUNK.unpack_from(data, pos)
    if not FULL <= kind <= LAST or length > left - HEADER or pos + HEADER + length > len(data):
        return False
    return zlib.crc32(data[pos + HEADER:pos + HEADER + length], zlib.crc32(bytes((kind,)))) & 0xFFFFFFFF == crc


def describe_damage(name: str, log: Log, size: int) -> list[str]:
    """Warnings that count and locate what was lost."""
    out = []
    if log.cut_at is not None:
        out.append(f"{name}: cut at byte offset {log.cut_at:,} of {size:,} (the writer stopped mid-record); "
                   f"kept the {len(log.records):,} complete record(s) before it")
    if log.bad:
        out.append(f"{name}: {log.bad} damaged chunk(s) or record(s) skipped, first at byte offset "
                   f"{log.first_bad:,}; kept {len(log.records):,} records that check")
    return out
