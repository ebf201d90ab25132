"""File loggers whose files are text: verl's JSON lines, Lightning's metrics.csv, DVCLive folders and MLflow's
file store. Each reader is checked against an independent reading of the same fixture (json.loads per line,
pandas.read_csv, MLflow's own client), on real published files where they exist and on files written by the
real libraries (tests/fixtures/formats/PROVENANCE.md), plus truncated and corrupt copies."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kto_doctor
from kto_doctor.discover import discover
from kto_doctor.ontology import canonical, is_bookkeeping
from kto_doctor.sources import detect, dvclive, lightning_csv, mlflow_files, verl_jsonl

from store_helpers import FORMATS, matches, values

VERL = FORMATS / "verl" / "generated"
LIGHTNING = FORMATS / "lightning_csv"
DVC = FORMATS / "dvclive"
MLRUNS = FORMATS / "mlflow"



# ------------------------------------------------------------------------------------------------ verl


def _verl_reference(path: Path, nulls_are_nan: bool) -> dict[str, dict[float, float]]:
    """One json.loads per line, the verl names made canonical, the later line winning at a step."""
    out: dict[str, dict[float, float]] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        for key, value in rec["data"].items():
            if is_bookkeeping(key):
                continue
            if value is None and nulls_are_nan:
                value = float("nan")
            out.setdefault(canonical(key), {})[float(rec["step"])] = float(value)
    return out


@pytest.mark.parametrize("version", ["v0.9.1", "v0.7.0"])
@pytest.mark.parametrize("name", ["grpo_healthy", "grpo_nan", "grpo_restart"])
def test_verl_file_logger_matches_a_line_by_line_reading(version, name):
    path = VERL / version / "verl_grpo_example_gsm8k" / f"{name}.jsonl"
    data = verl_jsonl.read(path)
    want = _verl_reference(path, nulls_are_nan=True)
    assert set(data.series) == set(want)
    for metric, by_step in want.items():
        assert matches(data.series[metric], by_step), metric
    assert data.hints["framework"] == "verl" and not data.warnings[1:]


def test_verl_names_reach_the_canonical_vocabulary():
    data = verl_jsonl.read(VERL / "v0.9.1" / "verl_grpo_example_gsm8k" / "grpo_healthy.jsonl")
    assert {"entropy", "policy_loss", "reward", "clip_ratio", "ppo_kl", "grad_norm", "learning_rate",
            "completions/mean_length", "completions/clipped_ratio"} <= set(data.series)
    assert not any(k.startswith(("timing_s/", "perf/", "training/")) for k in data.series)
    assert values(data.series["reward"]) == {1.0: 0.3, 2.0: 0.35, 3.0: 0.4, 4.0: 0.45}
    # validation rows: before training (step 0) and sharing step 4 with a training row, merged by step; verl's
    # `val-core/` prefix is a validation role (the ontology's eval_ series, as in the verl console reader)
    assert values(data.series["eval_openai/gsm8k/acc/mean@1"]) == {0.0: 0.42, 4.0: 0.51}


def test_verl_nonfinite_values_are_kept_in_both_encodings():
    new = verl_jsonl.read(VERL / "v0.9.1" / "verl_grpo_example_gsm8k" / "grpo_nan.jsonl")  # orjson: null
    old = verl_jsonl.read(VERL / "v0.7.0" / "verl_grpo_example_gsm8k" / "grpo_nan.jsonl")  # json: NaN, Infinity
    for data in (new, old):
        assert np.isnan(data.series["policy_loss"].values[2:]).all()
        assert not np.isfinite(data.series["grad_norm"].values[2:]).any()
        assert np.isfinite(data.series["grad_norm"].values[:2]).all()
    assert np.isinf(old.series["grad_norm"].values[2:]).all()  # 0.7 keeps the sign of inf; orjson cannot
    assert any("null" in w for w in new.warnings)


def test_verl_restart_file_holds_only_the_second_attempt():
    data = verl_jsonl.read(VERL / "v0.9.1" / "verl_grpo_example_gsm8k" / "grpo_restart.jsonl")
    assert data.series["policy_loss"].steps.tolist() == [3.0, 4.0]  # mode "w": the first attempt is gone


def test_verl_damage_keeps_every_complete_record(tmp_path):
    lines = (VERL / "v0.9.1" / "verl_grpo_example_gsm8k" / "grpo_healthy.jsonl").read_bytes().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"\n".join(lines[:4]) + b"\n" + lines[4][:57])  # killed mid-write
    data = verl_jsonl.read(cut)
    assert data.series["reward"].steps.tolist() == [1.0, 2.0, 3.0]
    assert data.warnings == ["cut.jsonl: skipped 1 corrupt or truncated line(s), first at line 5"]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines[:2] + [b'{"step": 2, "data": {"actor/pg_lo\x00\xff'] + lines[2:]) + b"\n")
    data = verl_jsonl.read(bad)
    assert data.series["reward"].steps.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert "first at line 3" in data.warnings[0]


REAL_VERL = FORMATS / "verl" / "HanlinDu_verl" / "verl_examples" / "gsm8k.jsonl"


def test_verl_real_file_logger_output_matches_a_line_by_line_reading():
    """HanlinDu/verl's committed verl_examples/gsm8k.jsonl (PROVENANCE.md): orjson lines without blanks, `null`
    for NaN, text values (`"resize/mode":"schedule"`) beside the numbers, a PPO run with a critic."""
    data = verl_jsonl.read(REAL_VERL)
    want: dict[str, dict[float, float]] = {}
    for line in REAL_VERL.read_text().splitlines():
        rec = json.loads(line)
        for key, value in rec["data"].items():
            if isinstance(value, str) or is_bookkeeping(key):
                continue  # a text value is no metric
            want.setdefault(canonical(key), {})[float(rec["step"])] = float("nan") if value is None else float(value)
    assert set(data.series) == set(want)
    for metric, by_step in want.items():
        assert matches(data.series[metric], by_step), metric
    # the names a rule reads, and values as the file prints them
    assert values(data.series["policy_loss"])[1.0] == 0.1204916136821339  # "actor/pg_loss":0.1204916136821339
    assert np.isnan(values(data.series["policy_loss"])[3.0])  # "actor/pg_loss":null
    assert values(data.series["value_loss"]) == {1.0: 1.9340452780015767, 2.0: 2.3160994052886963,
                                                 3.0: 0.5489523357083631}  # critic/vf_loss
    assert values(data.series["reward"]) == {1.0: 0.0, 2.0: 0.0, 3.0: 0.0}  # critic/score/mean
    assert values(data.series["completions/clipped_ratio"])[3.0] == 0.9903100728988647
    assert values(data.series["eval_openai/gsm8k/acc/mean@1"]) == {0.0: 0.0}  # val-core/, before training
    assert values(data.series["learning_rate"]) == {1.0: 1e-6, 2.0: 1e-6, 3.0: 1e-6}  # actor/lr
    assert any("24 value(s) logged as null" in w for w in data.warnings)


def test_verl_real_file_verdict():
    report = kto_doctor.analyze(REAL_VERL)
    assert report.run.framework == "verl" and report.run.method == "ppo"  # critic/vf_loss: a critic, so PPO
    symptoms = {f.symptom for f in report.findings}
    assert report.status == "failing" and "nan-inf" in symptoms  # actor/pg_loss null at step 3


def test_verl_real_file_cut_mid_line_keeps_the_complete_steps(tmp_path):
    raw = REAL_VERL.read_bytes()
    cut = tmp_path / "gsm8k.jsonl"
    cut.write_bytes(raw[: raw.rindex(b'{"step":3') + 700])
    data = verl_jsonl.read(cut)
    assert data.series["policy_loss"].steps.tolist() == [1.0, 2.0]
    assert "gsm8k.jsonl: skipped 1 corrupt or truncated line(s), first at line 4" in data.warnings
    lines = raw.splitlines()
    bad = tmp_path / "bad" / "gsm8k.jsonl"
    bad.parent.mkdir()
    bad.write_bytes(b"\n".join(lines[:2] + [b'{"step":2,"data":{"actor/pg_lo\x00\xff'] + lines[2:]) + b"\n")
    data = verl_jsonl.read(bad)
    assert data.series["policy_loss"].steps.tolist() == [1.0, 2.0, 3.0]
    assert "gsm8k.jsonl: skipped 1 corrupt or truncated line(s), first at line 3" in data.warnings


def test_verl_logs_are_recognised_by_content_and_placed_as_runs(tmp_path):
    src = VERL / "v0.9.1" / "verl_grpo_example_gsm8k"
    project = tmp_path / "verl_grpo_example_gsm8k"  # verl's default: one file per experiment in the project
    shutil.copytree(src, project)
    runs = discover(tmp_path).runs
    assert sorted(r.label for r in runs) == [f"verl_grpo_example_gsm8k/{n}.jsonl" for n in
                                            ("grpo_healthy", "grpo_nan", "grpo_restart")]
    out = tmp_path / "outputs" / "exp1"  # VERL_FILE_LOGGER_PATH=outputs/<project>/<exp>/metrics.jsonl
    out.mkdir(parents=True)
    shutil.copy(src / "grpo_nan.jsonl", out / "metrics.jsonl")
    (out / "train.log").write_text("Creating file logger at outputs/exp1/metrics.jsonl\n")
    assert [r.root for r in discover(out).runs] == [out]
    pasted = tmp_path / "pasted.txt"
    shutil.copy(src / "grpo_nan.jsonl", pasted)
    assert detect(pasted) == "verl"
    report = kto_doctor.analyze(out)
    assert report.run.framework == "verl" and report.run.method == "grpo"
    assert any(f.symptom == "nan-inf" for f in report.findings)


# ------------------------------------------------------------------------------------------- Lightning


def _csv_reference(path: Path) -> dict[str, dict[float, float]]:
    """pandas: every cell as text, empty = not logged, the later row winning at a step."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out: dict[str, dict[float, float]] = {}
    for col in df.columns:
        if col == "step" or is_bookkeeping(col, "lightning"):
            continue
        for step, cell in zip(df["step"], df[col]):
            if cell != "":
                out.setdefault(canonical(col, False, "lightning"), {})[float(step)] = float(cell)
    return out


