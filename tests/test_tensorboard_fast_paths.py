"""The TensorBoard reader's vectorised path reads what decoding every record one by one reads.

Event files of mixed shapes (tags of 1 to 300 bytes, so one- and two-byte sizes; steps absent, small and past
the vectorised path's five bytes; `simple_value` and v2 tensors; histograms; records with a flipped byte) are
read both ways, and the word-at-once check of a record's summary sizes is compared with parsing them field by
field.
"""
from __future__ import annotations

import mmap

import numpy as np
import pytest
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.histogram_pb2 import HistogramProto
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.proto.types_pb2 import DT_DOUBLE, DT_FLOAT

from kto_doctor.sources import tensorboard as tb
from kto_doctor.sources import tfrecord
from test_tensorboard import record_ends, simple, tensor_scalar, v2_tensor, write_events

TAG_LENGTHS = [1, 7, 8, 9, 16, 60, 104, 105, 106, 120, 127, 128, 300]
STEPS = [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 35 - 1, 2 ** 35, 2 ** 40]


def mixed_events(seed: int) -> list[Event]:
    rng = np.random.default_rng(seed)
    events = []
    for i in range(1500):
        n = TAG_LENGTHS[i % len(TAG_LENGTHS)]
        tag = ("train/" + "x" * n)[-n:] if n > 6 else "abcdefg"[:n]
        step = int(STEPS[rng.integers(len(STEPS))]) if i % 5 == 0 else i
        value = float(rng.standard_normal() * 10.0 ** rng.integers(-20, 20))
        kind = i % 7
        if kind == 0:
            events.append(tensor_scalar("v2/" + tag, step, v2_tensor(DT_FLOAT, "float_val", np.float32(value)),
                                        i < 7))
        elif kind == 1:
            events.append(tensor_scalar("v2d/" + tag, step, v2_tensor(DT_DOUBLE, "double_val", np.float64(value),
                                                                      shape=False), i < 7))
        elif kind == 2 and i % 3 == 0:
            histo = HistogramProto(min=0.0, max=1.0, num=3, sum=1.5, bucket_limit=[0.5, 1.0], bucket=[1, 2])
            events.append(Event(wall_time=1.7e9 + i, step=step, summary=Summary(value=[
                Summary.Value(tag="h/" + tag, histo=histo)])))
        else:
            events.append(simple(tag, step, value, wall=1.7e9 + i * rng.random()))
    return events


def one_by_one(path, monkeypatch, check_crc=True):
    with monkeypatch.context() as m:
        m.setattr(tb, "SMALL", 1 << 40)
        return tb.read(path, check_crc=check_crc)


def assert_same(a, b):
    assert sorted(a.series) == sorted(b.series)  # (the order of names follows the path that found them)
    for name in a.series:
        x, y = a.series[name], b.series[name]
        for field in ("steps", "values", "lines", "wall_times"):
            assert getattr(x, field).tobytes() == getattr(y, field).tobytes(), (name, field)
    assert (a.facts, a.config, a.warnings, a.records) == (b.facts, b.config, b.warnings, b.records)


@pytest.mark.parametrize("chunk", [None, 97])
@pytest.mark.parametrize("check_crc", [True, False])
def test_vectorised_path_reads_what_one_by_one_reads(tmp_path, monkeypatch, chunk, check_crc):
    if chunk:
        monkeypatch.setattr(tb, "CHUNK", chunk)
    path = write_events(tmp_path, mixed_events(0))
    fast = tb.read(path, check_crc=check_crc)
    assert fast.series and not fast.warnings
    assert_same(fast, one_by_one(path, monkeypatch, check_crc))


@pytest.mark.parametrize("small_crc", [0, 1 << 40])  # checksums of records read one by one: library, numpy
def test_records_with_a_flipped_byte_are_dropped_either_way(tmp_path, monkeypatch, small_crc):
    monkeypatch.setattr(tb._Events, "SMALL_CRC", small_crc)
    path = write_events(tmp_path, mixed_events(1))
    raw = bytearray(path.read_bytes())
    ends = record_ends(path)
    rng = np.random.default_rng(1)
    for k in rng.choice(np.arange(1, len(ends)), 40, replace=False):
        start = ends[k - 1]
        raw[int(rng.integers(start + 12, ends[k] - 4))] ^= 1 << int(rng.integers(8))  # a data byte
    path.write_bytes(bytes(raw))
    fast = tb.read(path)
    assert "40 record(s) failed their checksum" in fast.warnings[0]
    assert_same(fast, one_by_one(path, monkeypatch))


