"""Damaged logs keep every record that can be proven whole: resynchronising after damage, NUL runs,
values nested too deep, absurd numbers; and a file with nothing readable is an error naming it."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kto_doctor.sources import SourceError, console, tensorboard, trainer_log, trainer_state


def state_text(n: int = 20) -> str:
    rows = [{"epoch": i / 10, "grad_norm": 0.2, "learning_rate": 1e-5, "loss": 1 - i / 100, "step": i}
            for i in range(1, n + 1)]
    return json.dumps({"global_step": n, "log_history": rows, "logging_steps": 1, "max_steps": n},
                      indent=2, sort_keys=True)


def read_state(tmp_path: Path, text: str | bytes):
    p = tmp_path / "trainer_state.json"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return trainer_state.read(p)


def record_start(text: str, step: int) -> int:
    return text.rindex("{", 0, text.index(f'"step": {step}\n'))


def test_one_damaged_record_costs_that_record_only(tmp_path):
    text = state_text()
    at = text.index('"loss"', record_start(text, 7))
    src = read_state(tmp_path, text[:at] + "\x13" + text[at + 1:])  # one byte changed inside record 7
    assert src.records == 19 and 7 not in src.series["loss"].steps and 20 in src.series["loss"].steps
    assert src.facts["max_steps"] == 20  # the fields after log_history are read too
    (warning,) = src.warnings
    line = text.count("\n", 0, record_start(text, 7)) + 1
    assert f"skipped 1 damaged log_history record(s) (first at line {line})" in warning


def test_nul_runs_between_records_lose_nothing(tmp_path):
    text = state_text()
    at = record_start(text, 5)
    src = read_state(tmp_path, text[:at] + "\0" * 4096 + text[at:])
    assert src.records == 20
    assert "stray bytes between records" in src.warnings[0]


@pytest.mark.parametrize("deep", ["[" * 100_000 + "]" * 100_000, '{"a": ' * 50_000 + "1" + "}" * 50_000])
def test_deep_nesting_spoils_one_value(tmp_path, deep):
    text = state_text()
    at = text.index('"grad_norm": 0.2', record_start(text, 3))
    src = read_state(tmp_path, text[:at] + f'"odd": {deep},\n      ' + text[at:])
    assert src.records == 20 and src.series["loss"].steps.tolist() == list(range(1, 21))
    assert "nested too deep" in src.warnings[0]


def test_unclosed_deep_nesting_costs_its_record(tmp_path):
    text = state_text()
    at = text.index('"grad_norm": 0.2', record_start(text, 3))
    src = read_state(tmp_path, text[:at] + '"odd": ' + "[" * 100_000 + "\n" + text[at:])
    assert src.records == 19 and 3 not in src.series["loss"].steps


def test_absurd_numbers_spoil_one_value(tmp_path):
    text = state_text()
    text = text.replace('"step": 4\n', f'"step": {2 ** 4000}\n').replace('"loss": 0.95', '"loss": ' + "9" * 5000)
    text = text.replace('"max_steps": 20', f'"max_steps": {2 ** 400}')
    src = read_state(tmp_path, text)
    assert src.records == 19 and 4 not in src.series["loss"].steps  # a step no float holds: not a row
    loss = dict(zip(src.series["loss"].steps.tolist(), src.series["loss"].values.tolist()))
    assert loss[5] == math.inf and loss[6] == 0.94
    assert "max_steps" not in src.facts  # a 2**400 fact is no fact
    assert any("1 log_history record(s) without a usable step" in w for w in src.warnings)


@pytest.mark.parametrize("text, reason", [
    ('{"global_step": 0, "log_history": []}', "log_history is empty"),
    ('{"log_history": [{"train_runtime": 1.0, "train_loss": 0.5, "step": 3}]}', "only the end-of-training summary"),
    ('{\n  "log_history": [\n    {\n      "loss": 0.5,\n      "st', "truncated before the first complete"),
])
def test_nothing_to_analyse_is_an_error_naming_the_file(tmp_path, text, reason):
    with pytest.raises(SourceError, match=reason) as err:
        read_state(tmp_path, text)
    assert str(tmp_path / "trainer_state.json") in str(err.value)


def test_trainer_log_keeps_every_valid_line(tmp_path):
    lines = [json.dumps({"current_steps": i, "loss": 1 - i / 100, "lr": 1e-5}) for i in range(1, 11)]
    lines[2] = "\0" * 64 + lines[2]  # NUL padding of a crash: the record after it is whole
    lines[4] = lines[4].replace('"loss": 0.95', '"loss": ' + "9" * 5000)
    lines[6] = lines[6][:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines[7] = lines[7].replace('"current_steps": 8', f'"current_steps": {2 ** 4000}')
    p = tmp_path / "trainer_log.jsonl"
    p.write_text("\n".join(lines) + "\n")
    src = trainer_log.read(p)
    assert src.series["loss"].steps.tolist() == [1, 2, 3, 4, 5, 6, 9, 10]
    assert src.series["loss"].values.tolist()[4] == math.inf
    assert "skipped 2 corrupt or truncated line(s), first at line 7" in src.warnings[0]


def test_out_of_range_half_value_spoils_one_value():
    assert tensorboard._half_scalar(b"", tensorboard.DT_HALF, [(13, 0, 70_000, 0)], None) is None
    assert tensorboard._half_scalar(b"", tensorboard.DT_BFLOAT16, [(13, 0, 1 << 40, 0)], None) is None
    assert tensorboard._half_scalar(b"", tensorboard.DT_HALF, [(13, 0, 0x3C00, 0)], None) == 1.0


def test_console_numbers_and_counters_out_of_range(tmp_path):
    text = ("trainable params: " + "9" * 5000 + "\nProcess rank: 0, world size: " + "9" * 5000 + "\n"
            + "".join(f" 50%|#   | {'9' * 5000}/{'9' * 5000} [00:01<00:01]{{'loss': {i}, 'learning_rate': 1e-05}}\n"
                      for i in range(3))
            + "{'loss': " + "7" * 5000 + ", 'learning_rate': 1e-05}\n")
    p = tmp_path / "x.log"
    p.write_text(text)
    src = console.read(p)
    assert src.records == 4 and src.series["loss"].values.tolist()[-1] == math.inf
    assert "trainable_params" not in src.facts and "world_size" not in src.facts


def test_a_page_of_nuls_at_the_start_is_padding_not_utf16(tmp_path):
    lines = [json.dumps({"current_steps": i, "loss": 1 - i / 100, "lr": 1e-5}) for i in range(1, 11)]
    p = tmp_path / "trainer_log.jsonl"
    p.write_bytes(b"\0" * 4096 + "\n".join(lines).encode() + b"\n")  # a crash's unwritten first page
    assert trainer_log.read(p).series["loss"].steps.tolist() == list(range(1, 11))


def test_a_flipped_byte_in_the_log_history_key_loses_no_record(tmp_path):
    text = state_text().replace('"log_history"', '"log_hiqtory"')  # still valid JSON
    src = read_state(tmp_path, text)
    assert src.records == 20 and "the log_history key is damaged" in src.warnings[0]
