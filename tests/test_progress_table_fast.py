"""The progress-table reader's numpy way for plain pipe rows (`progress_table._pipe_rows`) reads what its row regex
reads (`_rows`, the definition): same series, steps, values, lines, warnings, on tables with odd rows among the plain
ones (`No log`, padded or led cells, rule lines, rows with too many or too few cells, decimal commas, marks)."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from kto_doctor.sources import progress_table

from conftest import assert_same_read

HEADERS = [["Step", "Training Loss", "Validation Loss"],
           ["Step", "Training Loss", "Validation Loss", "Rewards/chosen", "Rewards/margins"],
           ["Training Loss", "Epoch", "Step", "Validation Loss"], ["Epoch", "Training Loss"]]
ODD_CELLS = ["No log", "nan", "-", "", "1e-05", "0.5 ", " 0.5", "**0.5**", "1,5", "\u22120.5", "+0.5", ".5", "5.",
             "-.5", "12345678901.5", "None", "0.1234567890123456789"]
ODD_LINES = ["", "## Results", "text | with | pipes", "| a | b |", "| 1 | 2 | 3 | 4 | 5 | 6 | 7 |", "|---|---|"]


def _table(rng: random.Random, seed: int) -> str:
    names = HEADERS[seed % len(HEADERS)]
    low = [n.lower() for n in names]
    ax = low.index("step") if "step" in low else low.index("epoch")
    out = []
    for _ in range(rng.randrange(1, 4)):
        out += [rng.choice(["", "## Training results"]), "| " + " | ".join(names) + " |",
                "|" + "|".join("-" * (len(n) + 2) for n in names) + "|"]
        step = rng.randrange(100)
        for _ in range(rng.randrange(50, 800)):
            step += rng.choice([1, 10, 10, 0, -5])
            cells = [f"{rng.uniform(-2, 2):.{rng.choice([4, 6])}f}" for _ in names]
            cells[ax] = str(step)
            if seed % 2 and rng.random() < 0.03:
                odd = ODD_CELLS if seed % 4 == 3 else [c for c in ODD_CELLS if not any(m in c for m in ",*+~\u2212")]
                cells[rng.randrange(len(cells))] = rng.choice(odd + ["x", " 7", "1.5"])
            line = "| " + " | ".join(cells) + " |"
            if seed % 2 and rng.random() < 0.01:
                line = rng.choice(["> ", "  ", "- ", "+ " if seed % 4 == 3 else "", ""]) + line + rng.choice(["", " ", "  |"])
            out.append(line)
            if seed % 2 and rng.random() < 0.005:
                out.append(rng.choice(ODD_LINES))
    return "\n".join(out) + ("\n" if seed % 3 else "")


def _read_both(path, monkeypatch):
    fast = progress_table.read(path)
    with monkeypatch.context() as m:
        m.setattr(progress_table, "_pipe_rows", lambda *a: (None, None))
        slow = progress_table.read(path)
    return fast, slow


@pytest.mark.parametrize("seed", range(16))
def test_the_numpy_way_reads_what_the_row_regex_reads(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    p = tmp_path / "README.md"
    p.write_text(_table(rng, seed))
    monkeypatch.setattr(progress_table, "_PIECE", 1 << 12)  # many pieces
    taken = []
    real = progress_table._pipe_piece

    def counted(*args):
        got = real(*args)
        taken.append(len(got[0]))
        return got

    monkeypatch.setattr(progress_table, "_pipe_piece", counted)
    fast, slow = _read_both(p, monkeypatch)
    assert_same_read(fast, slow)
    if seed % 4 != 3:  # (a stretch with a decimal comma or a mark is the row regex's)
        assert sum(taken) > fast.records // 2  # the numpy way read most rows


def test_a_table_with_decimal_commas_or_marks_is_left_to_the_row_regex(tmp_path, monkeypatch):
    rows = "".join(f"| {i} | {0.5 + i / 1000:.4f} | {0.6:.4f} |\n" for i in range(1, 300))
    for extra, step in (("| 300 | 1,5 | 0,5 |\n", 299), ("| 300 | **0.25** | 0.5 |\n", 300)):
        p = tmp_path / "t.md"
        p.write_text("| Step | Training Loss | Validation Loss |\n|---|---|---|\n" + rows + extra)
        fast, slow = _read_both(p, monkeypatch)
        assert fast.series["loss"].values.tobytes() == slow.series["loss"].values.tobytes()
        assert fast.series["loss"].steps[-1] == step  # (`1,5` among points is no number; `**0.25**` is 0.25)


def test_a_table_by_fractional_epoch_is_decided_by_its_stretch(tmp_path, monkeypatch):
    """A lower-case `| epoch | loss |` table with fractional epochs: the epoch becomes a series and the rows are
    numbered, decided on the whole stretch, also where some of its rows are read by the row regex alone."""
    rows = [f"| {i / 50:.2f} | {2 - i / 1000:.4f} |" for i in range(1, 400)]
    rows[100] = "| 2.02 | No log |"
    rows[200] = "  | 4.02 | 1.5000 |"
    for text in ("| epoch | loss |\n|---|---|\n" + "\n".join(rows) + "\n",
                 "| epoch | loss |\n|---|---|\n" + "\n".join(f"| {i} | 0.5 |" for i in range(1, 300)) + "\n| 3.5 | 1 |\n"):
        p = tmp_path / "report.md"
        p.write_text(text)
        fast, slow = _read_both(p, monkeypatch)
        assert (fast.warnings, fast.step_kind, list(fast.series)) == (slow.warnings, slow.step_kind, list(slow.series))
        for name in fast.series:
            for attr in ("steps", "values", "lines"):
                assert np.asarray(getattr(fast.series[name], attr)).tobytes() == \
                    np.asarray(getattr(slow.series[name], attr)).tobytes(), (name, attr)


TRICKY = ["-0.000000", "0.000000", "1e-05", "nan", "inf", "-inf", "No log", "12345678.12345678", "123456789012345",
          "1234567890123456", "0.123456789012345", ".5", "5.", "-.5", "007", "-7", "0", "x", " 0.5", "0.5 ", "1.5e3"]


@pytest.mark.parametrize("seed", range(8))
def test_the_byte_matrix_way_reads_what_the_cell_way_reads(tmp_path, monkeypatch, seed):
    """Rows of a few layouts (signs, widths) are read as byte matrices (`bytematrix.layouts`): the same as the
    cell-by-cell numpy way (`_pipe_slow`) alone, with tricky cells and odd lines among them, many pieces."""
    rng = random.Random(100 + seed)
    names = HEADERS[seed % len(HEADERS)]
    low = [n.lower() for n in names]
    ax = low.index("step") if "step" in low else low.index("epoch")
    forms = [rng.choice(["{:.6f}", "{:.4f}", "{:.1f}", "{:.0f}", "{:.8f}"]) for _ in names]
    out = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    step = rng.randrange(5)
    for i in range(3000):
        step += rng.choice([1, 10, 10, 10, 10, 10, 1000, -3] if seed % 2 else [1, 10])
        cells = [forms[j].format(rng.random() if rng.random() < 0.9 else rng.choice([-rng.random(), 0.0, -0.0, 12.5]))
                 for j in range(len(names))]
        cells[ax] = str(step)
        if rng.random() < 0.02:
            cells[rng.randrange(len(cells))] = rng.choice(TRICKY)
        line = "| " + " | ".join(cells) + " |"
        if rng.random() < 0.01:
            line = rng.choice(["", "text", "| a | b |", "|---|---|", "> " + line, line + " ", line[:-1], "  " + line])
        out.append(line)
    p = tmp_path / "README.md"
    p.write_text("\n".join(out) + ("\n" if seed % 3 else ""))
    monkeypatch.setattr(progress_table, "_PIECE", 1 << 13)
    taken = []
    real = progress_table.bytematrix.layouts

    def counted(*args, **kw):
        got = real(*args, **kw)
        taken.append(sum(len(r) for _, r in got))
        return got

    monkeypatch.setattr(progress_table.bytematrix, "layouts", counted)
    fast = progress_table.read(p)
    monkeypatch.setattr(progress_table.bytematrix, "layouts", lambda *a, **kw: [])
    slow = progress_table.read(p)
    assert_same_read(fast, slow)
    assert sum(taken) > fast.records // 3  # (the byte matrices read many of the rows)


def test_metrics_on_every_row_share_the_rows_steps_and_lines(tmp_path):
    """A metric on every row from its first on takes the shared steps and lines; one that misses a row (`No log`,
    a later table without its column) has its own: the values, steps and lines are each metric's rows either way."""
    first = [f"| {10 * i} | {i / 100:.4f} | {'No log' if i == 5 else f'{i / 50:.4f}'} |" for i in range(1, 41)]
    second = [f"| {1000 + 10 * i} | {i / 200:.4f} |" for i in range(1, 41)]
    text = ("| Step | Training Loss | Validation Loss |\n|---|---|---|\n" + "\n".join(first) + "\n\n"
            "| Step | Training Loss |\n|---|---|\n" + "\n".join(second) + "\n")
    p = tmp_path / "README.md"
    p.write_text(text)
    got = progress_table.read(p)
    loss, val = got.series["loss"], got.series["eval_loss"]
    assert loss.steps.tolist() == [10.0 * i for i in range(1, 41)] + [1000.0 + 10 * i for i in range(1, 41)]
    assert loss.values.tolist() == [i / 100 for i in range(1, 41)] + [i / 200 for i in range(1, 41)]
    assert loss.lines.tolist() == list(range(3, 43)) + list(range(46, 86))
    assert val.steps.tolist() == [10.0 * i for i in range(1, 41) if i != 5]
    assert val.values.tolist() == [i / 50 for i in range(1, 41) if i != 5]
    assert val.lines.tolist() == [2 + i for i in range(1, 41) if i != 5]
    assert not np.shares_memory(loss.steps, val.steps)
    p.write_text("| Step | Training Loss | Validation Loss |\n|---|---|---|\n" + "\n".join(first[:4]) + "\n")
    got = progress_table.read(p)
    assert np.shares_memory(got.series["loss"].steps, got.series["eval_loss"].steps)


