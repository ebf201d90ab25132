"""Careful reference parsers: how many records a damaged log still holds, computed without the readers.

Written from the formats' definitions only, sharing no code with `kto_doctor.sources`:

- trainer_state.json: the pristine file's `log_history` records are located once (their byte spans). A
  record is recoverable from a damaged copy when its span came through untouched, or when the damaged bytes
  of its span still decode as a JSON object on their own; a value the generator nested too deep is left out
  first (one value spoils, not its record). A row is a record with a numeric, finite `step` that is not the
  end-of-training summary.
- trainer_log.jsonl: one record per line; a row is a line (stripped of whitespace and NUL padding) that
  decodes as a JSON object with a numeric, finite `current_steps`.
- A step is usable when a float counts it exactly (|step| <= 2**53): a larger one is damage, not a step.
- console: a row is a `{...}` span on a line that `ast.literal_eval` reads as a dict (bare nan/inf quoted
  first) with a train or eval metric key. The console reader also keeps dicts with terminal damage between
  their pairs (real pasted logs), so for consoles the reference is a lower bound.
- TensorBoard: records tile the file (8-byte length, 4-byte CRC, data, 4-byte CRC); a record is
  recoverable when its bytes came through untouched (CRC32C catches any single flipped bit).
"""
from __future__ import annotations

import ast
import json
import math
import re
import struct

SUMMARY_KEYS = ("train_runtime",)


def _long_int(text: str):
    return int(text) if len(text) < 19 else float(text)


def _loads(data: bytes):
    """JSON of bytes read as UTF-8 text (a byte that is not UTF-8 is a replacement character, as in any
    tolerant text reader), with integers too long for int() as floats."""
    try:
        return json.loads(data.decode("utf-8", errors="replace"), parse_int=_long_int)
    except (ValueError, RecursionError):
        return None


