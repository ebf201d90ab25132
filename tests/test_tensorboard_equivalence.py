"""A run read from its TensorBoard events alone diagnoses as well as from trainer_state.json (issue 3).

The real LLaMA-Factory runs in sample_logs/ wrote both. TensorBoard stores float32, trainer_state float64,
so values agree to float32 precision; steps, metric names and findings must be identical.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import kto_doctor

from conftest import SAMPLES

RUNS = ["lf-kto-ref-mismatch", "lf-kto-warmup-too-long", "lf-dpo-no-learning", "lf-sft-overfit"]


def _only(run_dir, tmp, pattern):
    tmp.mkdir()
    for f in run_dir.glob(pattern):
        shutil.copy(f, tmp / f.name)
    for c in ("train.yaml", "config.json"):
        shutil.copy(run_dir / c, tmp / c)
    return tmp


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.skipif(not (SAMPLES / n).is_dir(), reason="absent"))
                                  for n in RUNS])
def test_events_alone_equal_trainer_state_alone(name, tmp_path):
    run_dir = SAMPLES / name
    tb = _only(run_dir, tmp_path / "tb", "runs/*/events.out.tfevents.*")
    ts = _only(run_dir, tmp_path / "ts", "trainer_state.json")
    run_tb, run_ts = kto_doctor.load_run(tb), kto_doctor.load_run(ts)
    assert run_tb.method == run_ts.method
    shared = sorted(set(run_tb.metric_names) & set(run_ts.metric_names))
    assert {"loss", "learning_rate", "grad_norm"} <= set(shared)
    for m in shared:
        a, b = run_tb.series(m), run_ts.series(m)
        assert list(a.index) == list(b.index), m
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy().astype(np.float32), rtol=1e-6, equal_nan=True,
                                   err_msg=m)
    rep_tb, rep_ts = kto_doctor.analyze(tb), kto_doctor.analyze(ts)
    assert [(f.rule, f.severity, f.steps) for f in rep_tb.findings] == \
        [(f.rule, f.severity, f.steps) for f in rep_ts.findings]
    assert [d.cause for d in rep_tb.diagnosis] == [d.cause for d in rep_ts.diagnosis]
