"""llm.c's `main.log` (`s:0 trl:11.0116 lr:0.000001 norm:14.96`, `s:0 tel:11.0095`, `s:250 eval:0.2437`): two real
files in tests/fixtures/formats/llmc (PROVENANCE.md), checked against a plain parse of their lines, and damage."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import kto_doctor
from kto_doctor import sources

FIX = Path(__file__).parent / "fixtures" / "formats" / "llmc"
GPT2 = FIX / "SiddanthEmani__GPT-2-124M-CUDA__log124M-main.log"
MEDIUM = FIX / "KellerJordan__modded-nanogpt__records-011825_GPT2Medium-main.log"


def _plain(path: Path, key: str) -> list[tuple[int, float]]:
    out = []
    for line in path.read_text().splitlines():
        fields = dict(f.split(":", 1) for f in line.split())
        if key in fields:
            out.append((int(fields["s"]), float(fields[key])))
    return out


def test_train_val_and_hellaswag_lines_become_loss_eval_loss_and_an_eval_metric():
    data = sources.read(GPT2)
    assert data.format == "llmc"
    for key, name in (("trl", "loss"), ("lr", "learning_rate"), ("norm", "grad_norm"), ("tel", "eval_loss"),
                      ("eval", "eval_hellaswag_accuracy")):
        want = _plain(GPT2, key)
        assert data.series[name].steps.tolist() == [s for s, _ in want], name
        assert data.series[name].values.tolist() == [v for _, v in want], name
    report = kto_doctor.analyze(GPT2)
    assert report.run.method == "pt" and report.status not in ("failing", "inconclusive")


def test_a_log_of_validation_losses_alone_is_judged_on_them():
    data = sources.read(MEDIUM)
    assert "loss" not in data.series
    assert data.series["eval_loss"].steps.tolist() == list(range(0, 60001, 250))
    assert data.series["eval_loss"].values[-1] == 2.9282
    assert kto_doctor.analyze(MEDIUM).status != "inconclusive"


def test_a_nan_train_loss_fails_the_run(tmp_path):
    p = tmp_path / "main.log"
    p.write_text("s:0 tel:11.0\n" + "".join(f"s:{i} trl:{10 - i * 0.01:.4f} lr:0.000100 norm:1.20\n" for i in range(40))
                 + "s:40 trl:nan lr:0.000100 norm:nan\ns:41 trl:nan lr:0.000100 norm:nan\n")
    data = sources.read(p)
    assert np.isnan(data.series["loss"].values[-2:]).all()
    assert kto_doctor.analyze(p).status == "failing"


def test_a_cut_last_line_keeps_every_line_before_it(tmp_path):
    text = GPT2.read_bytes()
    p = tmp_path / "main.log"
    p.write_bytes(text[: text.rindex(b"\n", 0, len(text) - 1) + 12])  # the last line cut inside its values
    whole = sources.read(GPT2).series["loss"]
    cut = sources.read(p)
    assert cut.series["loss"].steps.tolist() == whole.steps.tolist()[:-1]  # `trl:5` of the cut line is not 5.0
    assert cut.series["loss"].values.tolist() == whole.values.tolist()[:-1]
    assert any("cut short" in w for w in cut.warnings)