def _finite_number(v) -> bool:
    """A usable step: a number (not a bool) that a float counts exactly, |v| <= 2**53; beyond that (a 30-digit
    or 2**400 step) the step is damage and its record is not a row."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v) and abs(v) <= 2 ** 53
    except OverflowError:
        return False


def is_state_row(obj) -> bool:
    if not isinstance(obj, dict) or not _finite_number(obj.get("step")):
        return False
    return not ("train_runtime" in obj or ("train_loss" in obj and "loss" not in obj))


def record_spans(pristine: bytes) -> list[tuple[int, int]]:
    """Byte spans of the log_history records of a pristine indent=2 trainer_state.json: each record opens
    on a line that is exactly `    {` and closes on the next line `    }` or `    },`."""
    spans, start, pos = [], None, 0
    for line in pristine.split(b"\n"):
        if line == b"    {":
            start = pos + 4  # the brace itself: the indentation before it is not the record
        elif line in (b"    }", b"    },") and start is not None:
            spans.append((start, pos + 5))
            start = None
        pos += len(line) + 1
    return spans


def state_rows(pristine: bytes, damaged: bytes, edits: list[tuple[int, int, int]], skip_values=()) -> int:
    """Rows a careful parser keeps from `damaged`, a copy of `pristine` changed by `edits`.

    `edits`: non-overlapping (offset in pristine, bytes removed, bytes inserted), in offset order.
    `skip_values`: (start, end) spans of the damaged file holding a value nested on purpose too deep,
    replaced by null before its record is decoded.
    """
    whole = _loads(damaged)
    if isinstance(whole, dict) and isinstance(whole.get("log_history"), list):
        return sum(1 for r in whole["log_history"] if is_state_row(r))
    rows = 0
    for a, b in record_spans(pristine):
        start, size, touched = a, b - a, False
        for off, removed, inserted in edits:
            if off + removed <= a and (removed or off <= a):  # wholly before the record
                start += inserted - removed
            elif (removed and off < b) or (not removed and a < off < b):
                touched = True
                size += inserted - (min(off + removed, b) - max(off, a))
        if not touched:
            rows += is_state_row(_loads(pristine[a:b]))
            continue
        piece = damaged[start:start + max(size, 0)]
        for s, e in skip_values:
            if start <= s and e <= start + size:
                piece = damaged[start:s] + b"null" + damaged[e:start + size]
        rows += is_state_row(_loads(piece))
    return rows


def trainer_log_rows(damaged: bytes) -> int:
    rows = 0
    for line in damaged.split(b"\n"):
        obj = _loads(line.strip(b" \t\r\n\x00"))
        rows += isinstance(obj, dict) and _finite_number(obj.get("current_steps"))
    return rows


_DICT = re.compile(rb"\{'[^{}\r\n]*\}")
_BARE = re.compile(r"(?<=: )(-?inf|nan)(?=[,}])")
_METRIC_KEYS = ("loss", "learning_rate", "lr", "grad_norm")


_DECIMAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _plain_value(node, text: str) -> bool:
    """A value a log prints: a string, a decimal number (signed), True/False/None; no call, operator,
    container or other spelling (what `ast.literal_eval` would also accept: `1+1`, `1j`, `0x10`, lists)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
        if not (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
            return False
    if not isinstance(node, ast.Constant) or type(node.value) not in (str, int, float, bool, type(None)):
        return False
    return type(node.value) not in (int, float) or bool(_DECIMAL.fullmatch(ast.get_source_segment(text, node)))


def console_rows(damaged: bytes) -> int:
    rows = 0
    for m in _DICT.finditer(damaged):
        try:
            text = _BARE.sub(r"'\1'", m.group().decode("utf-8"))
            tree = ast.parse(text, mode="eval").body
        except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
            continue
        if not isinstance(tree, ast.Dict) or not all(_plain_value(v, text) for v in tree.values):
            continue
        obj = ast.literal_eval(tree)
        if not all(isinstance(k, str) for k in obj):
            continue
        if any(k in SUMMARY_KEYS for k in obj):
            continue
        rows += any(k in _METRIC_KEYS or k.startswith("eval_") for k in obj)
    return rows


def console_dicts(damaged: bytes) -> int:
    """An upper bound: every `{'...}` span, readable or not."""
    return len(_DICT.findall(damaged))


def event_spans(pristine: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 0
    while pos + 12 <= len(pristine):
        (length,) = struct.unpack_from("<Q", pristine, pos)
        end = pos + 12 + length + 4
        spans.append((pos, end))
        pos = end
    return spans


def event_records(pristine: bytes, edits: list[tuple[int, int, int]]) -> int:
    """Records of an event file whose bytes no edit touched (a cut is an edit removing the rest)."""
    kept = 0
    for a, b in event_spans(pristine):
        kept += not any(off < b and off + max(removed, 1) > a for off, removed, _ in edits)
    return kept


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        c = b[i]
        value |= (c & 0x7F) << shift
        i += 1
        if c < 0x80:
            return value, i
        shift += 7


def _fields(b: bytes):
    """(field number, wire type, value or bytes) of one protobuf message; stops at anything malformed."""
    i = 0
    try:
        while i < len(b):
            key, i = _varint(b, i)
            num, wire = key >> 3, key & 7
            if wire == 0:
                v, i = _varint(b, i)
            elif wire == 1:
                v, i = b[i:i + 8], i + 8
            elif wire == 5:
                v, i = b[i:i + 4], i + 4
            elif wire == 2:
                n, i = _varint(b, i)
                v, i = b[i:i + n], i + n
            else:
                return
            yield num, wire, v
    except IndexError:
        return


SPEED_TAGS = (b"runtime", b"samples_per_second", b"steps_per_second")  # HF bookkeeping, never a metric


def event_has_scalar(record: bytes) -> bool:
    """Event.summary (5) -> Summary.value (1) -> Value.simple_value (2, float) or a float Value.tensor (8),
    under a tag (1) that is not one of HF's speed counters."""
    data = record[12:-4]
    for num, wire, summary in _fields(data):
        if num == 5 and wire == 2:
            for vnum, vwire, value in _fields(summary):
                if vnum != 1 or vwire != 2:
                    continue
                fields = list(_fields(value))
                tag = next((v for n, w, v in fields if n == 1 and w == 2), b"")
                if tag.endswith(SPEED_TAGS):
                    continue
                if any(n == 2 and w == 5 for n, w, _ in fields):
                    return True
                for n, w, tensor in fields:  # a float tensor; DT_STRING (7) is a text summary (config)
                    if n == 8 and w == 2 and any(tn == 1 and tw == 0 and tv in (1, 2, 14, 19)
                                                 for tn, tw, tv in _fields(tensor)):
                        return True
    return False


def event_scalar_records(pristine: bytes, edits: list[tuple[int, int, int]]) -> int:
    """Untouched records that hold a scalar value: none left means nothing to analyse (exit 2)."""
    kept = 0
    for a, b in event_spans(pristine):
        if not any(off < b and off + max(removed, 1) > a for off, removed, _ in edits):
            kept += event_has_scalar(pristine[a:b])
    return kept