@pytest.mark.parametrize("run", sorted(p.name for p in LIGHTNING.iterdir() if p.is_dir()))
def test_lightning_metrics_csv_matches_pandas(run):
    path = LIGHTNING / run / "metrics.csv"
    data = lightning_csv.read(path)
    want = _csv_reference(path)
    assert set(data.series) == set(want)
    for name, by_step in want.items():
        assert values(data.series[name]) == by_step, name
    assert not data.warnings


def test_lightning_sparse_rows_are_merged_by_step_with_lightning_names():
    data = lightning_csv.read(LIGHTNING / "BvoJa_GPTTT" / "metrics.csv")  # CRLF, train and val rows at one step
    assert (LIGHTNING / "BvoJa_GPTTT" / "metrics.csv").read_bytes().count(b"\r\n") > 5
    assert values(data.series["eval_loss"]) == {199.0: 2.3940553665161133, 399.0: 1.9023048877716064}
    assert data.series["loss"].steps[:4].tolist() == [49.0, 99.0, 149.0, 199.0]
    assert data.series["loss"].values[0] == 2.620293617248535  # train_loss is a series in Lightning
    hp = lightning_csv.read(LIGHTNING / "0Xero7_slm_training" / "metrics.csv")
    assert "loss" in hp.series and "eval_loss" in hp.series  # train_loss_step / val_loss
    assert hp.config["lr"] == 5.3438960475985955e-05 and hp.config["num_epochs"] == 20  # hparams.yaml


