"""TensorBoard event files (`events.out.tfevents.*`): scalars, hyperparameters and the text HF writes.

Reads one file with `read(path)`; `merge(datas)` (or `read_many(paths)`) joins the files of one run:
by step, the later wall time winning where files overlap.

What is read:
- scalars in both encodings: `simple_value` (torch.utils.tensorboard, tensorboardX, TF1) and scalar
  tensors (TF2 / `tensorboard.summary` v2: DT_FLOAT, DT_DOUBLE, DT_HALF, DT_BFLOAT16, and the integer
  DT_INT32 / DT_INT64 (a `global_step` logged as an int; decoded one by one) with the scalars
  plugin, whose metadata is written only with a tag's first value). Tags go through `names.canonical`
  (train/loss -> loss, eval/loss -> eval_loss); step is the event step; wall times are kept.
- `args/text_summary` and `model_config/text_summary` (HF's JSON of TrainingArguments and the model
  config) and the `hparams` plugin's session hyperparameters, raw, into `SourceData.config`.
- everything else (histograms, images, audio, graphs) is skipped without being decoded.

How it is fast: the file is mapped, `tfrecord.frame` finds the records, and the common record layouts
(wall_time, step, one value holding a tag and either a `simple_value` or a metadata-free scalar tensor,
DT_FLOAT or DT_DOUBLE, in `float_val` / `double_val` / `tensor_content`, with or without its empty
shape) are decoded for all records at once with numpy: varints, tags, values, and the data checksums too
(each record is checked against a template of its tag and layout through `tfrecord.LinearCrc`, a few
table lookups per record). Records that do not fit those layouts byte for byte, or fail their checks, go
one by one through a small protobuf wire-format decoder, which has the last word on damage. A tensor tag
whose first metadata names a plugin other than scalars keeps only its values from before that metadata,
as the one-by-one decoder would.

Memory: per-tag chunks are joined into arrays allocated once per series, each chunk freed as it is
copied, and the mapped file's pages are released once scanned and once decoded.
"""
from __future__ import annotations

import json
import mmap
import os
import struct
from pathlib import Path

import numpy as np

from ..ontology import SUMMARY_KEYS, canonical, is_bookkeeping
from . import protowire, tfrecord
from .base import Series, SourceData, SourceError
from .registry import Source
from .store_util import lfs_pointer

FORMAT = "tensorboard"
CHUNK = 1 << 16  # records decoded together by the vectorised path (bounds its temporary arrays)
SMALL = 64  # files with fewer records skip the vectorised path
TEXT_CONFIG_TAGS = ("args/text_summary", "model_config/text_summary")

# TensorProto dtypes read as scalars
DT_FLOAT, DT_DOUBLE, DT_STRING, DT_BFLOAT16, DT_HALF = 1, 2, 7, 14, 19
DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_INT64 = 3, 4, 5, 6, 9
# integer dtypes: (the TensorProto field of their values, its bit width, tensor_content struct format)
_INTS = {DT_INT32: (7, 32, "<i"), DT_UINT8: (7, 32, "<B"), DT_INT16: (7, 32, "<h"), DT_INT8: (7, 32, "<b"),
         DT_INT64: (10, 64, "<q")}