def test_a_model_cards_hyperparameters_and_lora_tag_are_its_configuration(tmp_path):
    # the card the Trainer writes (codeindex gemma-2b age_bias card, held-out set 33): the rate is configured, not
    # logged, and the front matter's `- lora` tag names the adapter
    from kto_doctor.sources import progress_table

    card = ("---\nlibrary_name: peft\ntags:\n- llama-factory\n- lora\n- generated_from_trainer\n---\n\n# gemma-2b\n\n"
            "### Training hyperparameters\n\nThe following hyperparameters were used during training:\n"
            "- learning_rate: 5e-07\n- train_batch_size: 1\n- lr_scheduler_type: linear\n- num_epochs: 1.0\n\n"
            "### Training results\n\n| Training Loss | Epoch | Step | Validation Loss |\n|:---:|:---:|:---:|:---:|\n"
            "| 1.07 | 0.04 | 10 | 1.0180 |\n| 1.0252 | 0.08 | 20 | 1.0168 |\n| 1.0016 | 0.12 | 30 | 1.0161 |\n")
    p = tmp_path / "README.md"
    p.write_text(card)
    src = progress_table.read(p)
    assert src.config["learning_rate"] == 5e-07 and src.config["lr_scheduler_type"] == "linear"
    assert src.config["finetuning_type"] == "lora" and src.config["num_epochs"] == 1.0
    assert src.series["loss"].values.tolist() == [1.07, 1.0252, 1.0016]
    p.write_text(card.replace("- lora\n", ""))
    assert "finetuning_type" not in progress_table.read(p).config


