"""The protobuf wire format, as far as readers of binary logs need it: varints and a field walker.

No schema and no generated code: a reader names the field numbers it wants and skips the rest, so a newer
writer's extra fields and record types cost nothing. Shared by the TensorBoard reader (Event, Summary,
TensorProto) and the W&B/SwanLab record logs (`leveldb_log`).

`fields(buf, pos, end)` yields `(number, wire type, a, b)` per field: for a varint `a` is its value; for a
fixed 32/64-bit field `a` is its offset; for a length-delimited field `[a, b)` is its span. A group, an
unknown wire type, a varint over 10 bytes or a span past `end` raises `Malformed`: the caller decides
whether that spoils one record or the file.
"""
from __future__ import annotations

import struct


class Malformed(Exception):
    """Bytes that are not a protobuf message."""


def varint(buf, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the varint at `pos` (unsigned; see `signed`)."""
    value = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            break
    raise Malformed


def fields(buf, pos: int, end: int):
    """(field number, wire type, a, b) per field of the message in buf[pos:end] (see the module doc)."""
    while pos < end:
        key, pos = varint(buf, pos, end)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos, end)
            yield num, 0, value, pos
            continue
        if wire == 1:
            a, pos = pos, pos + 8
        elif wire == 5:
            a, pos = pos, pos + 4
        elif wire == 2:
            size, a = varint(buf, pos, end)
            pos = a + size
        else:
            raise Malformed
        if pos > end:
            raise Malformed
        yield num, wire, a, pos


def signed(value: int, bits: int = 64) -> int:
    """A varint read as a two's-complement int64 or int32 (a negative int32 is written sign-extended)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def zigzag(value: int) -> int:
    """A sint32/sint64 varint's value."""
    return (value >> 1) ^ -(value & 1)


def double(buf, pos: int) -> float:
    return struct.unpack_from("<d", buf, pos)[0]


def text(buf, a: int, b: int) -> str:
    return bytes(buf[a:b]).decode("utf-8", "replace")


def packed_varints(buf, a: int, b: int) -> list[int]:
    out = []
    while a < b:
        value, a = varint(buf, a, b)
        out.append(value)
    return out