def read(path: Path, check_crc: bool = True) -> SourceData:
    """Read one event file. `check_crc=False` skips data checksums (lengths are always checked)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise SourceError(f"{path}: empty file, not a TensorBoard event file")
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return _with_role(_read_buffer(path, buf, check_crc and tfrecord.crc_available()))
    finally:
        try:
            buf.close()
        except BufferError:  # a numpy view outlived an exception; the map is freed with it
            pass


def _read_buffer(path: Path, buf, check_crc: bool) -> SourceData:
    b = tfrecord.Bytes(buf)
    framer = tfrecord.Framer(b)  # records are framed as the chunks below need them
    events = _Events(check_crc)
    if framer.available(SMALL) < SMALL:  # the whole file
        starts, lengths = framer.take(SMALL)
        n = len(starts)
        if n == 0:
            cut = framer.frames.cut_at
            what = f"cut at byte offset {cut}" if cut is not None else f"{len(buf)} bytes"
            raise SourceError(f"{path}: not a TensorBoard event file (no complete record in {what})"
                              f"{lfs_pointer(buf[:64])}")
        events.decode_each(buf, starts, lengths, np.arange(n))
    else:
        n = 0  # records read so far
        size = events.first()  # records of the next piece read record by record (vectorised)
        while True:
            # pieces end where CHUNK records of the file end at the latest: without repeats, the chunks of before
            boundary = (n // CHUNK + 1) * CHUNK
            starts, lengths = framer.take(min(size, boundary - n))
            if not len(starts):
                break
            lo, n = n, n + len(starts)
            rest = events.decode_scalars(b, buf, starts, lengths, np.arange(lo, n))
            events.decode_each(buf, starts[rest], lengths[rest], rest + lo)
            b.release(int(starts[0]), int(starts[-1]))  # pages of decoded records
            got = events.repeat(b, buf, starts, lengths, n)
            if got is not None:
                framer.skip(*got)
                n += got[0]
                size = events.first()
            else:
                size = min(2 * size, CHUNK)  # (a file that does not repeat is read in chunks soon)
    frames = framer.frames
    src = SourceData(path=path, format=FORMAT, records=n - events.bad_crc)
    src.series, src.facts = events.series()
    src.config = events.config
    src.warnings = _damage_warnings(path, frames, events.bad_crc, src.records)
    for name, tags in events.collisions.items():
        src.warnings.append(f"{path.name}: tags {', '.join(repr(t) for t in tags)} all mean '{name}'; "
                            "merged by step, the later record winning where both were logged")
    if events.bad_crc == n:
        raise SourceError(f"{path}: not a TensorBoard event file (all {n} records fail their checksum)")
    if not (src.series or src.config or src.facts):  # (an hparams-only file of its own states config)
        raise SourceError(f"{path}: no scalar values in {src.records} record(s): nothing to analyse")
    return src


def _with_role(src: SourceData) -> SourceData:
    """Scalars of a `validation/` (Keras) or `loss_val/` (tensorboardX add_scalars) folder are eval series;
    add_scalars children of another key keep it: `lr_group1/` holds `learning_rate/group1`."""
    role, key = role_of(src.path)
    src.role = role
    if role != "eval" and not key:
        return src
    renamed = {}
    for name, ser in src.series.items():
        if role == "eval" and not name.startswith("eval_") and name != "epoch":
            name = "eval_" + name
        if key:
            name = f"{name}/{key}"
        renamed[name] = ser
    src.series = renamed
    return src


def read_many(paths) -> SourceData:
    """Read and `merge` the event files of one run; unreadable files become warnings."""
    datas, errors = [], []
    for path in paths:
        try:
            datas.append(read(path))
        except SourceError as exc:
            errors.append(str(exc))
    if not datas:
        raise SourceError(errors[0] if len(errors) == 1 else f"no readable event file among {len(errors)}: "
                          f"{errors[0]}")
    merged = merge(datas)
    merged.warnings.extend(errors)
    return merged


def merge(datas: list[SourceData]) -> SourceData:
    """Join the event files of one run (restarts, resumes, several writers) into one `SourceData`.

    Files are taken in the order they were written (first wall time). A file written after another one
    ended, by another process, starting at a step the earlier one had already logged, is a resume (or a
    restart from step 0) of the same training: the earlier file's values of the metrics the later one logs
    again, from that step on, were abandoned and are dropped, and a warning says which. (A later file of the
    same process — HF's writer of the final evaluation — adds to the earlier one.) Files written at the same time (Keras's train and validation writers, HF's
    hparams writer) are merged by step; where several values share a tag and a step, the one with the later
    wall time wins (on equal wall times, the later file), and values that disagree are counted in a warning.
    Config and facts of later files override earlier ones; warnings and records add up.
    """
    if len(datas) == 1:
        return datas[0]
    datas = sorted(datas, key=_first_wall_time)
    paths = [str(d.path) for d in datas]
    out = SourceData(path=Path(os.path.commonpath(paths)) if datas else Path("."), format=FORMAT)
    for data in datas:
        out.config.update(data.config)
        out.facts.update(data.facts)
        out.warnings.extend(data.warnings)
        out.records += data.records
    out.warnings.extend(_supersede(datas, out.path))
    disagreements: dict[str, int] = {}
    names = dict.fromkeys(name for data in datas for name in data.series)
    for name in names:
        parts = [(i, d.series[name]) for i, d in enumerate(datas) if name in d.series and len(d.series[name].steps)]
        if parts:
            out.series[name], disagreements[name] = _merge_series(parts)
    clashes = {name: n for name, n in disagreements.items() if n}
    if clashes:
        listed = ", ".join(f"{name} ({n})" for name, n in sorted(clashes.items()))
        out.warnings.append(f"{out.path}: {len(datas)} event files disagree on values at the same step: "
                            f"{listed}; the later wall time was kept")
    return out


def _supersede(datas: list[SourceData], common: Path) -> list[str]:
    """Drop what a later, sequential file logged again: values of earlier files at steps >= its first step."""
    notes = []
    spans = [_span(d) for d in datas]
    for j, later in enumerate(datas):
        if spans[j] is None:
            continue
        first_wall, _, first_step, _ = spans[j]
        for i in range(j):
            if spans[i] is None:
                continue
            _, last_wall, start_i, last_step = spans[i]
            if not (last_wall < first_wall and first_step <= last_step) or _same_process(datas[i], later):
                continue  # written at the same time, or the later file only continues: merged by step
            dropped = 0
            for name, ser in datas[i].series.items():
                if name not in later.series:
                    continue
                keep = ser.steps < first_step
                if not keep.all():
                    dropped += int((~keep).sum())
                    datas[i].series[name] = _take(ser, keep)
            spans[i] = _span(datas[i])
            if dropped:
                what = "restarted from the beginning" if first_step <= start_i else f"resumed at step {first_step:g}"
                notes.append(f"{_rel(later.path, common)} {what} after {_rel(datas[i].path, common)} ended: "
                             f"its {dropped} value(s) from step {first_step:g} on were abandoned and are ignored")
    return notes


def _same_process(a: SourceData, b: SourceData) -> bool:
    """Event files are named `events.out.tfevents.<time>.<host>.<pid>.<n>`: one writer process, one training."""
    pa, pb = _pid(Path(a.path).name), _pid(Path(b.path).name)
    return pa is not None and pa == pb


def _pid(name: str) -> tuple[str, str] | None:
    parts = name.split(".")
    if len(parts) >= 7 and parts[-2].isdigit():
        return ".".join(parts[4:-2]), parts[-2]  # (host, pid)
    return None


def _span(data: SourceData):
    """(first wall time, last wall time, first step, last step) of a file's scalars, or None if it has none."""
    walls = [s.wall_times for s in data.series.values() if s.wall_times is not None and len(s.wall_times)]
    steps = [s.steps for s in data.series.values() if len(s.steps)]
    if not walls or not steps:
        return None
    return (min(float(w.min()) for w in walls), max(float(w.max()) for w in walls),
            min(float(x.min()) for x in steps), max(float(x.max()) for x in steps))


def _take(ser: Series, keep: np.ndarray) -> Series:
    return Series(steps=ser.steps[keep], values=ser.values[keep],
                  lines=None if ser.lines is None else ser.lines[keep],
                  wall_times=None if ser.wall_times is None else ser.wall_times[keep])


def _rel(path: Path, common: Path) -> str:
    try:
        rel = Path(path).relative_to(common).as_posix()
        return rel if rel != "." else Path(path).name
    except ValueError:
        return str(path)


def _first_wall_time(data: SourceData) -> float:
    firsts = [s.wall_times[0] for s in data.series.values() if s.wall_times is not None and len(s.wall_times)]
    return min(firsts, default=float("inf"))


def _merge_series(parts: list[tuple[int, Series]]) -> tuple[Series, int]:
    """One Series from (file index, Series) pairs: by step, later wall time wins; and the number of
    steps where files disagree."""
    step = np.concatenate([s.steps for _, s in parts])
    value = np.concatenate([s.values for _, s in parts])
    wall = np.concatenate([s.wall_times if s.wall_times is not None else np.zeros(len(s.steps))
                           for _, s in parts])
    line = np.concatenate([s.lines if s.lines is not None else np.zeros(len(s.steps), np.int64)
                           for _, s in parts])
    source = np.concatenate([np.full(len(s.steps), i) for i, s in parts])
    order = np.lexsort((wall, step))  # stable: equal wall times keep file order
    step, value, wall, line, source = step[order], value[order], wall[order], line[order], source[order]
    same_step = step[1:] == step[:-1]
    differ = (value[1:] != value[:-1]) & ~(np.isnan(value[1:]) & np.isnan(value[:-1]))
    clashes = int(np.count_nonzero(same_step & differ & (source[1:] != source[:-1])))
    keep = np.append(~same_step, True)
    return Series(steps=step[keep], values=value[keep], lines=line[keep], wall_times=wall[keep]), clashes


def _damage_warnings(path: Path, frames: tfrecord.Frames, bad_crc: int, kept: int) -> list[str]:
    out = []
    if frames.cut_at is not None:
        out.append(f"{path}: last record cut at byte offset {frames.cut_at} (file ends mid-record); "
                   f"kept {kept} complete records")
    if frames.damaged or bad_crc:
        skipped = sum(n for _, n in frames.damaged)
        where = ", ".join(str(off) for off, _ in frames.damaged[:5])
        regions = f"{len(frames.damaged)} damaged region(s) ({skipped} bytes, at byte offset {where}) skipped; " \
            if frames.damaged else ""
        out.append(f"{path}: {regions}{bad_crc} record(s) failed their checksum; kept {kept} records")
    return out


