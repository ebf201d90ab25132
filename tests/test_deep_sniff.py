"""A large text file whose start holds no metric line (printed rollouts, a long config dump) is recognised from
whole lines further in: the specific reader, not the generic fallback, reads it."""
from __future__ import annotations

from kto_doctor import sources


def _verl_line(step: int) -> str:
    return (f"step:{step} - actor/pg_loss:{0.01 * step:.3f} - actor/entropy_loss:0.410 - actor/grad_norm:0.352 - "
            f"critic/score/mean:{0.1 * step:.3f} - response_length/mean:386.7 - response_length/clip_ratio:0.000\n")


def test_metric_lines_after_200_kb_of_rollouts_are_read_by_their_own_reader(tmp_path):
    prose = "".join(f"<think> Let's break down formula {i}: step by step, A is True and B: 3 </think>\n"
                    for i in range(3000))  # ~230 KB, with `name: value`-looking text the fallback would take
    path = tmp_path / "output.log"
    between = prose[: prose.index("\n", 2000) + 1]  # whole lines of rollout between the metric lines
    path.write_text(prose + "".join(between + _verl_line(s) for s in range(1, 11)))
    assert sources.detect(path) == "verl_console"
    data = sources.read(path)
    assert data.format == "verl_console"
    assert data.series["reward"].steps.tolist() == list(range(1, 11))


def test_a_small_file_without_metric_lines_is_left_as_it_was(tmp_path):
    path = tmp_path / "notes.log"
    path.write_text("Step 1: install the package\nStep 2: run it\n")
    assert sources.detect(path) in (None, "generic_kv", "console")