def test_lightning_header_order_empty_cells_and_nan(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("val_loss,step,lr-AdamW,epoch,train_loss\r\n,9,0.001,0,2.5\r\n1.9,9,,0,\r\n,19,0.001,0,nan\r\n")
    data = lightning_csv.read(path)
    assert values(data.series["eval_loss"]) == {9.0: 1.9}
    assert values(data.series["learning_rate"]) == {9.0: 0.001, 19.0: 0.001}
    assert data.series["loss"].steps.tolist() == [9.0, 19.0] and np.isnan(data.series["loss"].values[1])


def test_lightning_damage(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss,val_loss\n0,9,2.5,\n0,19,x!,\n0,29,2.1,,extra\n0,39,2.0,\n0,49,1.9")
    data = lightning_csv.read(path)
    assert values(data.series["loss"]) == {9.0: 2.5, 39.0: 2.0}  # the cut last cell is not read as 1.9
    assert "skipped 1 malformed row(s), first at line 4" in " ".join(data.warnings)
    assert "1 cell(s) that are not numbers, first at line 3" in " ".join(data.warnings)
    assert any("line 6 is cut short" in w for w in data.warnings)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(kto_doctor.sources.SourceError, match="no 'step' column"):
        lightning_csv.read(tmp_path / "other.csv")


# --------------------------------------------------------------------------------------------- DVCLive


def test_dvclive_hf_callback_folder_is_read_back_into_hf_names_and_steps(tmp_path):
    folder = DVC / "Viswazgummadi_mistral_Instruct_v0.3" / "dvclive"
    data = dvclive.read(folder)
    assert data.step_kind == "ordinal" and data.hints["framework"] == "transformers"
    raw = pd.read_csv(folder / "plots" / "metrics" / "loss.tsv", sep="\t")
    assert data.series["loss"].values.tolist() == raw["loss"].tolist()
    assert data.series["loss"].steps.tolist() == list(range(1, len(raw) + 1))  # k-th training log
    run = kto_doctor.analyze(folder).run  # logging_steps 10 in params.yaml: the k-th log is step 10k
    assert run.metrics["loss"].dropna().index[:3].tolist() == [10, 20, 30]


def test_dvclive_hf_summary_and_eval_names():
    data = dvclive.read(DVC / "avoytkiv_azml_finetune_llm" / "dvclive")
    assert set(data.series) == {"eval_loss"}  # train/loss is HF's end-of-run train_loss, not a series
    assert data.facts["train_loss"] == 0.2123621826171875
    assert data.series["eval_loss"].values.tolist() == [0.006119155790656805, 0.002105922671034932,
                                                        0.0016672038473188877]
    assert any("DVCLive's own counter" in w for w in data.warnings)


def test_dvclive_legacy_and_generated_layouts():
    legacy = dvclive.read(DVC / "deep-diver_test_img_clf_legacy" / "dvclive")  # scalars/, CRLF, timestamp column
    assert values(legacy.series["loss"]) == {0.0: 12.920334815979004}
    gen = dvclive.read(DVC / "generated" / "dvclive")  # dvclive 3.49.1, generic names
    assert gen.series["loss"].values[:2].tolist() == [0.69, 0.61]
    assert np.isnan(gen.series["loss"].values[2]) and np.isinf(gen.series["loss"].values[3])
    assert values(gen.series["eval_loss"]) == {1.0: 0.64, 3.0: 0.62}
    assert gen.config["model"] == {"name": "Qwen/Qwen2.5-0.5B"}
    resumed = dvclive.read(DVC / "generated" / "dvclive_resume")  # resume=True continues DVCLive's counter
    assert resumed.series["loss"].steps.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_dvclive_damaged_tsv_keeps_its_good_lines(tmp_path):
    folder = tmp_path / "dvclive"
    shutil.copytree(DVC / "generated" / "dvclive", folder)
    tsv = folder / "plots" / "metrics" / "train" / "loss.tsv"
    tsv.write_bytes(tsv.read_bytes().replace(b"3\tinf\n", b"3\tin\xff\n") + b"5\t0.4")
    data = dvclive.read(folder)
    assert data.series["loss"].steps.tolist() == [0.0, 1.0, 2.0, 4.0, 5.0]
    assert any("skipped 1 malformed line(s), first at line 5" in w for w in data.warnings)
    assert [r.root for r in discover(tmp_path).runs] == [folder]


# ------------------------------------------------------------------------------------- MLflow file store


def _mlflow_reference(path: Path) -> dict:
    return json.loads(path.read_text())["runs"]


def test_mlflow_file_store_matches_mlflow_itself():
    ref = _mlflow_reference(MLRUNS / "generated" / "mlflow_reference.json")  # MlflowClient, mlflow 3.17.2
    exp = MLRUNS / "generated" / "mlruns" / "799171004386617384"
    for run_id, run in ref.items():
        data = mlflow_files.read(exp / run_id)
        assert data.facts["run_name"] == run["name"]
        assert data.facts["run_state"] == run["status"].lower()
        assert data.config == run["params"]
        assert {canonical(k) for k in run["metrics"]} == set(data.series)
        for key, history in run["metrics"].items():
            want: dict[float, float] = {}
            for step, ts, value in sorted(history, key=lambda h: h[1]):  # in time: the later value wins
                want[float(step)] = float(value)
            assert matches(data.series[canonical(key)], want), key
    relogged = mlflow_files.read(exp / "b92b5f73db824badacecece86a8cc6ee")
    assert values(relogged.series["loss"]) == {1.0: 1.0, 2.0: 0.95}  # step 2 logged twice: the later


def test_mlflow_file_store_real_runs():
    run = mlflow_files.read(MLRUNS / "10-Academy_Swahili-Speech-To-Text" / "mlruns" / "1" /
                            "ed05f9cd599442fe9a0c9222184710b8")
    assert run.series["loss"].steps.tolist() == [float(i) for i in range(10)]
    assert run.series["loss"].values[0] == pytest.approx(332.6841735839844) and run.facts["run_state"] == "finished"
    crashed = mlflow_files.read(MLRUNS / "10tanmay100_DEEPCNNCLASSIFIER" / "mlruns" / "0" /
                                "cb0096518b0e4c66a94428555f05420b")
    assert crashed.facts["run_state"] == "running"  # never ended: status 1, end_time null


def test_mlflow_file_store_damage_and_resume(tmp_path):
    run = tmp_path / "mlruns" / "0" / ("a" * 32)
    shutil.copytree(MLRUNS / "generated" / "mlruns" / "799171004386617384" / "d3c1bc4e7c2f418c91cc9dc502a78f57", run)
    (run / "metrics" / "loss").write_text("1 0.7 0\n2 0.6 10\n3 garbage 20\n4 0.5 30\n5 0.9 20\n6 0.8 30\n7 0.7")
    data = mlflow_files.read(run)
    # line 3 is damage; the steps go back at line 5 (a resume from step 20): its values replace the old ones
    assert values(data.series["loss"]) == {0.0: 0.7, 10.0: 0.6, 20.0: 0.9, 30.0: 0.8}
    assert any("metrics/loss: skipped 2 malformed line(s), first at line 3" in w for w in data.warnings)
    assert any("go back" in w for w in data.warnings)
    assert [r.root for r in discover(tmp_path).runs] == [run]


# hiyouga/EasyR1 writes verl's records with the metric groups nested (k-irona/Qwen2.5-VL-3B-GRPO-Reproduction-with-
# EasyR1 training_log/experiment_log_before_resume_step160.jsonl, rows trimmed to their metric groups)
EASYR1 = [
    {"step": 0, "val": {"reward_score": 0.0208, "overall_reward": 0.0208, "format_reward": 0.0033, "accuracy_reward": 0.0383},
     "val_response_length": {"mean": 368.98, "max": 512.0, "min": 77.47, "clip_ratio": 0.2772}},
    {"step": 1, "reward": {"overall": 0.01953125, "format": 0.03125, "accuracy": 0.0078125},
     "actor": {"kl_loss": 0.00043655, "kl_coef": 0.01, "entropy_loss": 0.4162, "pg_loss": 0.0195, "grad_norm": 0.3335, "lr": 1e-06},
     "critic": {"score": {"mean": 0.01953125, "max": 0.5, "min": 0.0}},
     "response_length": {"mean": 350.2, "max": 512.0, "min": 20.0, "clip_ratio": 0.25}, "timing_s": {"step": 141.8}},
    {"step": 2, "reward": {"overall": 0.046875, "format": 0.0703125, "accuracy": 0.0234375},
     "actor": {"kl_loss": 0.0010243, "kl_coef": 0.01, "entropy_loss": 0.4889, "pg_loss": 0.0115, "grad_norm": 0.46875, "lr": 1e-06},
     "critic": {"score": {"mean": 0.046875, "max": 1.0, "min": 0.0}},
     "response_length": {"mean": 333.8, "max": 512.0, "min": 13.0, "clip_ratio": 0.2266}, "timing_s": {"step": 137.3}},
]


def test_easyr1_nested_records_are_read_as_verl_records(tmp_path):
    from kto_doctor.ontology import reward_components

    p = tmp_path / "experiment_log.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in EASYR1) + '{"step": 3, "reward": {"overall": 0.0')  # cut
    assert detect(p) == "verl"
    data = verl_jsonl.read(p)
    assert values(data.series["reward"]) == {1.0: 0.01953125, 2.0: 0.046875}
    assert values(data.series["entropy"]) == {1.0: 0.4162, 2.0: 0.4889}
    assert values(data.series["eval_overall_reward"]) == {0.0: 0.0208}
    assert values(data.series["completions/clipped_ratio"]) == {1.0: 0.25, 2.0: 0.2266}
    assert not any(n.startswith("timing_s/") for n in data.series)  # bookkeeping, as in verl's own form
    assert any("EasyR1" in w for w in data.warnings) and any("skipped 1" in w for w in data.warnings)
    # EasyR1's per-function rewards beside their sum `reward/overall`
    assert reward_components(data.series) == ["reward/format", "reward/accuracy"]
    # a damaged first line keeps the nested records after it
    p.write_text('{"step": 0, "val": {"overall_rew\n' + "".join(json.dumps(r) + "\n" for r in EASYR1[1:]))
    data = verl_jsonl.read(p)
    assert values(data.series["reward"]) == {1.0: 0.01953125, 2.0: 0.046875}
    assert any("skipped 1" in w for w in data.warnings)