class _Events:
    """What the records of one file hold, gathered per tag and turned into `SourceData` parts at the end."""

    def __init__(self, check_crc: bool) -> None:
        self.check_crc = check_crc
        self.linear = tfrecord.LinearCrc()
        self.bad_crc = 0
        self.config: dict = {}
        self.plugins: dict[str, tuple[str, int]] = {}  # tag -> (plugin name, record) of its first metadata
        self.arrays: dict[str, list[tuple[np.ndarray, ...]]] = {}  # tag -> [(record, step, wall, value)]
        self.tensors: dict[str, list[tuple[np.ndarray, ...]]] = {}  # the same, of scalar tensors
        self.rows: dict[str, list[tuple[int, int, float, float]]] = {}  # the same, from decode_each
        self.collisions: dict[str, list[str]] = {}  # canonical name -> the tags that all mean it
        self.last = None  # the layout, group keys and tag tails of the records decode_scalars decoded last
        # (id of arrays or tensors, tag) -> (chunk of CHUNK records, group key, record) of its first value: reading
        # the file chunk by chunk, a tag took its place among the names (dict order) in the first chunk that held
        # it, by its smallest group key there (then by the record); `series` keeps that order, however the
        # records were read (pieces of chunks, repeats)
        self.rank: dict[tuple[int, str], tuple[int, int, int]] = {}

    # -- the vectorised path -------------------------------------------------------------------------
    def decode_scalars(self, b: tfrecord.Bytes, buf, starts, lengths, rec) -> np.ndarray:
        """Decode the scalar records among `starts` (see `_ScalarLayout`); return the positions of the others."""
        layout = _ScalarLayout(b, starts, lengths)
        ok = layout.ok
        order = np.flatnonzero(ok)
        self.last = None
        if not len(order):
            return np.arange(len(ok))
        keys, tails = layout.group_keys(b)
        self.last = (layout, keys, tails)  # for `repeat`: `ok` is updated in place below
        keys = keys[order]
        # Sorted by 16 bits of their key (a radix sort: stable, and several times faster than sorting the keys),
        # each group is one run, or a few where keys sharing those bits interleave; runs are then taken in
        # the order of their keys.
        by_bits = np.argsort(_fold16(keys), kind="stable")
        order, keys = order[by_bits], keys[by_bits]
        tails = tails[order]
        # each run's first position in `order`
        heads = np.flatnonzero(np.concatenate(([True], (keys[1:] != keys[:-1]) | (tails[1:] != tails[:-1]))))
        wall, value = layout.wall_bits[order], layout.value_bits[order]  # (gathered once, for both uses)
        if self.check_crc:
            good = self._check(b, layout, order, heads, wall, value)
            if not good.all():
                ok[order[~good]] = False
                before = np.concatenate(([0], np.cumsum(good)))  # good records before each position
                heads = np.unique(before[heads])  # (runs left empty vanish)
                heads = heads[heads < before[-1]]
                order, keys, wall, value = order[good], keys[good], wall[good], value[good]
        step, rec = layout.step[order], rec[order]
        wall = wall.view(np.float64)
        ends = np.append(heads[1:], len(order))
        by_key = np.argsort(keys[heads], kind="stable")
        for lo, hi in zip(heads[by_key].tolist(), ends[by_key].tolist()):
            first = order[lo]
            tag = bytes(buf[layout.tag_start[first]:layout.tag_end[first]]).decode("utf-8", "replace")
            form = layout.form[first]
            if _WIDTHS[form] == 4:  # a float32: the high half of its word
                values = (value[lo:hi] >> np.uint64(32)).astype(np.uint32).view(np.float32).astype(np.float64)
            else:
                values = value[lo:hi].view(np.float64).copy()
            # (copies: each group's arrays its own, freed one by one as `series` joins them)
            r = int(rec[lo])  # (the group's first record)
            self._add(self.tensors if form > 1 else self.arrays, tag,
                      (rec[lo:hi].copy(), step[lo:hi].copy(), wall[lo:hi].copy(), values), (r // CHUNK, int(keys[lo]), r))
        return np.flatnonzero(~ok)

    def _add(self, dest: dict, tag: str, chunk: tuple, first: tuple[int, int, int]) -> None:
        """Append a chunk of `tag`'s values to `dest` (arrays or tensors); `first`: its first record's rank."""
        dest.setdefault(tag, []).append(chunk)
        old = self.rank.get((id(dest), tag))
        if old is None or first < old:
            self.rank[(id(dest), tag)] = first

    def _check(self, b: tfrecord.Bytes, layout: "_ScalarLayout", order: np.ndarray, heads: np.ndarray,
               wall: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Whether each record of `order` (groups of one tag, length and layout, starting at `heads`; `wall`
        and `value` their `layout` bits) holds its data checksum, from what its wall time, step and value
        bytes change from its group's first record (`tfrecord.LinearCrc`). (Every record's length checksum
        was checked by `tfrecord.frame`.)"""
        n = len(order)
        sizes = np.diff(np.append(heads, n))
        firsts = order[heads]
        acc = np.repeat(self.linear.crcs(b.u8, layout.data[firsts], layout.length[firsts]), sizes)
        length = np.repeat(layout.length[firsts], sizes)  # (a group's key holds its length and form)
        width = np.repeat(_WIDTHS[layout.form[firsts]], sizes)
        table = self.linear.stacked(int(length.max()))  # byte x followed by k bytes adds table[256 * k + x]
        raw = layout.step_raw[order]
        delta = value ^ np.repeat(value[heads], sizes)
        for field, row in ((wall ^ np.repeat(wall[heads], sizes), length - 2),  # 8 bytes, 1 after
                           (raw ^ np.repeat(raw[heads], sizes), length - 11),  # up to 5, 10 after
                           (np.where(width == 4, delta >> np.uint64(32), delta), width - 1)):  # the last 4 or 8
            changed = int(np.bitwise_or.reduce(field))  # bytes no record changes add nothing
            field = field.astype("<u8", copy=False).view(np.uint8).reshape(n, 8)  # byte j in column j
            row = row * 256
            for j in range(8):
                if changed >> (8 * j) & 0xFF:  # (a row below 0 only meets bytes past a field's end: 0, adding 0)
                    acc ^= table.take((row - 256 * j) + field[:, j], mode="clip")
        return tfrecord.unmask(layout.tail_bits[order] >> np.uint64(32)) == acc

    # -- the periodic path ---------------------------------------------------------------------------
    PERIOD_MAX = 4096  # records in the longest pattern looked for
    ROWS = 1 << 16  # records decoded together by the periodic path (bounds its temporary arrays)

    def first(self) -> int:
        """Records read before a pattern is looked for (twice more each time none is found, up to CHUNK)."""
        return 2 * self.PERIOD_MAX

    def repeat(self, b: tfrecord.Bytes, buf, starts: np.ndarray, lengths: np.ndarray, rec: int):
        """Decode the records after the ones decode_scalars decoded last, while they repeat its last ones.

        A writer logging the same tags at every step writes the same records over and over but for the wall
        time, the step and the value: when the last P records of the chunk (`starts`, `lengths`, all read and
        checked by the vectorised path) repeat the P before them (tags, lengths, layouts), the file from there
        is taken as rows of P records, each row compared with them byte for byte but for those fields (and the
        step's width), and checked against their checksums (`tfrecord.LinearCrc`, as `_check`). No framing,
        no layout, no grouping: three gathers a record. Reading stops at the first row that differs or fails
        (the next chunk reads it as before); the values are what decode_scalars reads from the same records.
        Returns (records read, the offset after them), or None. `rec` is the number of the first of them."""
        last, self.last = self.last, None
        if last is None:
            return None
        layout, keys, tails = last
        m = len(starts)
        w = min(m, 2 * self.PERIOD_MAX)
        keys, tails, ok = keys[m - w:], tails[m - w:], layout.ok[m - w:]
        # the pattern's length: a distance between two records of its rarest kind (an eval every N steps), the
        # shortest one over which the whole window repeats (keys: tag, length, step width and form); the window's
        # last half or quarter where its start does not (the file's first records, a change of layout)
        period = None
        for size in (w, w // 2, w // 4):
            _, kind, counts = np.unique(keys[-size:], return_inverse=True, return_counts=True)
            at = np.flatnonzero(kind == np.argmin(counts))
            period = next((p for p in (at[-1] - at[-2::-1])[:8].tolist()
                           if 2 * p <= size and np.array_equal(keys[-size + p:], keys[-size:-p])
                           and np.array_equal(tails[-size + p:], tails[-size:-p])), None)
            if period is not None:
                break
        if period is None or not ok[-period:].all():
            return None
        t = slice(m - period, m)
        first = int(starts[t][0])
        length = lengths[t]
        span = int((length + tfrecord.OVERHEAD).sum())  # bytes of one row
        at = starts[t] - first  # each record's place in its row
        if int(at[-1] + length[-1]) + tfrecord.OVERHEAD != span:  # (records one after the other)
            return None
        seg = first + span  # the first row
        rows = (b.size - seg) // span
        if rows < 1:
            return None
        data = at + tfrecord.HEADER
        step_len = layout.step_len[t]
        width = _WIDTHS[layout.form[t]]
        # the bits a record may change: wall time, the step's 7-bit groups, the value, the data checksum
        vary = np.zeros(span, np.uint8)
        vary[(data[:, None] + np.arange(1, 9)).ravel()] = 0xFF
        for i in range(int(step_len.max())):
            vary[data[step_len > i] + 10 + i] = 0x7F
        for i in range(8):
            vary[(data + length - 1 - i)[width > i]] = 0xFF
        vary[(data + length)[:, None] + np.arange(4)] = 0xFF
        same = ~vary
        template = b.u8[first:seg] & same
        if not self._same_rows(b, seg, span, 1, same, template):
            return None
        # the columns below hold the records of one tag side by side (and in file order): a tag's values are
        # then a block of columns, copied as they are (`slot`: each column's record in the row)
        tags = [bytes(buf[a:z]).decode("utf-8", "replace")
                for a, z in zip(layout.tag_start[t].tolist(), layout.tag_end[t].tolist())]
        dest = [self.tensors if f > 1 else self.arrays for f in layout.form[t].tolist()]
        kinds: dict[tuple[str, int, int], int] = {}
        kind = np.array([kinds.setdefault((tag, id(d), w), len(kinds)) for tag, d, w in zip(tags, dest, width.tolist())])
        slot = np.argsort(kind, kind="stable")
        data, length, step_len, width = data[slot], length[slot], step_len[slot], width[slot]
        slot_key = keys[-period:][slot]
        bounds = np.flatnonzero(np.diff(kind[slot])) + 1
        blocks = [(tags[j], dest[j], int(width[a]), a, z) for j, a, z in
                  zip(slot[np.append(0, bounds)].tolist(), np.append(0, bounds).tolist(),
                      np.append(bounds, period).tolist())]
        # the template's fields, and which bytes of each field a checksum row meets (`_check`)
        wall_at, step_at, tail_at = data + 1, data + 10, data + length - 4
        wide = np.flatnonzero(width == 8)
        step_mask = (np.uint64(1) << (8 * step_len).astype(np.uint64)) - np.uint64(1)
        step_mask[step_len >= 8] = ~np.uint64(0)
        t_wall, t_step, t_tail = b.u64[first + wall_at], b.u64[first + step_at] & step_mask, b.u64[first + tail_at]
        t_value = t_tail << np.uint64(32)  # the value's bytes end at the top byte, as in `value` below
        t_value[wide] = b.u64[first + tail_at[wide] - 4]
        crc0 = tfrecord.unmask(t_tail >> np.uint64(32)).astype(np.uint32)
        table = self.linear.stacked(int(length.max()))
        per_block = max(1, self.ROWS // period)
        done = 0
        while done < rows:
            k = min(per_block, rows - done)
            good = self._same_rows(b, seg + span * done, span, k, same, template)
            last = good < k  # a row differs: the stretch ends before it
            k = good
            if not k:
                break
            base = seg + span * done + span * np.arange(k, dtype=np.int64)[:, None]  # (k, 1)
            wall = b.u64[base + wall_at]
            raw = b.u64[base + step_at] & step_mask
            tail = b.u64[base + tail_at]
            value = tail << np.uint64(32)  # as `_ScalarLayout.value_bits`: either value in its last bytes
            if len(wide):
                value[:, wide] = b.u64[base + (tail_at[wide] - 4)]
            if self.check_crc:
                acc = np.broadcast_to(crc0, wall.shape).copy()
                for field, row in ((wall ^ t_wall, length - 2), (raw ^ t_step, length - 11)):
                    changed = int(np.bitwise_or.reduce(field, axis=None))
                    field = field.view(np.uint8).reshape(k, period, 8)
                    row = row * 256
                    for j in range(8):
                        if changed >> (8 * j) & 0xFF:
                            acc ^= table.take((row - 256 * j) + field[:, :, j], mode="clip")
                # the value is the data's last 4 or 8 bytes: byte j of `value` is 7 - j from the end
                delta = value ^ t_value
                changed = int(np.bitwise_or.reduce(delta, axis=None))
                delta = delta.view(np.uint16).reshape(k, period, 4)
                for i, pair in enumerate(self.linear.pairs()):
                    if changed >> (16 * i) & 0xFFFF:
                        acc ^= pair.take(delta[:, :, i], mode="clip")
                bad = acc != tfrecord.unmask(tail >> np.uint64(32))
                if bad.any():
                    k = int(np.argmax(bad.ravel())) // period  # rows before the first failing record
                    last = True
                    wall, raw, value = wall[:k], raw[:k], value[:k]
                    if not k:
                        break
            step = np.zeros(raw.shape, np.uint64)
            for i in range(int(step_len.max())):
                step |= (raw >> np.uint64(i)) & np.uint64(0x7F << (7 * i))
            step = step.astype(np.int64)
            wall = wall.view(np.float64)
            number = (rec + period * done) + period * np.arange(k, dtype=np.int64)[:, None] + slot
            f32 = (value >> np.uint64(32)).astype(np.uint32).view(np.float32).astype(np.float64)
            # each tag's first record in the block, by (chunk, key, record): its rank among the block's
            firsts = number[0]
            place = np.empty(period, np.int64)
            place[np.lexsort((firsts, slot_key, firsts // CHUNK))] = np.arange(period)
            for tag, d, w, a, z in blocks:
                values = f32[:, a:z] if w == 4 else value[:, a:z].view(np.float64)
                j = a + int(np.argmin(place[a:z]))
                r = int(firsts[j])
                self._add(d, tag, (number[:, a:z].ravel(), step[:, a:z].ravel(), wall[:, a:z].ravel(), values.ravel()),
                          (r // CHUNK, int(slot_key[j]), r))
            b.release(seg + span * done, seg + span * (done + k))  # pages of decoded rows
            done += k
            if last:
                break
        if not done:
            return None
        return done * period, seg + span * done

    @staticmethod
    def _same_rows(b: tfrecord.Bytes, seg: int, span: int, rows: int, same: np.ndarray, template: np.ndarray) -> int:
        """How many rows of `span` bytes from `seg` on equal `template` in the bits of `same`."""
        good, size = 0, 16
        while good < rows:
            k = min(size, rows - good)
            block = b.u8[seg + span * good:seg + span * (good + k)].reshape(k, span)
            differ = np.not_equal(block & same, template)
            first = int(np.argmax(differ))
            if differ.flat[first]:
                return good + first // span
            good += k
            size = max(16, (4 << 20) // span)
        return good

    # -- one record at a time ------------------------------------------------------------------------
    def decode_each(self, buf, starts, lengths, rec) -> None:
        good = self._crcs_ok(buf, starts, lengths) if self.check_crc else None
        for i, (start, length, index) in enumerate(zip(starts.tolist(), lengths.tolist(), rec.tolist())):
            data = start + tfrecord.HEADER
            if good is not None and not good[i]:
                self.bad_crc += 1
                continue
            try:
                self._decode_event(buf, data, data + length, index)
            except _Malformed:
                self.bad_crc += 1

    SMALL_CRC = 1 << 16  # data bytes up to which decode_each's checksums are computed with numpy

    def _crcs_ok(self, buf, starts: np.ndarray, lengths: np.ndarray) -> list[bool]:
        """Whether each record's length and data checksums hold. A few short records (a file's version
        record, a v2 tag's first value) are checked with numpy (`LinearCrc.crcs`), which spares importing the
        CRC library (~60M instructions) where the vectorised path checks everything else; more with it."""
        if not len(starts):
            return []
        b = tfrecord.Bytes(buf)
        stored_len = b.u32[starts + 8]
        data = starts + tfrecord.HEADER
        stored_data = b.u32[data + lengths]
        good = tfrecord.length_crcs(b.u64[starts]) == stored_len
        crc = None if int(lengths.sum()) <= self.SMALL_CRC else tfrecord.crc_fn
        if crc is None:
            crcs = self.linear.crcs(b.u8, data, lengths).astype(np.uint64)
        else:
            crcs = np.array([crc(buf[d:d + n]) for d, n in zip(data.tolist(), lengths.tolist())], dtype=np.uint64)
        crcs = tfrecord.mask(crcs)
        return (good & (crcs == stored_data)).tolist()

    def _decode_event(self, buf, pos: int, end: int, index: int) -> None:
        wall, step, summaries = 0.0, 0, []
        for num, wire, a, b in _fields(buf, pos, end):
            if num == 1 and wire == 1:
                wall = struct.unpack_from("<d", buf, a)[0]
            elif num == 2 and wire == 0:
                step = a - (1 << 64) if a >= 1 << 63 else a
            elif num == 5 and wire == 2:
                summaries.append((a, b))
        for a, b in summaries:
            for num, wire, va, vb in _fields(buf, a, b):
                if num == 1 and wire == 2:
                    self._decode_value(buf, va, vb, index, step, wall)

    def _decode_value(self, buf, pos: int, end: int, index: int, step: int, wall: float) -> None:
        tag, simple, tensor, plugin, content = "", None, None, None, None
        for num, wire, a, b in _fields(buf, pos, end):
            if num == 1 and wire == 2:
                tag = bytes(buf[a:b]).decode("utf-8", "replace")
            elif num == 2 and wire == 5:
                simple = struct.unpack_from("<f", buf, a)[0]
            elif num == 8 and wire == 2:
                tensor = (a, b)
            elif num == 9 and wire == 2:
                plugin, content = _plugin(buf, a, b)
        if plugin is not None:
            self.plugins.setdefault(tag, (plugin, index))
        plugin = self.plugins.get(tag, ("", 0))[0]
        if simple is not None:
            self.rows.setdefault(tag, []).append((index, step, wall, simple))
        elif plugin == "hparams" and content is not None:
            for key, value in _hparams(buf, *content).items():
                self.config.setdefault(key, value)
        elif tensor is not None and plugin in ("scalars", ""):
            value = _tensor_scalar(buf, *tensor)
            if value is not None:
                self.rows.setdefault(tag, []).append((index, step, wall, value))
        elif tensor is not None and plugin == "text" and tag in TEXT_CONFIG_TAGS:
            self._text_config(tag, _tensor_text(buf, *tensor))

    def _text_config(self, tag: str, text: str | None) -> None:
        """HF's JSON text: TrainingArguments keys win over model config keys of the same name."""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            return
        if not isinstance(parsed, dict):
            return
        if tag == TEXT_CONFIG_TAGS[0]:
            self.config.update(parsed)
        else:
            for key, value in parsed.items():
                self.config.setdefault(key, value)

    # -- the result ----------------------------------------------------------------------------------
    def series(self) -> tuple[dict[str, Series], dict]:
        """{canonical name: Series} in file order, and summary facts (train_runtime, ...)."""
        parts: dict[str, list[tuple[np.ndarray, ...]]] = {}
        spellings: dict[str, set] = {}

        def part(tag: str) -> list:
            name = canonical(tag)
            spellings.setdefault(name, set()).add(tag)
            return parts.setdefault(name, [])

        def ranked(dest: dict) -> list:
            return sorted(dest.items(), key=lambda item: self.rank[(id(dest), item[0])])

        for tag, chunks in ranked(self.arrays):
            part(tag).extend(chunks)
        for tag, chunks in ranked(self.tensors):
            plugin, first = self.plugins.get(tag, ("", 0))
            if plugin not in ("scalars", ""):  # another plugin's tag: scalars only before its metadata
                chunks = [tuple(a[chunk[0] < first] for a in chunk) for chunk in chunks]
            part(tag).extend(chunks)
        for tag, rows in self.rows.items():
            cols = list(zip(*rows))
            part(tag).append(
                (np.array(cols[0], np.int64), np.array(cols[1], np.int64), np.array(cols[2], np.float64),
                 np.array(cols[3], np.float64)))
        self.arrays, self.tensors, self.rows = {}, {}, {}  # the chunks are freed as they are joined
        out: dict[str, Series] = {}
        facts: dict = {}
        for name in list(parts):
            rec, step, wall, value = tfrecord.join(parts.pop(name), (np.int64, np.int64, np.float64, np.float64))
            if len(rec) > 1 and (rec[1:] < rec[:-1]).any():  # several tags or both paths: file order
                order = np.argsort(rec, kind="stable")
                rec, step, wall, value = rec[order], step[order], wall[order], value[order]
            if name in SUMMARY_KEYS:
                facts[name] = float(value[-1])
            elif name == "global_step" and len(value) and np.isfinite(value[-1]):  # Keras/TF2: an int64 tensor
                facts[name] = int(value[-1])
            if not is_bookkeeping(name):
                rec += 1
                out[name] = Series(steps=step, values=value, lines=rec, wall_times=wall)
        self.collisions = {n: sorted(t) for n, t in spellings.items() if len(t) > 1 and n in out}
        return out, facts


def _le(*data: int) -> int:
    return int.from_bytes(bytes(data), "little")


# What may follow a value's tag for the vectorised path: (bytes, how many of them are compared, bytes from
# the tag's end to the record's end, value width). The value is the record's last bytes.
_F32_TENSOR, _F64_TENSOR = (0x2A, 0x04), (0x32, 0x08)  # TensorProto float_val / double_val, packed
_CONTENT_4, _CONTENT_8 = (0x22, 0x04), (0x22, 0x08)  # TensorProto tensor_content
_SHAPE = (0x12, 0x00)  # tensor_shape {} (a scalar)
_TAILS = [(_le(0x15), 1, 5, 4)]  # simple_value (float)
for _dtype, _width, _value_fields in ((DT_FLOAT, 4, (_F32_TENSOR, _CONTENT_4)),
                                      (DT_DOUBLE, 8, (_F64_TENSOR, _CONTENT_8))):
    for _value_field in _value_fields:
        for _shape in (_SHAPE, ()):  # tensor: dtype, shape (if written), then the value field
            _tensor = (0x08, _dtype, *_shape, *_value_field)
            _TAILS.append((_le(0x42, len(_tensor) + _width, *_tensor), 2 + len(_tensor),
                           2 + len(_tensor) + _width, _width))
del _dtype, _width, _value_fields, _value_field, _shape, _tensor
_WIDTHS = np.array([0] + [width for *_, width in _TAILS], dtype=np.int64)  # value width by form


class _ScalarLayout:
    """Field positions of records laid out as wall_time, step, summary{value{tag, scalar}}.

    `ok` marks the records that have exactly that layout, where the scalar is a `simple_value` (the bytes
    torch, tensorboardX and TF1 write) or a scalar DT_FLOAT / DT_DOUBLE tensor without metadata (what
    TF2's `tf.summary.scalar` and `tensorboard.summary` v2 write for all but a tag's first value). `form`
    says which of `_TAILS` (1-based); the others are left to the one-by-one decoder.
    """

    STEP_BYTES = 5  # steps below 2**35

    def __init__(self, b: tfrecord.Bytes, starts: np.ndarray, lengths: np.ndarray, fast: bool = True) -> None:
        u8 = b.u8
        self.length = lengths
        self.data = data = starts + tfrecord.HEADER
        self.end = end = data + lengths
        # 0x09 and the wall time's first 7 bytes; its last byte, 0x10 (the step) and the step's bytes
        head, head2 = b.word(data), b.word(data + 8)
        ok = (lengths >= 16) & ((head & np.uint64(0xFF)) == np.uint64(0x09))
        self.wall_bits = (head >> np.uint64(8)) | (head2 << np.uint64(56))
        has_step = ((head2 >> np.uint64(8)) & np.uint64(0xFF)) == np.uint64(0x10)
        raw = head2 >> np.uint64(16)  # 6 of the step's bytes (a varint of up to STEP_BYTES is read)
        step, step_len = _varints(raw, self.STEP_BYTES)
        if has_step.all():  # (the step field is left out of records at step 0)
            ok &= step_len > 0
            self.step = step.astype(np.int64)
            pos = data + 10 + step_len
        else:
            ok &= (step_len > 0) | ~has_step
            step_len = np.where(has_step, step_len, 0)
            self.step = np.where(has_step, step, 0).astype(np.int64)
            pos = data + 9 + np.where(has_step, 1 + step_len, 0)
        self.step_len = step_len
        self.step_raw = raw & ((np.uint64(1) << (8 * step_len).astype(np.uint64)) - np.uint64(1))
        self.tag_start, self.tag_end, fields_ok = (_tag_span if fast else _tag_span_parsed)(b, pos, end, ok)
        ok &= fields_ok
        after_tag = u8.take(self.tag_end, mode="clip")
        tail = end - self.tag_end
        self.form = form = ((after_tag == 0x15) & (tail == 5)).astype(np.uint8)  # simple_value: _TAILS[0]
        tensors = np.flatnonzero(after_tag == 0x42)  # the tensor field: only these are compared further
        if len(tensors):
            head, tail = b.word(self.tag_end[tensors]), tail[tensors]
            for i, (pattern, compared, size, _) in enumerate(_TAILS[1:], 2):
                match = (head & np.uint64((1 << 8 * compared) - 1)) == np.uint64(pattern)
                form[tensors[match & (tail == size)]] = i
        self.ok = ok & (form > 0)
        # the value is the record's last 4 or 8 bytes, then comes the data checksum: a float32 value is the
        # low half of `tail_bits`, its checksum the high half; `value_bits` holds either value in its last bytes
        self.tail_bits = b.u64[end - 4]
        self.value_bits = self.tail_bits << np.uint64(32)
        wide = np.flatnonzero(ok & (_WIDTHS[form] == 8))
        if len(wide):
            self.value_bits[wide] = b.u64[end[wide] - 8]

    def group_keys(self, b: tfrecord.Bytes) -> tuple[np.ndarray, np.ndarray]:
        """A 64-bit key per record, equal for records of the same tag, length, step width and form; and the
        tag's last 8 bytes (all of a shorter tag).

        The tag's bytes are hashed 8 at a time (the last word overlapping the one before), so a key is
        exact up to 64-bit hash collisions, and a collision fails the group's checksum test. Groups are
        told apart by both: a record whose tag differs from its group's only in the top bit of its last
        byte, where the tag's length is a multiple of 8, has the same key (that bit of the last word
        cancels), and would be checked against the group's tag.
        """
        tag_len = np.where(self.ok, self.tag_end - self.tag_start, 0)
        key = (self.length.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ self.step_len.astype(np.uint64)
        key ^= self.form.astype(np.uint64) << np.uint64(48)
        key ^= tag_len.astype(np.uint64) << np.uint64(40)
        short = tag_len < 8
        last = b.word(np.where(short, self.tag_start, self.tag_end - 8))
        last &= np.where(short, (np.uint64(1) << (8 * tag_len).astype(np.uint64)) - np.uint64(1),
                         ~np.uint64(0))
        for w in range(int(tag_len.max(initial=0)) // 8):
            word = b.word(self.tag_start + 8 * w)
            key = np.where(8 * w + 8 <= tag_len, (key ^ word) * np.uint64(0x100000001B3), key)
        return (key ^ last) * np.uint64(0x100000001B3), last


# summary{value{tag: the first 6 bytes after the step when every size fits one byte: 0x2A, the summary's size
# (the bytes after it, to the record's end), 0x0A, the value's size (2 fewer), 0x0A, the tag's length
_SIZES = np.uint64(0x0A_00_0A_00_2A)
_SIZES_MASK = np.uint64(0xFF_FF_FF_FF_FF)


def _tag_span(b: tfrecord.Bytes, pos: np.ndarray, end: np.ndarray, ok: np.ndarray):
    """(tag start, tag end, ok) of summary{value{tag ...}} at `pos`, each running to the record's `end`.

    Records whose three sizes are one byte each (summaries below 128 bytes: all but very long tags) are
    checked with one word compared to what those bytes must be; the rest of `ok` goes through
    `_tag_span_parsed` (longer or unusual varints), which gives the same answer for the former too."""
    word = b.word(pos)
    room = end - pos - 2  # the summary's size when it is one byte
    simple = (room >= 4) & (room < 128)
    room = np.where(simple, room, 4).astype(np.uint64)
    simple &= (word & _SIZES_MASK) == (_SIZES | (room << np.uint64(8)) | ((room - np.uint64(2)) << np.uint64(24)))
    tag_len = (word >> np.uint64(40)) & np.uint64(0xFF)
    simple &= tag_len < np.uint64(0x80)
    tag_start = pos + 6
    tag_end = tag_start + tag_len.astype(np.int64)
    rest = np.flatnonzero(ok & ~simple)
    if len(rest):
        tag_start[rest], tag_end[rest], simple[rest] = _tag_span_parsed(b, pos[rest], end[rest], ok[rest])
    return tag_start, tag_end, simple


def _tag_span_parsed(b: tfrecord.Bytes, pos: np.ndarray, end: np.ndarray, ok: np.ndarray):
    """`_tag_span` field by field, for varints of any width up to the tag's two bytes."""
    u8 = b.u8
    ok = ok.copy()
    for field_tag in (0x2A, 0x0A):  # summary, then its only value, each running to the record's end
        ok &= u8.take(pos, mode="clip") == field_tag
        size, nbytes = _varints(b.word(pos + 1), 3)
        pos = pos + 1 + nbytes
        ok &= (nbytes > 0) & (pos + size.astype(np.int64) == end)
    ok &= u8.take(pos, mode="clip") == 0x0A  # the tag
    tag_len, nbytes = _varints(b.word(pos + 1), 2)
    ok &= nbytes > 0
    tag_start = pos + 1 + nbytes
    return tag_start, tag_start + tag_len.astype(np.int64), ok


_MSB = [sum(0x80 << (8 * k) for k in range(n)) for n in range(9)]


def _varints(words: np.ndarray, max_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode the varint at the start of each uint64 word: (values, byte counts; 0 where longer than
    max_bytes)."""
    stops = ~words & np.uint64(_MSB[max_bytes])  # bytes without the continuation bit
    lowest = stops & (~stops + np.uint64(1))  # 2**(8k + 7) for the first such byte k, or 0
    # its bit number is the exponent of the same number as a float (exact for a power of two; 0.0 where there
    # is none, clamped to 0): count = (8k + 7 + 1) // 8 = k + 1, or 0. (np.log2 of it cost 5% of the read.)
    exponent = (lowest.astype(np.float64).view(np.uint64) >> np.uint64(52)).astype(np.int64) - 1023
    count = (np.maximum(exponent, 0) + 1) // 8
    value = np.zeros(len(words), dtype=np.uint64)
    for k in range(int(count.max(initial=0))):  # (bytes past a varint's count are masked off below)
        value |= (words >> np.uint64(k)) & np.uint64(0x7F << (7 * k))
    value &= (np.uint64(1) << (7 * count).astype(np.uint64)) - np.uint64(1)
    return value, count


def _fold16(keys: np.ndarray) -> np.ndarray:
    """16 bits of each 64-bit key (all four quarters XORed together)."""
    keys = keys ^ (keys >> np.uint64(32))
    return (keys ^ (keys >> np.uint64(16))).astype(np.uint16)


# -- protobuf wire format, for the records decoded one by one (kto_doctor.sources.protowire)
_Malformed, _varint, _fields = protowire.Malformed, protowire.varint, protowire.fields


def _plugin(buf, pos: int, end: int) -> tuple[str | None, tuple[int, int] | None]:
    """SummaryMetadata -> (plugin_name, span of plugin content)."""
    for num, wire, a, b in _fields(buf, pos, end):
        if num == 1 and wire == 2:  # plugin_data
            name, content = "", None
            for pnum, pwire, pa, pb in _fields(buf, a, b):
                if pnum == 1 and pwire == 2:
                    name = bytes(buf[pa:pb]).decode("utf-8", "replace")
                elif pnum == 2 and pwire == 2:
                    content = (pa, pb)
            return name, content
    return None, None


_PACKED = {DT_FLOAT: (5, "<f", 4), DT_DOUBLE: (6, "<d", 8)}


def _tensor_scalar(buf, pos: int, end: int) -> float | None:
    """A one-element float or integer TensorProto's value, or None for anything else."""
    dtype, values, content = 0, [], None
    for num, wire, a, b in _fields(buf, pos, end):
        if num == 1 and wire == 0:
            dtype = a
        elif num == 4 and wire == 2:
            content = bytes(buf[a:b])
        elif num in (5, 6, 7, 10, 13):
            values.append((num, wire, a, b))
    if dtype in _PACKED:
        field, fmt, size = _PACKED[dtype]
        raw = [bytes(buf[a:b]) for num, wire, a, b in values if num == field and wire == 2]
        raw += [bytes(buf[a:a + size]) for num, wire, a, b in values if num == field and wire != 2]
        raw = b"".join(raw) if raw else content
        return struct.unpack(fmt, raw)[0] if raw is not None and len(raw) == size else None
    if dtype in (DT_HALF, DT_BFLOAT16):
        return _half_scalar(buf, dtype, values, content)
    if dtype in _INTS:
        return _int_scalar(buf, dtype, values, content)
    return None


def _int_scalar(buf, dtype: int, values, content) -> float | None:
    """An integer scalar tensor (DT_INT32/DT_INT64 and the narrow ints TF keeps in `int_val`): `int_val`
    (field 7) / `int64_val` (field 10), packed or not, or `tensor_content` of exactly one element."""
    field, bits, fmt = _INTS[dtype]
    found = []
    for num, wire, a, b in values:
        if num != field:
            continue
        if wire == 2:
            found += protowire.packed_varints(buf, a, b)
        elif wire == 0:
            found.append(a)
    if found:
        return float(protowire.signed(found[0], bits)) if len(found) == 1 else None
    if content is not None and len(content) == struct.calcsize(fmt):
        return float(struct.unpack(fmt, content)[0])
    return None


def _half_scalar(buf, dtype: int, values, content) -> float | None:
    bits = None
    for num, wire, a, b in values:
        if num == 13 and wire == 2 and b > a:
            bits, _ = _varint(buf, a, b)
        elif num == 13 and wire == 0:
            bits = a
    if bits is None and content is not None and len(content) == 2:
        bits = int.from_bytes(content, "little")
    if bits is None or not 0 <= bits <= 0xFFFF:  # a 16-bit value stored in a wider varint: not a value
        return None
    if dtype == DT_HALF:
        return float(np.array([bits], dtype=np.uint16).view(np.float16)[0])
    return float(np.array([bits << 16], dtype=np.uint32).view(np.float32)[0])


def _tensor_text(buf, pos: int, end: int) -> str | None:
    """The first string of a DT_STRING TensorProto."""
    for num, wire, a, b in _fields(buf, pos, end):
        if num == 8 and wire == 2:
            return bytes(buf[a:b]).decode("utf-8", "replace")
    return None


def _hparams(buf, pos: int, end: int) -> dict:
    """HParamsPluginData.session_start_info.hparams: {name: number, string or bool}."""
    out = {}
    for num, wire, a, b in _fields(buf, pos, end):
        if num != 3 or wire != 2:  # session_start_info
            continue
        for snum, swire, sa, sb in _fields(buf, a, b):
            if snum == 1 and swire == 2:  # map entry
                key, value = _hparam_entry(buf, sa, sb)
                if key:
                    out[key] = value
    return out


def _hparam_entry(buf, pos: int, end: int):
    key, value = "", None
    for num, wire, a, b in _fields(buf, pos, end):
        if num == 1 and wire == 2:
            key = bytes(buf[a:b]).decode("utf-8", "replace")
        elif num == 2 and wire == 2:  # google.protobuf.Value
            for vnum, vwire, va, vb in _fields(buf, a, b):
                if vnum == 2 and vwire == 1:
                    value = struct.unpack_from("<d", buf, va)[0]
                elif vnum == 3 and vwire == 2:
                    value = bytes(buf[va:vb]).decode("utf-8", "replace")
                elif vnum == 4 and vwire == 0:
                    value = bool(va)
    return key, value


# ------------------------------------------------------------------------------------------ the plugin

# Folders whose name says the role of every scalar in them (Keras writes logs/train and logs/validation).
ROLE_DIRS = {"train": "train", "training": "train", "validation": "eval", "val": "eval", "valid": "eval",
             "eval": "eval", "evaluation": "eval", "test": "test"}


def _has_events(folder: Path) -> bool:
    try:
        return any("tfevents" in e.name and e.is_file() for e in os.scandir(folder))
    except OSError:
        return False


def run_root(path: Path) -> Path:
    """The run an event file belongs to.

    HF writes `<output_dir>/runs/<date>_<host>/` (and add_hparams a timestamp folder below that): those belong
    to the output dir when it shows it is one (checkpoints, trainer_state.json, training_args.bin...), so a
    resume into a new `runs/<date>` folder stays the same run; a bare `runs/` of tensorboardX's default
    writer holds one run per folder. Keras writes `<logdir>/train/` and `<logdir>/validation/`, tensorboardX's
    add_scalars a child folder per key beside the main writer's files: those belong to the folder above.
    """
    d = path.parent
    for _ in range(4):
        if d.name.lower() in ROLE_DIRS or (d.parent != d and _has_events(d.parent)):
            d = d.parent
            continue
        break
    if d.parent.name == "runs" and _is_output_dir(d.parent.parent):
        return d.parent.parent
    return d


_OUTPUT_DIR_MARKERS = ("trainer_state.json", "training_args.bin", "trainer_log.jsonl", "all_results.json",
                       "train_results.json", "adapter_config.json", "config.json", "training_args.yaml")


def _is_output_dir(folder: Path) -> bool:
    """A Trainer output dir: its own files, or checkpoint-N folders."""
    try:
        return any(e.name in _OUTPUT_DIR_MARKERS or (e.name.startswith("checkpoint-") and e.is_dir())
                   for e in os.scandir(folder))
    except OSError:
        return False


def role_of(path: Path) -> tuple[str | None, str | None]:
    """(role, key) an event file's folder gives its scalars: `validation/` → ("eval", None); tensorboardX's
    add_scalars child `loss_val/` → ("eval", None); `lr_group1/` → (None, "group1")."""
    d = path.parent
    name = d.name.lower()
    if name in ROLE_DIRS:
        return ROLE_DIRS[name], None
    if d.parent != d and _has_events(d.parent) and "_" in d.name:
        key = d.name.rsplit("_", 1)[1]
        return ROLE_DIRS.get(key.lower()), (None if key.lower() in ROLE_DIRS else key)
    return None, None


SOURCE = Source(
    name=FORMAT,
    title="TensorBoard event files (HF Trainer report_to=tensorboard, tensorboardX, Keras, TF1/TF2, verl, NeMo)",
    read=read,
    priority=10,
    names=("*tfevents*",),
    anchor=True,
    run_root=run_root,
    combine=merge,
    examples=("<output_dir>/runs/<date>_<host>/events.out.tfevents.*", "logs/train/, logs/validation/ (Keras)"),
)