def test_sizes_in_one_word_equal_sizes_parsed(tmp_path):
    path = write_events(tmp_path, mixed_events(2))
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    b = tfrecord.Bytes(buf)
    frames = tfrecord.frame(b)
    fast = tb._ScalarLayout(b, frames.starts, frames.lengths)
    parsed = tb._ScalarLayout(b, frames.starts, frames.lengths, fast=False)
    assert fast.ok.tobytes() == parsed.ok.tobytes()
    assert 0 < fast.ok.sum() < len(fast.ok)
    for field in ("tag_start", "tag_end", "form", "step", "step_len", "value_bits", "wall_bits"):
        assert getattr(fast, field)[fast.ok].tobytes() == getattr(parsed, field)[fast.ok].tobytes(), field
    del fast, parsed, b


def test_groups_whose_keys_share_their_sorting_bits_read_the_same(tmp_path, monkeypatch):
    """Records are grouped after a sort by 16 bits of their key: keys that share them interleave, and are
    still read as one group each would be."""
    path = write_events(tmp_path, mixed_events(3))
    expected = tb.read(path)
    monkeypatch.setattr(tb, "_fold16", lambda keys: (keys & np.uint64(1)).astype(np.uint16))
    assert_same(tb.read(path), expected)
    assert list(tb.read(path).series) == list(expected.series)  # the same order of names, too


def test_checksums_with_numpy_equal_the_librarys():
    crc32c = pytest.importorskip("crc32c").crc32c
    rng = np.random.default_rng(4)
    data = rng.integers(0, 256, 5000, dtype=np.uint8)
    offsets, lengths = rng.integers(0, 4000, 300), rng.integers(0, 700, 300)
    lengths[:3] = [0, 1, 2]
    got = tfrecord.LinearCrc().crcs(data, offsets, lengths)
    assert got.tolist() == [crc32c(data[o:o + n].tobytes()) for o, n in zip(offsets, lengths)]


def periodic_events(steps: int, seed: int, start: int = 1) -> list[Event]:
    """What a Trainer writes: the same tags at every step (simple values, v2 float and double tensors), evals
    every 7 steps; steps crossing the varint widths (127/128, 16383/16384)."""
    rng = np.random.default_rng(seed)
    events = []
    for step in range(start, start + steps):
        wall = 1.7e9 + 0.7 * step
        for tag in ("train/loss", "train/grad_norm", "train/learning_rate"):
            events.append(simple(tag, step, float(rng.standard_normal()), wall=wall))
        events.append(tensor_scalar("v2/kl", step, v2_tensor(DT_FLOAT, "float_val", np.float32(rng.random())),
                                    step == start))
        events.append(tensor_scalar("v2/margin", step, v2_tensor(DT_DOUBLE, "double_val", np.float64(rng.random())),
                                    step == start))
        if step % 7 == 0:
            events += [simple("eval/loss", step, float(rng.random()), wall=wall),
                       simple("eval/rewards/chosen", step, float(rng.random()), wall=wall)]
    return events


def without_repeats(path, monkeypatch, check_crc=True):
    """The file read chunk by chunk (CHUNK records at a time), as before repeats were looked for."""
    with monkeypatch.context() as m:
        m.setattr(tb._Events, "repeat", lambda self, *args: None)
        m.setattr(tb._Events, "first", lambda self: 1 << 40)
        return tb.read(path, check_crc=check_crc)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(tb, "CHUNK", 300)
    monkeypatch.setattr(tb._Events, "PERIOD_MAX", 100)
    monkeypatch.setattr(tb._Events, "ROWS", 500)  # several blocks of rows per stretch
    monkeypatch.setattr(tfrecord.Framer, "BLOCK", 5000)


def assert_same_order(a, b):
    assert_same(a, b)
    assert list(a.series) == list(b.series)  # the names' order too (the report lists them so)


def test_repeating_records_read_as_each_chunk_reads_them(tmp_path, monkeypatch, small_chunks):
    events = periodic_events(300, 5, start=1) + periodic_events(200, 6, start=16300)
    path = write_events(tmp_path, events)
    calls = []
    repeat = tb._Events.repeat
    with monkeypatch.context() as m:
        m.setattr(tb._Events, "repeat", lambda self, *a: calls.append(repeat(self, *a)) or calls[-1])
        fast = tb.read(path)
    assert sum(got[0] for got in calls if got) > len(events) // 2  # most records were read as repeats
    assert_same_order(fast, without_repeats(path, monkeypatch))
    assert_same(fast, one_by_one(path, monkeypatch))