def _bench_log(fmt: str, path, size_kb: int) -> None:
    """The benchmark's generated log of `fmt` (`benchmarks/bench_text_readers.py`), about `size_kb` KB."""
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("bench_text_readers", REPO / "benchmarks" / "bench_text_readers.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    gen, r, parts, i = bench.FORMATS[fmt][0], bench.Pool(1), [], 0
    while sum(map(len, parts)) < size_kb << 10:
        i += 1
        parts.append(gen(r, i))
    path.write_text("".join(parts))


FIXTURES = sorted(str(p) for p in (Path(__file__).parent / "fixtures" / "formats" / "progress_table").iterdir()) + [
    str(Path(__file__).parent / "fixtures" / "real" / "unslothai__unsloth__issue2291.log")]


@pytest.mark.parametrize("name", FIXTURES + ["bench", "bench-crlf", "box", "random-1", "random-3", "random-6"])
def test_the_chunk_searches_read_what_the_plain_searches_read(tmp_path, monkeypatch, name):
    """A chunk's token searches by memchr on a rare byte (`textlog.holds`, `find_rare`), one `_Table` a header text
    (`_table_of`) and the chunk's line feeds handed to the stream (`stream.feeds`) read what the plain searches, a
    `_Table` per header and the stream's own count read, over many chunks (every fixture of the format, the
    benchmark's log, its rows with CRLF ends or box-drawing verticals, random tables with odd rows)."""
    p = tmp_path / "README.md"
    if name.startswith("bench") or name == "box":
        _bench_log("progress_table", p, 200)
        text = p.read_text()
        if name == "bench-crlf":
            text = text.replace("\n", "\r\n")
        if name == "box":
            text = "".join(line.replace("|", "\u2502") if i % 7 else line for i, line in
                           enumerate(text.splitlines(keepends=True)))
        p.write_text(text, newline="")
    elif name.startswith("random"):
        seed = int(name.split("-")[1])
        p.write_text(_table(random.Random(seed), seed))
    else:
        p = Path(name)
    monkeypatch.setattr(progress_table.textlog, "CHUNK", 1 << 14)  # many chunks, each with its line feeds
    counts = []
    real_iter = progress_table.textlog.Chunks.__iter__

    def checked(self):  # the feeds handed over are the chunk's own
        for raw, base, final in real_iter(self):
            yield raw, base, final
            counts.append((self.feeds, raw.count(b"\n")))

    monkeypatch.setattr(progress_table.textlog.Chunks, "__iter__", checked)
    fast = progress_table.read(p)
    assert len(counts) > (1 if name.startswith(("bench", "box")) else 0)
    assert all(got == want for got, want in counts)
    with monkeypatch.context() as m:
        m.setattr(progress_table.textlog, "holds", lambda text, token, sample=0: token in text)
        m.setattr(progress_table.textlog, "find_rare", lambda data, needle, rare, start=0, limit=0:
                  data.find(needle, start))
        m.setattr(progress_table, "_table_of", lambda header, tables: progress_table._Table(header))
        m.setattr(progress_table.textlog.Chunks, "__iter__", real_iter)
        m.setattr(progress_table.textlog.Chunks, "feeds", property(lambda self: None, lambda self, v: None),
                  raising=False)
        slow = progress_table.read(p)
    assert_same_read(fast, slow)
    assert (fast.facts, fast.config, fast.step_kind) == (slow.facts, slow.config, slow.step_kind)
    assert fast.records > 0
