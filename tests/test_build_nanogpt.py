"""build-nanogpt's `log.txt` (`0 val 11.0864`, `0 hella 0.2498`, `0 train 11.087302`): a real head in
tests/fixtures/pastes (AGNDM/build-nanogpt) and generated variants."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import kto_doctor
from kto_doctor import sources

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
