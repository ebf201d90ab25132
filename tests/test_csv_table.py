"""CSV tables of logged rows (`csv_table`): a callback's DataFrame.to_csv, Keras' history, the W&B chart export.
Real files in tests/fixtures/formats/csv_table (PROVENANCE.md), each checked against pandas' own reading; the W&B
export in the shape its "Download CSV" writes; damaged copies; and the CSVs that are not training logs."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import kto_doctor
from kto_doctor.cli import app
from kto_doctor.sources import SourceError, csv_table, detect

FIX = Path(__file__).parent / "fixtures" / "formats" / "csv_table"
KANANA = FIX / "WannaBeSuperteur__AI_Projects__2025_05_26_OhLoRA_v3-llm-fine_tuning-logs-kananai_output_message_train_log.csv"
POLYGLOT = FIX / "WannaBeSuperteur__AI_Projects__2025_05_02_OhLoRA_v2-llm-fine_tuning-logs-polyglot_memory_train_log.csv"
KERAS = FIX / "leopoldmaillard__cnn-landmarks-aflw2000__history.csv"


def _values(series) -> list[float]:
    return [float(v) for v in series.values]


@pytest.mark.parametrize("path", [KANANA, POLYGLOT], ids=["kanana", "polyglot"])
def test_a_callbacks_dataframe_csv_matches_pandas(path):
    data = csv_table.read(path)
    want = pd.read_csv(path)
    assert data.format == "csv_table" and data.step_kind == "ordinal" and data.records == len(want)
    assert {"loss", "grad_norm", "learning_rate", "accuracy", "epoch"} <= set(data.series)
    assert "time" not in data.series and "Unnamed: 0" not in data.series  # a time stamp column, the index
    assert _values(data.series["loss"]) == want["loss"].tolist()
    assert _values(data.series["epoch"]) == want["epoch"].tolist()
    assert data.series["loss"].steps.tolist() == list(range(1, len(want) + 1))
    assert data.series["loss"].lines[0] == 2  # the header is line 1


def test_a_keras_history_without_step_or_epoch_is_read_one_row_per_epoch():
    data = csv_table.read(KERAS)
    want = pd.read_csv(KERAS)
    assert set(data.series) == {"loss", "eval_loss"}
    assert _values(data.series["eval_loss"]) == want["val_loss"].tolist()
    assert detect(KERAS) == "csv_table"


def test_the_verdicts_of_the_real_tables():
    report = kto_doctor.analyze(POLYGLOT)  # 20 epochs of a small set down to a loss of 0.0001
    assert report.run.sources[0].format == "csv_table" and report.run.method == "sft"
    assert any(f.symptom in ("overfitting", "loss-collapse") for f in report.findings)
    assert kto_doctor.analyze(KERAS).status == "healthy"


def test_a_step_column_gives_the_steps(tmp_path):
    path = tmp_path / "train_log.csv"
    path.write_text("global_step,epoch,train_loss,val_loss,lr\n10,0.1,2.5,,1e-4\n20,0.2,2.2,2.4,1e-4\n"
                    "30,0.3,nan,,1e-4\n")
    data = csv_table.read(path)
    assert data.step_kind == "exact"
    assert data.series["loss"].steps.tolist() == [10.0, 20.0, 30.0]
    assert math.isnan(data.series["loss"].values[2])  # a logged NaN is a value; an empty cell is not logged
    assert data.series["eval_loss"].steps.tolist() == [20.0]
    assert kto_doctor.analyze(path).status == "failing"  # NaN in the loss is never healthy



def test_a_step_column_that_restarts_every_epoch_is_counted_on_across_epochs(tmp_path):
    """A loop's `epoch,step,loss,val_loss` rows whose step restarts at 0 with each epoch (a tiny JAX transformer's
    log, held-out set 39): one run whose steps go on from epoch to epoch, its validation rising at the end, not
    nine runs each read for its last row. A step that goes back without the epoch moving up is left alone."""
    rows = ["epoch,step,loss,val_loss"]
    val = [3.83, 3.16, 2.82, 2.72, 2.68, 2.66, 2.644, 2.65, 2.67, 2.684]
    for e in range(1, 11):
        for i in (0, 20, 40, 61):
            rows.append(f"{e},{i},{4.2 - 0.25 * e - 0.002 * i:.4f}," + (f"{val[e - 1]}" if i == 61 else ""))
    p = tmp_path / "training_log.csv"
    p.write_text("\n".join(rows) + "\n")
    src = csv_table.read(p)
    loss = src.series["loss"]
    assert list(loss.steps[:6]) == [0, 20, 40, 61, 62, 82] and len(loss.steps) == 40
    assert list(src.series["eval_loss"].steps[-2:]) == [557, 619]  # 61 + 62 x 8 and 61 + 62 x 9
    assert any("restarts at every epoch" in w for w in src.warnings)
    assert "SFT103" in [f.rule for f in kto_doctor.analyze(str(p)).findings]

    rows[5:] = [r.replace(f"{r.split(',')[0]},", "1,", 1) for r in rows[5:]]  # one epoch number for every row
    p.write_text("\n".join(rows) + "\n")
    src = csv_table.read(p)
    assert not any("restarts at every epoch" in w for w in src.warnings)


def test_a_csv_pasted_with_blank_lines_between_its_rows_is_claimed_and_read(tmp_path):
    # timm#58: a summary.csv pasted into an issue as Markdown paragraphs, a blank line after every row
    path = tmp_path / "issue58.log"
    path.write_text("epoch,train_loss,eval_loss,eval_prec1,eval_prec5\n\n"
                    "0,1.236780494476995,0.7422786220911346,76.72929120409906,93.21093082835183\n\n"
                    "1,0.5891604418683256,0.32295734967867806,89.58155423367155,99.23142613151153\n\n"
                    "2,0.49250254085940176,0.369856527328084,87.53202391118703,98.59094790777114\n")
    assert detect(path) == "csv_table"
    data = csv_table.read(path)
    assert _values(data.series["loss"]) == [1.236780494476995, 0.5891604418683256, 0.49250254085940176]
    assert _values(data.series["eval_loss"]) == [0.7422786220911346, 0.32295734967867806, 0.369856527328084]


def test_a_sparse_metric_whose_first_cells_are_empty_is_still_a_metric(tmp_path):
    # val_loss once every 300 rows, and one cell of text somewhere (pandas then keeps the column as text): its
    # first filled cells decide whether it is a metric, not the first 200 rows, which are all empty
    rows = ["step,train_loss,val_loss"]
    for s in range(1, 901):
        val = f"{3 - s / 900:.3f}" if s % 300 == 0 else ("n/a" if s == 450 else "")
        rows.append(f"{s},{3 - s / 1000:.4f},{val}")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    data = csv_table.read(path)
    assert data.series["eval_loss"].steps.tolist() == [300.0, 600.0, 900.0]
    assert [round(v, 3) for v in _values(data.series["eval_loss"])] == [2.667, 2.333, 2.0]

def _wandb_export(path: Path, runs: list[str]) -> Path:
    header = ['"Step"']
    for run in runs:
        for metric in ("train/loss", "train/grad_norm"):
            header += [f'"{run} - {metric}"', f'"{run} - {metric}__MIN"', f'"{run} - {metric}__MAX"']
    rows = [",".join(header)]
    for step in range(10, 210, 10):
        cells = [str(step)]
        for k, _ in enumerate(runs):
            loss = 2.0 - step / 400 + 0.1 * k
            cells += [f"{loss:.4f}"] * 3 + ["1.5"] * 3
        rows.append(",".join(cells))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_wandb_export_of_one_run(tmp_path):
    path = _wandb_export(tmp_path / "wandb_export_2024-12-27T01_42_23.467+01_00.csv", ["brisk-pond-1"])
    report = kto_doctor.analyze(path)
    run = report.run
    assert set(run.metric_names) == {"loss", "grad_norm"}  # __MIN/__MAX are sampled ranges, not metrics
    assert run.series("loss").index.tolist()[:2] == [10, 20]
    assert run.series("loss").iloc[0] == pytest.approx(1.975)


def test_a_wandb_export_of_several_runs_is_several_runs(tmp_path):
    path = _wandb_export(tmp_path / "wandb_export.csv", ["run-a", "run-b"])
    assert csv_table.runs(path) == ["run-a", "run-b"]
    cli = CliRunner()
    res = cli.invoke(app, ["analyze", str(path)])
    assert res.exit_code == 2 and "run-a" in res.output and "run-b" in res.output
    one = kto_doctor.analyze(path, run_key="run-b")
    assert one.run.series("loss").iloc[0] == pytest.approx(2.075)
    res = cli.invoke(app, ["scan", str(tmp_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert sorted(r["run"]["path"].rsplit("#", 1)[-1] for r in json.loads(res.stdout)) == ["run-a", "run-b"]


def test_damage_keeps_every_complete_row(tmp_path):
    text = KANANA.read_text()
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: text.index("\n", 2000) + 12])  # mid-row, past the row's first cells
    data = csv_table.read(cut)
    full = csv_table.read(KANANA)
    n = data.records
    assert 0 < n <= full.records
    assert _values(data.series["loss"])[: n - 1] == _values(full.series["loss"])[: n - 1]
    assert any("is cut short" in w for w in data.warnings)
    extra = tmp_path / "extra.csv"
    lines = text.splitlines()
    lines[5] += ",1,2,3"
    extra.write_text("\n".join(lines) + "\n")
    data = csv_table.read(extra)
    assert data.records == full.records - 1
    assert any("skipped 1 malformed row(s), first at line 6" in w for w in data.warnings)


def test_csvs_that_are_not_training_logs_are_not_claimed(tmp_path):
    (tmp_path / "orpo_info_df.csv").write_text(',input_data,output_data,score\n0,"Represent below",x,0.5\n')
    (tmp_path / "cv.csv").write_text("fold_no,success,min_val_loss,total_epochs,best_epoch\n0,True,0.281,46,25\n")
    (tmp_path / "prices.csv").write_text("date,open,close\n2024-01-01,1.0,1.1\n")
    for name in ("orpo_info_df.csv", "cv.csv", "prices.csv"):
        assert csv_table.sniff((tmp_path / name).read_text()) == 0.0
    res = CliRunner().invoke(app, ["analyze", str(tmp_path / "orpo_info_df.csv")])
    assert res.exit_code == 2 and "no training logs found" in res.output
    with pytest.raises(SourceError):
        csv_table.read(tmp_path / "prices.csv")


def test_lightning_metrics_csv_stays_lightnings():
    path = Path(__file__).parent / "fixtures" / "formats" / "lightning_csv" / "0Xero7_slm_training" / "metrics.csv"
    assert kto_doctor.load_run(path).sources[0].format == "lightning_csv"


TSV = FIX / "Jayant-Guru-Shrivastava__ERAV4-Session11-shakespeare-gpt2-124M__logs-train.log"


def test_a_tab_separated_step_loss_log_under_any_name_is_read():
    # a loop's `print(step, loss, sep="\t")` log named train.log (ERA V4 course, GPT-2 on tiny Shakespeare)
    assert detect(TSV) == "csv_table"
    data = csv_table.read(TSV)
    want = pd.read_csv(TSV, sep="\t")
    assert data.step_kind == "exact"
    assert data.series["loss"].steps.tolist() == want["step"].astype(float).tolist()
    assert _values(data.series["loss"]) == want["loss"].tolist()
    report = kto_doctor.analyze(TSV)
    assert any(f.rule == "SFT107" for f in report.findings)  # 8.46 -> 0.128 from scratch: memorised


def test_a_tab_separated_file_that_is_no_log_is_not_claimed(tmp_path):
    path = tmp_path / "prices.log"
    path.write_text("date\tprice\tvolume\n2024-01-01\t10.5\t300\n2024-01-02\t10.7\t280\n")
    assert detect(path) != "csv_table"


def test_an_rl_loops_update_counter_is_the_step_and_its_text_columns_are_no_loss(tmp_path):
    # sherrywan717/ppo-vs-grpo-math-rlvr: TRL GRPO metrics per policy update, with text columns explaining the
    # metrics it could not log; the generic fallback read `value loss,,False,GRPO beta=0.0` as a loss of 0.0
    header = "update,generated_tokens,reward_mean,reward_std,grpo_loss,value_loss,policy_value_loss_reason,kl,kl_reason\n"
    rows = "".join(f"{u},{1500 + u},{0.2 + u / 100:.3f},0.3,{0.02 - u / 1000:.4f},,GRPO has no PPO value model/value loss,"
                   f",GRPO beta=0.0; reference-model KL is not computed\n" for u in range(1, 31))
    p = tmp_path / "grpo_training_metrics.csv"
    p.write_text(header + rows)
    report = kto_doctor.analyze(p)
    (src,) = report.run.sources
    assert src.format == "csv_table"
    assert report.run.method == "grpo"
    assert report.run.series("reward").index.tolist() == list(range(1, 31))
    assert not [f.rule for f in report.findings if f.severity == "error"]
    from kto_doctor.sources import generic_kv
    from kto_doctor.sources.base import SourceError

    with pytest.raises(SourceError):  # nothing on these lines is a `loss: value` pair
        generic_kv.read(p)
