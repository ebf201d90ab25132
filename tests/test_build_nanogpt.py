"""build-nanogpt's `log.txt` (`0 val 11.0864`, `0 hella 0.2498`, `0 train 11.087302`): a real head in
tests/fixtures/pastes (AGNDM/build-nanogpt) and generated variants."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import kto_doctor
from kto_doctor import sources

from conftest import assert_same_read

REAL = Path(__file__).parent / "fixtures" / "pastes" / "AGNDM__build-nanogpt__log_bigger-log.txt"


def test_train_val_and_hellaswag_rows_become_loss_eval_loss_and_an_eval_metric():
    data = sources.read(REAL)
    assert data.format == "build_nanogpt"
    lines = REAL.read_text().splitlines()
    train = [(int(a), float(c)) for a, b, c in (ln.split() for ln in lines) if b == "train"]
    assert data.series["loss"].steps.tolist() == [s for s, _ in train]
    assert data.series["loss"].values.tolist() == [v for _, v in train]
    assert data.series["eval_loss"].steps.tolist() == [0, 250, 500]
    assert data.series["eval_hellaswag_accuracy"].values[0] == 0.2498
    report = kto_doctor.analyze(REAL)
    assert report.run.method == "pt" and report.status not in ("failing", "inconclusive")


@pytest.mark.parametrize("lead", ["> ", ">> ", "[rank0]: ", "[default0]:"])
def test_the_log_behind_a_quote_mark_or_torchruns_prefix_reads_the_same(tmp_path, lead):
    p = tmp_path / "pasted.txt"
    p.write_text("".join(lead + line + "\n" for line in REAL.read_text().splitlines()))
    data, plain = sources.read(p), sources.read(REAL)
    assert data.format == "build_nanogpt"
    for name in ("loss", "eval_loss", "eval_hellaswag_accuracy"):
        assert data.series[name].steps.tolist() == plain.series[name].steps.tolist()
        assert data.series[name].values.tolist() == plain.series[name].values.tolist()


def test_a_nan_train_loss_is_seen(tmp_path):
    p = tmp_path / "log.txt"
    p.write_text("".join(f"{i} train {10 - i * 0.01:.6f}\n" for i in range(50)) + "50 train nan\n51 train nan\n")
    data = sources.read(p)
    assert np.isnan(data.series["loss"].values[-2:]).all()
    assert kto_doctor.analyze(p).status == "failing"


def test_a_cut_last_line_keeps_the_lines_before_it(tmp_path):
    text = REAL.read_bytes()
    p = tmp_path / "log.txt"
    p.write_bytes(text[: text.rindex(b"\n", 0, len(text) - 1) + 5])  # the last line cut after 4 bytes
    whole = sources.read(REAL).series["loss"]
    cut = sources.read(p).series["loss"]
    assert cut.steps.tolist()[: len(whole.steps) - 1] == whole.steps.tolist()[:-1]


# The whole-file numpy way (`build_nanogpt._fast`) must read what textlog reads, and leave every file it does not
# read in full to textlog: values of every form, restarts, odd lines.
ODD_VALUES = ["nan", "inf", "1e-05", "-0", "0", "00012.5000", "-", ".", "1.2.3", "9007199254740993",
              "900719925474099.3", ".5", "5.", "+1.25", "-0.000001", "12345678.87654321", "123456789.5", "1_0"]
ODD_LINES = ["", "0 train 1.0 ", "x train 1", "1 trian 2.0", "1  train 2.0", "1 train 2.0\r", "1 train\t2.0",
             "saving checkpoint", "1 val 2.0 extra"]


def _value(rng) -> str:
    c = rng.randrange(6)
    if c == 0:
        return repr(rng.uniform(-1e3, 1e3))
    if c == 1:
        return f"{rng.uniform(-5, 5):.{rng.randrange(0, 9)}f}"
    if c == 2:
        return str(rng.randrange(0, 10 ** rng.randrange(1, 12)))
    return f"{rng.uniform(0, 12):.6f}"


@pytest.mark.parametrize("seed", range(12))
def test_the_numpy_way_reads_what_textlog_reads(tmp_path, seed):
    from kto_doctor.sources import build_nanogpt, textlog

    rng = random.Random(seed)
    lines, step = [], rng.choice([0, 10 ** 7, 99999990])
    for _ in range(rng.randrange(200, 3000)):
        step = rng.randrange(0, step + 1) if rng.random() < 0.01 else step + rng.choice([0, 1, 1, 1, 250])
        value = rng.choice(ODD_VALUES) if seed % 3 == 1 and rng.random() < 0.01 else _value(rng) if seed % 3 \
            else f"{rng.uniform(-5, 50):.{rng.choice([4, 6])}f}"
        lines.append(f"{step} {rng.choice(['train', 'train', 'val', 'hella'])} {value}")
    if seed % 3 == 2:
        lines.insert(rng.randrange(len(lines)), rng.choice(ODD_LINES))
    p = tmp_path / "log.txt"
    p.write_text("\n".join(lines) + ("\n" if seed % 4 else ""))
    fast = build_nanogpt.read(p)
    slow = textlog.read(p, build_nanogpt.FORMAT)
    assert_same_read(fast, slow, same_dtype=True)
    if seed % 3 == 0 and seed % 4:  # plain lines, a line feed at the end: the numpy way read it
        assert build_nanogpt._fast(p) is not None


def test_span_numbers_is_float_of_every_text_it_takes():
    from kto_doctor.sources.spannumbers import PAD, span_numbers

    rng = random.Random(3)
    texts = [t.encode() for t in ODD_VALUES + ["-", "+", "-.", "+.5", "-5.", "00.000", "-0.0", "99999999.99999999",
                                               "1.99999999", "0.000000001234", "12 ", " 1", "1-", "--1", "1..2"]]
    texts += [_value(rng).encode() for _ in range(20000)]
    texts += ["".join(rng.choice("0123456789.-+e ") for _ in range(rng.randrange(0, 12))).encode() for _ in range(20000)]
    buf = b"\0" * PAD + b"\n".join(texts) + b"\0" * PAD
    lens = np.array([len(t) for t in texts])
    starts = PAD + np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
    for integers in (False, True):
        values, ok, _ = span_numbers(buf, starts, starts + lens, integers=integers)
        assert ok.sum() > 5000
        for t, v, good in zip(texts, values.tolist(), ok.tolist()):
            if good:
                assert np.float64(float(t)).tobytes() == np.float64(v).tobytes(), t
                assert not integers or t.isdigit()