@pytest.mark.parametrize("damage", ["data", "wall", "length", "cut"])
@pytest.mark.parametrize("check_crc", [True, False])
def test_damage_among_repeating_records_reads_as_before(tmp_path, monkeypatch, small_chunks, damage, check_crc):
    path = write_events(tmp_path, periodic_events(400, 7))
    raw = bytearray(path.read_bytes())
    ends = record_ends(path)
    rng = np.random.default_rng(8)
    for k in sorted(rng.choice(np.arange(400, len(ends) - 1), 6, replace=False)):
        start = ends[k - 1]
        if damage == "data":
            raw[int(rng.integers(start + 12 + 10, ends[k] - 4))] ^= 1 << int(rng.integers(8))
        elif damage == "wall":
            raw[start + 12 + 1 + int(rng.integers(8))] ^= 0x10
        elif damage == "length":
            raw[start + int(rng.integers(4))] ^= 0x04
    if damage == "cut":
        raw = raw[:ends[-300] - 9]
    path.write_bytes(bytes(raw))
    expected = without_repeats(path, monkeypatch, check_crc)
    if damage != "cut" and check_crc:
        assert expected.warnings
    calls = []
    repeat = tb._Events.repeat
    with monkeypatch.context() as m:
        m.setattr(tb._Events, "repeat", lambda self, *a: calls.append(repeat(self, *a)) or calls[-1])
        fast = tb.read(path, check_crc=check_crc)
    assert len([got for got in calls if got]) >= 2  # stretches of repeats, broken by the damage
    assert_same_order(fast, expected)


@pytest.mark.parametrize("block", [700, 5000, 1 << 22])
def test_framing_block_by_block_finds_what_one_frame_finds(tmp_path, monkeypatch, block):
    path = write_events(tmp_path, periodic_events(300, 9))
    raw = bytearray(path.read_bytes())
    ends = record_ends(path)
    for k in (100, 101, 400, 900):
        raw[ends[k - 1] + 3] ^= 0x20  # a length byte: the framing resynchronises
    raw[ends[700 - 1] + 20:ends[700 - 1] + 60] = bytes(40)  # zeros over a record and a half
    path.write_bytes(bytes(raw[:-7]))  # and a cut last record
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    b = tfrecord.Bytes(buf)
    whole = tfrecord.frame(b)
    monkeypatch.setattr(tfrecord.Framer, "BLOCK", block)
    framer = tfrecord.Framer(b)
    pieces = []
    while True:
        starts, lengths = framer.take(97)
        if not len(starts):
            break
        pieces.append((starts.copy(), lengths.copy()))
    assert framer.done and whole.damaged and whole.cut_at is not None
    assert np.concatenate([s for s, _ in pieces]).tolist() == whole.starts.tolist()
    assert np.concatenate([n for _, n in pieces]).tolist() == whole.lengths.tolist()
    assert (framer.frames.damaged, framer.frames.cut_at) == (whole.damaged, whole.cut_at)
    del b, whole, framer, pieces, starts, lengths


@pytest.mark.parametrize("seed", [0, 3])
def test_names_are_ranked_as_reading_chunk_by_chunk_inserts_them(tmp_path, monkeypatch, seed):
    """Read chunk by chunk, the order of the names is the order in which each chunk's groups (by key) first
    held a tag; `_Events.rank` gives the same order however the records were read."""
    monkeypatch.setattr(tb, "CHUNK", 97)
    path = write_events(tmp_path, mixed_events(seed) + periodic_events(60, seed, start=120))
    orders = []
    series = tb._Events.series

    def spy(self):
        for dest in (self.arrays, self.tensors):
            inserted = list(dest)
            assert inserted == sorted(inserted, key=lambda tag: self.rank[(id(dest), tag)])
            orders.append(inserted)
        return series(self)

    monkeypatch.setattr(tb._Events, "series", spy)
    chunked = without_repeats(path, monkeypatch)
    assert len(orders[0]) > 10 and len(orders[1]) > 5
    assert_same_order(tb.read(path), chunked)  # (pieces of 200 records and repeats, ranked)
