"""The per-epoch JSON lines reader's bulk way (a chunk as one JSON array, key sets as float tables) reads what its
row-by-row way reads, which is the reader's definition: same series (steps, values, lines, order), warnings, facts."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from kto_doctor.sources import epoch_jsonl, store_util

ODD = [b'{"epoch": 3, "train_loss": "1.5", "test_loss": "nan"}', b'{"epoch": true, "train_loss": 1}',
       b'{"epoch": 2.5e300, "train_loss": 1}', b'{"epoch": 9007199254740993, "train_loss": 1}',
       b'{"epoch": 4, "train_loss": null, "val_loss": [1], "test_loss": 2}',
       b'{"epoch": 5, "train_loss": 1}, {"epoch": 6, "train_loss": 2}', b'[1, 2]', b'"x"',
       b'{"epoch": 7, "train_train_loss": 3.5, "train_epoch": 99}',
       b'{"epoch": 8, "train_loss": 1e400, "test_acc": 123456789012345678901234567890}',
       b'{"epoch": NaN, "train_loss": 1}', b'{"epoch": 9, "train_loss": Infinity, "note": "a }, { b"}',
       b'\xef\xbb\xbf{"epoch": 10, "train_loss": 1}',
       b'{"epoch": 11, "val_loss": 1, "test_loss": 2, "n_parameters": "x"}',
       b'{"a": {"b": 1}, "epoch": 12, "train_x": {"c": 2}}', b'{"epoch": -1, "train_loss": 0.5}', b'   ', b'',
       b'{"epoch": 13, "train_loss": 1}\x00', b'{"epoch": 14, "train_loss": 2, "train_loss": 3}', b'{"epoch": 15']


def _lines(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for epoch in range(n):
        row = {"train_lr": rng.random() * 1e-3, "train_loss": rng.random() * 2, "epoch": epoch,
               "test_loss": rng.random(), "test_acc1": rng.randint(0, 100)}
        if rng.random() < 0.2:
            row["val_closs"] = rng.random()
        if epoch == 1:
            row["n_parameters"] = 86567656
        out.append(json.dumps(row).encode())
    return out


def _read_both(path, monkeypatch):
    fast = epoch_jsonl.read(path)
    with monkeypatch.context() as m:
        m.setattr(epoch_jsonl, "_table_rows", lambda *a: None)
        m.setattr(epoch_jsonl, "_fast_chunk", lambda *a: False)
        m.setattr(epoch_jsonl, "_TWO_ON_A_LINE", type("Always", (), {"search": staticmethod(lambda t: True)})())
        slow = epoch_jsonl.read(path)
    return fast, slow


def _same(a, b):
    assert list(a.series) == list(b.series)
    for name in a.series:
        for attr in ("steps", "values", "lines"):
            x, y = getattr(a.series[name], attr), getattr(b.series[name], attr)
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes(), (name, attr)
    assert (a.warnings, a.facts, a.records, a.segments) == (b.warnings, b.facts, b.records, b.segments)


def _row_by_row(path, monkeypatch):
    """The file read line by line only (the reader's definition)."""
    with monkeypatch.context() as m:
        m.setattr(epoch_jsonl, "_fast_chunk", lambda *a: False)
        m.setattr(epoch_jsonl, "_table_rows", lambda *a: None)
        return epoch_jsonl.read(path)


def _count(monkeypatch, way: str) -> list:
    """Whether each call of one of the reader's ways read its lines (a list the calls append to)."""
    taken = []
    real = getattr(epoch_jsonl, way)

    def counted(*args):
        got = real(*args)
        taken.append(got is not None and got is not False)
        return got

    monkeypatch.setattr(epoch_jsonl, way, counted)
    return taken


@pytest.mark.parametrize("seed", range(6))
def test_bulk_way_reads_what_the_row_by_row_way_reads(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    lines = _lines(rng, 3000)
    if seed % 2:
        for odd in rng.sample(ODD, 6):
            lines.insert(rng.randrange(len(lines)), odd)
    if seed == 4:
        lines = lines[:1000] + lines[:500]  # a resumed run: the epoch restarts
    p = tmp_path / "log.txt"
    p.write_bytes(b"\n".join(lines) + (b"\n" if seed % 3 else b""))
    monkeypatch.setattr(store_util, "CHUNK", 1 << 14)  # many chunks, some of them odd
    taken = _count(monkeypatch, "_table_rows")
    fast, slow = _read_both(p, monkeypatch)
    _same(fast, slow)
    assert sum(taken) > len(taken) // 2  # the bulk way did read most chunks


def test_two_objects_on_a_line_are_not_two_records(tmp_path, monkeypatch):
    """A chunk parsed as one array must not split a line into two rows or join two lines into one."""
    lines = _lines(random.Random(1), 50)
    lines[10] = b'{"epoch": 5, "train_loss": 1}, {"epoch": 6, "train_loss": 2}'
    lines[20:22] = [b'{"x": [{}', b'{}]}']  # two lines that are one element of the joined array
    p = tmp_path / "log.txt"
    p.write_bytes(b"\n".join(lines) + b"\n")
    fast, slow = _read_both(p, monkeypatch)
    _same(fast, slow)
    assert fast.records == len(lines) - 3 and "skipped 3 line(s)" in fast.warnings[0]


# Lines the whole-piece way (`_fast_chunk`: every line the first one's keys and spacing, numbers only) must leave to
# the JSON way, each alone in a run of lines it would read: numbers json.loads and pandas read apart, no JSON numbers,
# spacing, a different key set
NUMBERS = [b"01", b".5", b"1.", b"+1", b"-0", b"1e400", b"1E5", b"-1.5e-07", b"123456789012345678901234567890",
           b"9007199254740993", b"2.5e300", b"-0.0", b"0", b"1e-5", b"NaN", b"Infinity", b"true", b"null", b'"1.5"',
           b"1.0e+01", b"1e+01"]


def _uniform(rng: random.Random, n: int, sep=(", ", ": ")) -> list[bytes]:
    out = []
    for epoch in range(n):
        row = {"train_lr": rng.random() * 1e-3, "train_loss": rng.random() * 2, "epoch": epoch,
               "test_loss": rng.random() * 10 ** rng.randrange(-9, 9), "test_acc1": rng.randint(0, 100),
               "n_parameters": 86567656}
        out.append(json.dumps(row, separators=sep).encode())
    return out


@pytest.mark.parametrize("seed", range(8))
def test_the_whole_piece_way_reads_what_the_row_by_row_way_reads(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    lines = _uniform(rng, 4000, sep=(",", ":") if seed == 3 else (", ", ": "))
    if seed % 2:
        for i in rng.sample(range(len(lines)), 12):
            row = json.loads(lines[i])
            row["train_loss"] = "@@"
            if rng.random() < 0.3:
                row["x"] = 1  # another key set
            lines[i] = json.dumps(row).encode().replace(b'"@@"', rng.choice(NUMBERS))
        for odd in rng.sample(ODD, 4):
            lines.insert(rng.randrange(len(lines)), odd)
    if seed == 4:
        lines = lines[:1000] + lines[:500]  # a resumed run
    p = tmp_path / "log.txt"
    p.write_bytes(b"\n".join(lines) + (b"\n" if seed % 3 else b""))
    monkeypatch.setattr(epoch_jsonl, "PIECE", 1 << 13)  # many pieces, some of them odd
    taken = _count(monkeypatch, "_fast_chunk")
    fast = epoch_jsonl.read(p)
    _same(fast, _row_by_row(p, monkeypatch))
    assert sum(taken) > len(taken) // 2  # the whole-piece way did read most pieces


@pytest.mark.parametrize("number", NUMBERS)
def test_each_number_form_is_read_as_json_loads_reads_it(tmp_path, monkeypatch, number):
    lines = _uniform(random.Random(7), 300)
    lines[150] = b'{"train_lr": 0.5, "train_loss": ' + number + b', "epoch": 150, "test_loss": 0.5, "test_acc1": 5, ' \
                 b'"n_parameters": 86567656}'
    p = tmp_path / "log.txt"
    p.write_bytes(b"\n".join(lines) + b"\n")
    fast = epoch_jsonl.read(p)
    _same(fast, _row_by_row(p, monkeypatch))


@pytest.mark.parametrize("seed", range(4))
def test_two_keys_of_one_metric_are_read_by_the_whole_piece_way_as_row_by_row(tmp_path, monkeypatch, seed):
    """`train_loss` and `train_closs` (and `val_loss`, `test_loss`) mean one metric: the whole-piece way's store
    keeps the last key's values, which is what the row-by-row way keeps of each step (the key order either way,
    repeated epochs, a restart)."""
    rng = random.Random(seed)
    lines = []
    for epoch in range(3000):
        pair = [("train_loss", rng.random()), ("train_closs", rng.random())]
        row = dict([("train_lr", rng.random() * 1e-3)] + (pair[::-1] if seed == 1 else pair)
                   + [("epoch", epoch // 2 if seed == 2 else epoch), ("val_loss", rng.random()),
                      ("test_loss", rng.random())])
        lines.append(json.dumps(row).encode())
    if seed == 3:
        lines = lines[:1000] + lines[:500] + [ODD[0]] + lines[2000:]  # a resumed run, an odd line
    p = tmp_path / "log.txt"
    p.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(epoch_jsonl, "PIECE", 1 << 13)
    taken = _count(monkeypatch, "_fast_chunk")
    fast = epoch_jsonl.read(p)
    _same(fast, _row_by_row(p, monkeypatch))
    assert sum(taken) > len(taken) // 2


def _bench_lines(n: int) -> list[bytes]:
    """The benchmark's generated log (`benchmarks/bench_text_readers.py`: json.dumps of Python reprs), n lines."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_text_readers.py"
    spec = importlib.util.spec_from_file_location("bench_text_readers", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.Pool(1)
    return [bench.gen_epoch_jsonl(r, i).encode().rstrip(b"\n") for i in range(1, n + 1)]


def _mutations(line: bytes, rng: random.Random) -> bytes:
    """A line that differs from its neighbours where the whole-piece way must see it: a key of the same length
    (`test_acc1` -> `test_acc7`), one longer, other spacing, a colon or a brace in a value, a value that is no
    number, a missing or doubled end, a line feed less (two lines as one), a blank or a truncated line."""
    row = line
    choice = rng.randrange(12)
    if choice == 0:
        return row.replace(b"test_acc1", b"test_acc7")
    if choice == 1:
        return row.replace(b'"train_loss"', b'"train_lossx"')
    if choice == 2:
        return row.replace(b", ", b",  ", 1)
    if choice == 3:
        return row.replace(b'"epoch": ', b'"epoch":', 1)
    if choice == 4:
        return row.replace(b"86567656", b'"8:6"')
    if choice == 5:
        return row.replace(b"86567656", b"8656}7656")
    if choice == 6:
        return row.replace(b"86567656", b"8656x")
    if choice == 7:
        return row[:-1]
    if choice == 8:
        return row + b"}"
    if choice == 9:
        return row + b" " + row  # (two objects on one line, without the comma)
    if choice == 10:
        return b""
    return row[:rng.randrange(1, len(row))]


@pytest.mark.parametrize("seed", range(6))
def test_the_whole_piece_way_reads_the_benchmarks_log_and_its_damage_as_row_by_row(tmp_path, monkeypatch, seed):
    """The benchmark's log, with lines damaged in the ways a piece's gaps and values must catch, each among good
    ones, over many pieces and chunks: what the row-by-row way reads, and the whole-piece way read most pieces."""
    rng = random.Random(seed)
    lines = _bench_lines(3000)
    if seed:
        for i in rng.sample(range(len(lines)), 10):
            lines[i] = _mutations(lines[i], rng)
    p = tmp_path / "log.txt"
    p.write_bytes(b"\n".join(lines) + (b"\n" if seed % 3 else b""))
    monkeypatch.setattr(epoch_jsonl, "PIECE", 1 << 13)
    monkeypatch.setattr(store_util, "CHUNK", 1 << 16)
    taken = _count(monkeypatch, "_fast_chunk")
    fast = epoch_jsonl.read(p)
    _same(fast, _row_by_row(p, monkeypatch))
    assert sum(taken) > len(taken) // 2


def test_a_line_with_both_spacings_is_left_to_the_row_by_row_way(tmp_path, monkeypatch):
    """`"k": 1` and `"k":1` in one line (hand-made, never json.dumps): each value where it starts. The whole-piece
    way took the first pair's spacing for all and read `"epoch":112` as 12."""
    lines = [b'{"train_loss": 0.5, "epoch":%d, "test_loss":12}' % i for i in range(110, 200)]
    p = tmp_path / "log.txt"
    p.write_bytes(b"\n".join(lines) + b"\n")
    fast = epoch_jsonl.read(p)
    _same(fast, _row_by_row(p, monkeypatch))
    assert fast.series["epoch"].values[0] == 111.0


def test_the_fixtures_are_read_by_the_whole_piece_way_as_row_by_row(monkeypatch):
    """Every fixture of the format (the LLaMA-Adapter log pasted into its issue), pieces made small."""
    from pathlib import Path

    fixtures = [Path(__file__).parent / "fixtures" / "pastes" / "OpenGVLab__LLaMA-Adapter__issue84.log"]
    monkeypatch.setattr(epoch_jsonl, "PIECE", 1 << 10)
    for p in fixtures:
        taken = _count(monkeypatch, "_fast_chunk")
        fast = epoch_jsonl.read(p)
        _same(fast, _row_by_row(p, monkeypatch))
        assert any(taken)


def test_text_chunks_yields_the_lines_and_their_numbers(tmp_path, monkeypatch):
    """`store_util.text_chunks` (one copy of each read, line feeds counted by numpy): its chunks joined are the
    text, each chunk's line base the lines before it, a last line without its line feed alone with cut=True,
    also where a read holds no line feed at all."""
    import io

    rng = random.Random(3)
    for tail in (b"", b"\n", b"last line", b"  \n", b"x" * 300):
        lines = [bytes(rng.choice(b"ab{}:\r ") for _ in range(rng.choice([0, 3, 40, 200]))) for _ in range(400)]
        data = b"\n".join(lines) + b"\n" + tail
        monkeypatch.setattr(store_util, "CHUNK", 97)
        monkeypatch.setattr(store_util, "_FEEDS_BLOCK", 64)
        got = list(store_util.text_chunks(io.BytesIO(data)))
        assert [(t, b) for t, b, _ in store_util.text_chunks(io.BytesIO(data), 97)] == [(t, b) for t, b, _ in got]
        _check_chunks(data, list(store_util.text_chunks(io.BytesIO(data), 31)))
        _check_chunks(data, got)


def _check_chunks(data: bytes, got: list) -> None:
    body = [t for t, _, cut in got if not cut]
    assert b"\n".join(body) + b"\n" == data[:data.rfind(b"\n") + 1]
    expect = 0
    for t, base, cut in got:
        assert base == expect
        expect += t.count(b"\n") + 1
    rest = data[data.rfind(b"\n") + 1:]
    assert [t for t, _, cut in got if cut] == ([rest] if rest.strip() else [])
    assert store_util.count_feeds(data) == data.count(b"\n")
